namespace Terse.Gmsa;

/// <summary>
/// The shape of a GMSA compressor on a given base model.
/// </summary>
/// <param name="EncoderLayers">k: the encoder is the base's layers [0, k) with a LoRA adapter.</param>
/// <param name="LsaLayers">
/// Layer Semantic Alignment blocks, initialised from the decoder's first layers; 0 removes LSA
/// (ablation: the merged vectors go to the decoder as they are).
/// </param>
/// <param name="Merge">How hidden states become soft tokens (GMSA: <see cref="MergeMode.Mean"/>).</param>
/// <param name="Rates">Compression rates r sampled per training sample (each soft token stands for r tokens).</param>
/// <param name="SegmentLength">Tokens the encoder reads at once; longer texts are compressed segment by segment.</param>
/// <param name="LoraRank">Rank of the encoder's LoRA adapter (all seven projections of its layers).</param>
/// <param name="LoraAlpha">LoRA scale numerator: the update is (alpha/rank)·B·A.</param>
public sealed record GmsaSettings(
    int EncoderLayers,
    int LsaLayers = 1,
    MergeMode Merge = MergeMode.Mean,
    IReadOnlyList<int>? Rates = null,
    int SegmentLength = 32,
    int LoraRank = 16,
    float LoraAlpha = 32f)
{
    public IReadOnlyList<int> TrainingRates => Rates ?? [2, 4, 8];

    /// <summary>The most soft tokens one segment can give (at the smallest rate).</summary>
    public int MaxSoftTokens => GroupMerging.GroupCount(SegmentLength, TrainingRates.Min());

    /// <summary>Soft tokens one full segment gets at <paramref name="rate"/>.</summary>
    public int SoftTokens(int rate) => GroupMerging.GroupCount(SegmentLength, rate);

    /// <summary>Whether a compressor of these settings can compress at <paramref name="rate"/> (any r up to the segment; memory tokens bound it for that baseline).</summary>
    public bool Accepts(int rate) => rate >= 1 && rate <= SegmentLength && (Merge != MergeMode.Memory || SoftTokens(rate) <= MaxSoftTokens);

    /// <summary>Null when these settings fit a base model of this shape, else what is wrong.</summary>
    public string? Problem(Terse.Neural.LlamaConfig config)
    {
        if (EncoderLayers < 1 || EncoderLayers > config.Layers) return $"encoder layers {EncoderLayers} is outside 1..{config.Layers}";
        if (LsaLayers < 0 || LsaLayers > config.Layers) return $"LSA layers {LsaLayers} is outside 0..{config.Layers}";
        if (!Enum.IsDefined(Merge)) return $"unknown merge mode {Merge}";
        if (SegmentLength < 1) return $"segment length {SegmentLength} must be positive";
        if (TrainingRates.Count == 0 || TrainingRates.Any(r => r < 1 || r > SegmentLength)) return $"rates must be in 1..segment length {SegmentLength}";
        // The decoder reads BOS, the soft tokens, a marker and the segment again when it reconstructs.
        // In long: a segment length near int.MaxValue (from a damaged gmsa.json) once wrapped past this check.
        if (1L + MaxSoftTokens + SegmentLength > config.MaxSequenceLength)
            return $"segment length {SegmentLength} leaves no room in the model's {config.MaxSequenceLength} positions";
        if (LoraRank < 1 || LoraRank > Math.Min(config.Dim, config.HiddenDim)) return $"LoRA rank {LoraRank} is outside 1..{Math.Min(config.Dim, config.HiddenDim)}";
        if (!float.IsFinite(LoraAlpha) || LoraAlpha <= 0) return $"LoRA alpha {LoraAlpha} must be positive";
        return null;
    }
}
