using System.Globalization;

namespace Terse.Neural;

/// <summary>The <c>rope_type</c> values of Hugging Face transformers' rotary scaling that the engine implements.</summary>
public enum RopeScalingType
{
    /// <summary>Every inverse frequency divided by <see cref="RopeScaling.Factor"/> (position interpolation).</summary>
    Linear,

    /// <summary>
    /// NTK-aware scaling that depends on the length of the sequence a forward call ends at: beyond
    /// <see cref="RopeScaling.OriginalMaxPositions"/> the base grows with it.
    /// </summary>
    Dynamic,

    /// <summary>Llama 3.1's: long wavelengths divided by the factor, short ones kept, a smooth blend between.</summary>
    Llama3,

    /// <summary>YaRN: a ramp between interpolated and extrapolated frequencies, and cos/sin scaled by an attention factor.</summary>
    Yarn,
}

/// <summary>
/// Rotary-embedding scaling as transformers' <c>rope_scaling</c> / <c>rope_parameters</c> defines it
/// (<c>modeling_rope_utils.py</c>); the frequencies themselves are computed by the rotary layer. Only the
/// fields of <see cref="Type"/> matter; the others keep their defaults.
/// </summary>
public sealed record RopeScaling
{
    public required RopeScalingType Type { get; init; }

    /// <summary><c>factor</c>. For YaRN with <see cref="OriginalMaxPositions"/> it is max_position_embeddings / original, as transformers recomputes it.</summary>
    public required double Factor { get; init; }

    /// <summary>
    /// The context length of pretraining: llama3's and YaRN's <c>original_max_position_embeddings</c>;
    /// for dynamic scaling config.json's <c>max_position_embeddings</c>, the length beyond which the base grows.
    /// </summary>
    public int OriginalMaxPositions { get; init; }

    /// <summary>llama3 <c>low_freq_factor</c>: wavelengths above original / low are divided by the factor.</summary>
    public double LowFrequencyFactor { get; init; } = 1;

    /// <summary>llama3 <c>high_freq_factor</c>: wavelengths below original / high are kept.</summary>
    public double HighFrequencyFactor { get; init; } = 4;

    /// <summary>YaRN <c>beta_fast</c>, <c>beta_slow</c>: the rotation counts that bound the ramp.</summary>
    public double BetaFast { get; init; } = 32;

    public double BetaSlow { get; init; } = 1;

    /// <summary>YaRN: cos and sin are multiplied by this (<c>attention_factor</c>, or derived from the factor and <c>mscale</c>/<c>mscale_all_dim</c>).</summary>
    public double AttentionFactor { get; init; } = 1;

    /// <summary>YaRN <c>truncate</c>: the ramp bounds are rounded outwards to whole dimensions.</summary>
    public bool Truncate { get; init; } = true;

    /// <summary>transformers' spelling of <see cref="Type"/>.</summary>
    public string TypeName => Type switch
    {
        RopeScalingType.Linear => "linear",
        RopeScalingType.Dynamic => "dynamic",
        RopeScalingType.Llama3 => "llama3",
        RopeScalingType.Yarn => "yarn",
        _ => throw new ArgumentOutOfRangeException(nameof(Type)),
    };

    /// <summary>YaRN's default attention factor for a scale, with transformers' <c>get_mscale</c>.</summary>
    public static double YarnAttentionFactor(double factor, double? mscale = null, double? mscaleAllDim = null)
    {
        static double Mscale(double scale, double m) => scale <= 1 ? 1.0 : 0.1 * m * Math.Log(scale) + 1.0;
        // transformers tests both for truthiness, so 0 counts as absent.
        return mscale is { } m && m != 0 && mscaleAllDim is { } all && all != 0 ? Mscale(factor, m) / Mscale(factor, all) : Mscale(factor, 1);
    }

    /// <summary>
    /// The longest sequence the scaled model is meant to run. Linear, llama3 and YaRN configs already
    /// state it as max_position_embeddings; dynamic scaling stretches the original length by the factor.
    /// </summary>
    public int ExtendedLength(int maxPositionEmbeddings) =>
        Type == RopeScalingType.Dynamic ? (int)Math.Min(int.MaxValue, Math.Floor(maxPositionEmbeddings * Math.Max(1, Factor))) : maxPositionEmbeddings;

    /// <summary>Null when usable, else what is wrong.</summary>
    public string? Problem()
    {
        if (!(Factor > 0) || !double.IsFinite(Factor))
            return $"rope scaling factor {Factor} must be a positive finite number";
        if (Type is RopeScalingType.Llama3 or RopeScalingType.Dynamic or RopeScalingType.Yarn && OriginalMaxPositions <= 0)
            return $"{TypeName} rope scaling needs a positive original_max_position_embeddings";
        if (Type == RopeScalingType.Llama3 && !(LowFrequencyFactor > 0 && HighFrequencyFactor > LowFrequencyFactor && double.IsFinite(HighFrequencyFactor)))
            return $"llama3 rope scaling needs 0 < low_freq_factor < high_freq_factor, got {LowFrequencyFactor} and {HighFrequencyFactor}";
        if (Type == RopeScalingType.Yarn && !(BetaFast > 0 && BetaSlow > 0 && double.IsFinite(BetaFast) && double.IsFinite(BetaSlow) && AttentionFactor > 0 && double.IsFinite(AttentionFactor)))
            return "yarn rope scaling needs positive finite beta_fast, beta_slow and attention_factor";
        return null;
    }

    /// <summary>A canonical text of every field that matters for <see cref="Type"/> (round-trip float formatting), for model identities.</summary>
    public string Describe()
    {
        static string F(double v) => v.ToString("R", CultureInfo.InvariantCulture);
        return Type switch
        {
            RopeScalingType.Linear => $"linear factor={F(Factor)}",
            RopeScalingType.Dynamic => $"dynamic factor={F(Factor)} original={OriginalMaxPositions}",
            RopeScalingType.Llama3 => $"llama3 factor={F(Factor)} original={OriginalMaxPositions} low={F(LowFrequencyFactor)} high={F(HighFrequencyFactor)}",
            RopeScalingType.Yarn => $"yarn factor={F(Factor)} original={OriginalMaxPositions} beta_fast={F(BetaFast)} beta_slow={F(BetaSlow)} attention={F(AttentionFactor)} truncate={Truncate}",
            _ => throw new ArgumentOutOfRangeException(nameof(Type)),
        };
    }
}
