namespace Terse.Neural;

/// <summary>
/// Shape of a Llama-family decoder: RMSNorm, rotary position embeddings, grouped-query causal
/// attention and a SwiGLU feed-forward block in each of <see cref="Layers"/> layers.
/// </summary>
/// <param name="Dim">Width of the residual stream (hidden size).</param>
/// <param name="HiddenDim">Width of the feed-forward block (intermediate size).</param>
/// <param name="Layers">Number of decoder layers.</param>
/// <param name="Heads">Query heads; <see cref="Dim"/> = Heads × <see cref="HeadSize"/>.</param>
/// <param name="KvHeads">Key/value heads; each serves Heads / KvHeads query heads.</param>
/// <param name="VocabSize">Rows of the token embedding (and of the classifier).</param>
/// <param name="MaxSequenceLength">Longest sequence the model runs (positions 0 … MaxSequenceLength − 1).</param>
/// <param name="RopeTheta">Base of the rotary frequencies.</param>
/// <param name="NormEpsilon">Added to the mean square in RMSNorm.</param>
/// <param name="TiedEmbeddings">The classifier reuses the token embedding matrix.</param>
/// <param name="AttentionBias">q, k and v projections have a bias (Qwen2).</param>
/// <param name="RopeScaling">How the rotary frequencies are scaled (transformers' rope_scaling), or null for none.</param>
public sealed record LlamaConfig(
    int Dim,
    int HiddenDim,
    int Layers,
    int Heads,
    int KvHeads,
    int VocabSize,
    int MaxSequenceLength,
    float RopeTheta = 10000f,
    float NormEpsilon = 1e-5f,
    bool TiedEmbeddings = true,
    bool AttentionBias = false,
    RopeScaling? RopeScaling = null)
{
    /// <summary>Bounds that keep every buffer size within a 32-bit element count.</summary>
    internal const int MaxDimension = 1 << 16, MaxLayers = 1024, MaxVocabulary = 1 << 22, MaxPositions = 1 << 20;

    public int HeadSize => Dim / Heads;

    /// <summary>Width of the key and value vectors of one position.</summary>
    public int KvDim => KvHeads * HeadSize;

    /// <summary>Total number of parameters.</summary>
    public long ParameterCount
    {
        get
        {
            long perLayer = 2L * Dim + (long)Dim * Dim * 2 + 2L * KvDim * Dim + 3L * Dim * HiddenDim
                + (AttentionBias ? Dim + 2L * KvDim : 0);
            return (long)VocabSize * Dim * (TiedEmbeddings ? 1 : 2) + Layers * perLayer + Dim;
        }
    }

    /// <summary>Null when the shape is usable, else what is wrong with it.</summary>
    public string? Problem()
    {
        if (Dim <= 0 || Dim > MaxDimension) return $"dim {Dim} is outside 1..{MaxDimension}";
        if (HiddenDim <= 0 || HiddenDim > 4 * MaxDimension) return $"hidden_dim {HiddenDim} is outside 1..{4 * MaxDimension}";
        if (Layers <= 0 || Layers > MaxLayers) return $"n_layers {Layers} is outside 1..{MaxLayers}";
        if (Heads <= 0 || Heads > Dim || Dim % Heads != 0) return $"n_heads {Heads} does not divide dim {Dim}";
        if (HeadSize % 2 != 0) return $"head size {HeadSize} is odd (rotary embeddings rotate pairs)";
        if (KvHeads <= 0 || KvHeads > Heads || Heads % KvHeads != 0) return $"n_kv_heads {KvHeads} does not divide n_heads {Heads}";
        if (VocabSize <= 0 || VocabSize > MaxVocabulary) return $"vocab_size {VocabSize} is outside 1..{MaxVocabulary}";
        if (MaxSequenceLength <= 0 || MaxSequenceLength > MaxPositions) return $"seq_len {MaxSequenceLength} is outside 1..{MaxPositions}";
        if (!(RopeTheta > 1) || float.IsInfinity(RopeTheta)) return $"rope theta {RopeTheta} must be a finite number above 1";
        if (!(NormEpsilon > 0) || NormEpsilon > 1) return $"norm epsilon {NormEpsilon} is outside (0, 1]";
        if (RopeScaling?.Problem() is { } scaling) return scaling;
        // NTK's exponent head_size / (head_size − 2) has no value for a single pair.
        if (RopeScaling?.Type == RopeScalingType.Dynamic && HeadSize <= 2) return $"dynamic rope scaling needs a head size above 2, got {HeadSize}";
        if ((long)VocabSize * Dim > Array.MaxLength - 64 || (long)HiddenDim * Dim > Array.MaxLength - 64)
            return "a weight matrix would exceed 2³¹ elements";
        return null;
    }

    internal void Validate()
    {
        if (Problem() is { } problem)
            throw new ArgumentException($"invalid model configuration: {problem}");
    }
}
