namespace Terse.MetaTokens;

/// <summary>
/// The shape of a decoder-only transformer, enough to count the FLOPs of a forward pass.
/// </summary>
/// <param name="Dim">Model (residual) width.</param>
/// <param name="Layers">Number of transformer blocks.</param>
/// <param name="HiddenDim">Feed-forward inner width.</param>
/// <param name="Heads">Attention (query) heads.</param>
/// <param name="VocabularySize">Output vocabulary (the LM head is Dim × VocabularySize).</param>
/// <param name="KvHeads">Key/value heads (grouped-query attention); defaults to <paramref name="Heads"/>.</param>
/// <param name="GatedFeedForward">SwiGLU-style feed-forward with three matrices (Llama) rather than two (GPT-2).</param>
public sealed record TransformerShape(int Dim, int Layers, int HiddenDim, int Heads, int VocabularySize, int? KvHeads = null, bool GatedFeedForward = true)
{
    /// <summary>Llama-2-7B: dim 4096, 32 layers, hidden 11008, 32 heads, vocabulary 32000.</summary>
    public static TransformerShape Llama2_7B { get; } = new(4096, 32, 11008, 32, 32000);

    /// <summary>
    /// FLOPs (2 per multiply-add) of one forward pass over <paramref name="tokens"/> positions with
    /// causal attention, logits at every position. Linear part: the Q/K/V/O projections, the
    /// feed-forward and the LM head, per position. Quadratic part: scores QKᵀ and their product
    /// with V over the L(L+1)/2 (query, key) pairs a causal mask keeps, per layer. Norms, softmax
    /// and embeddings are left out (lower order).
    /// </summary>
    public FlopCount ForwardFlops(long tokens)
    {
        if (Dim <= 0 || Layers <= 0 || HiddenDim <= 0 || Heads <= 0 || VocabularySize <= 0 || Dim % Heads != 0)
            throw new ArgumentException($"not a valid transformer shape: {this}");
        int kvHeads = KvHeads ?? Heads;
        if (kvHeads <= 0 || Heads % kvHeads != 0)
            throw new ArgumentException($"query heads {Heads} must be a multiple of key/value heads {kvHeads}");
        double headDim = (double)Dim / Heads;
        double projections = 2.0 * Dim * Dim + 2.0 * Dim * (kvHeads * headDim); // Q, O and K, V
        double feedForward = (GatedFeedForward ? 3.0 : 2.0) * Dim * HiddenDim;
        double linearPerToken = 2.0 * (Layers * (projections + feedForward) + (double)Dim * VocabularySize);
        double pairs = tokens * (tokens + 1.0) / 2.0;
        double quadratic = 2.0 * Layers * 2.0 * pairs * Dim; // QKᵀ and (scores)V, each Dim MACs per pair
        return new FlopCount(linearPerToken * tokens, quadratic);
    }
}

/// <summary>FLOPs of a forward pass, split into the part linear in the length and the attention part.</summary>
public readonly record struct FlopCount(double Linear, double Quadratic)
{
    public double Total => Linear + Quadratic;
}

/// <summary>What shortening a sequence from <see cref="InputTokens"/> to <see cref="OutputTokens"/> saves in compute.</summary>
public sealed record AttentionSaving(long InputTokens, long OutputTokens)
{
    /// <summary>The paper's measure: 1 − (L'/L)², the share of attention score computations avoided.</summary>
    public double AttentionOnly => InputTokens == 0 ? 0 : 1 - Math.Pow((double)OutputTokens / InputTokens, 2);

    /// <summary>Length reduction 1 − L'/L.</summary>
    public double LengthSaving => InputTokens == 0 ? 0 : 1 - (double)OutputTokens / InputTokens;

    /// <summary>Share of the whole forward pass avoided for a model of this shape (linear and quadratic terms).</summary>
    public double FlopSaving(TransformerShape shape)
    {
        var before = shape.ForwardFlops(InputTokens);
        return before.Total == 0 ? 0 : 1 - shape.ForwardFlops(OutputTokens).Total / before.Total;
    }
}
