using Terse.Neural.Numerics;

namespace Terse.Neural.Layers;

/// <summary>
/// Rotary position embeddings in llama2.c's layout: within each head, elements (2i, 2i+1) form a pair
/// rotated by pos·f_i, with f_i = θ^(−2i/head_size) unless a <see cref="RopeScaling"/> changes it.
/// Hugging Face checkpoints pair (i, i + head_size/2) instead; their q/k projection rows are permuted
/// on import so that one kernel serves both. The decoding session and the batch pass both take their
/// rotations from <see cref="For"/>, so a scaling is defined once.
/// </summary>
internal sealed class Rope
{
    private readonly int _headSize;
    private readonly float _theta;
    private readonly RopeScaling? _scaling;
    private readonly bool _portable;

    /// <summary>Positions [0, table end), valid for every call that ends within them.</summary>
    private readonly RopeAngles _table;

    /// <param name="portable">
    /// Take powers, logarithms, sines and cosines from <see cref="PortableMath"/> (the same bits on every
    /// machine, for the entropy coder) instead of the runtime's, whose last bits may differ between
    /// platforms. The angles are the same single-precision products either way.
    /// </param>
    public Rope(int headSize, int maxPositions, float theta, RopeScaling? scaling = null, bool portable = false)
    {
        _headSize = headSize;
        _theta = theta;
        _scaling = scaling;
        _portable = portable;
        // Dynamic frequencies only change for calls that run past the original length; below it one
        // table serves them all.
        int tablePositions = scaling?.Type == RopeScalingType.Dynamic ? Math.Min(maxPositions, scaling.OriginalMaxPositions) : maxPositions;
        _table = Angles(0, tablePositions, tablePositions);
    }

    /// <summary>
    /// The rotations of one forward call that feeds positions [<paramref name="first"/>, <paramref name="end"/>).
    /// Only dynamic scaling depends on <paramref name="end"/>: as transformers' <c>dynamic_rope_update</c>,
    /// a call whose sequence reaches beyond the original length uses frequencies stretched to it
    /// (keys cached by earlier calls keep the rotation they were given).
    /// </summary>
    public RopeAngles For(int first, int end) =>
        end <= _table.End ? _table : Angles(first, end, end);

    /// <summary>Rotates every head of one position's vector (heads × head_size) in place, as a call feeding that position alone.</summary>
    public void Forward(Span<float> vector, int position) => For(position, position + 1).Forward(vector, position);

    /// <summary>Gradient of <see cref="Forward(Span{float}, int)"/>.</summary>
    public void Backward(Span<float> gradient, int position) => For(position, position + 1).Backward(gradient, position);

    private RopeAngles Angles(int first, int end, int length)
    {
        var (frequencies, scale) = Frequencies(length);
        int half = _headSize / 2;
        var cos = new float[(end - first) * half];   // [end − first][half]
        var sin = new float[(end - first) * half];   // [end − first][half]
        for (int pos = first; pos < end; pos++)
            for (int i = 0; i < half; i++)
            {
                // Single-precision steps as in llama2.c's run.c, whose outputs we reproduce.
                float angle = pos * frequencies[i];
                int at = (pos - first) * half + i;
                cos[at] = scale * (_portable ? (float)PortableMath.Cos(angle) : MathF.Cos(angle));
                sin[at] = scale * (_portable ? (float)PortableMath.Sin(angle) : MathF.Sin(angle));
            }
        return new RopeAngles(cos, sin, first, half);
    }

    /// <summary>
    /// The inverse frequencies [head_size / 2] of a call over positions below <paramref name="length"/>, and the
    /// factor cos and sin are multiplied by: transformers' <c>ROPE_INIT_FUNCTIONS</c>, with the unscaled
    /// frequencies rounded as run.c rounds them.
    /// </summary>
    internal (float[] Inverse, float Scale) Frequencies(int length)
    {
        var s = _scaling;
        float theta = _theta;
        if (s is { Type: RopeScalingType.Dynamic } && length > s.OriginalMaxPositions)
            theta = (float)(theta * Pow(s.Factor * length / s.OriginalMaxPositions - (s.Factor - 1), _headSize / (double)(_headSize - 2)));
        int half = _headSize / 2;
        var inverse = new float[half];
        for (int i = 0; i < half; i++)
        {
            float exponent = 2 * i / (float)_headSize;
            inverse[i] = 1f / (_portable ? (float)PortableMath.Pow(theta, exponent) : MathF.Pow(theta, exponent));
        }
        if (s is null)
            return (inverse, 1f);
        switch (s.Type)
        {
            case RopeScalingType.Linear:
                for (int i = 0; i < half; i++)
                    inverse[i] = (float)(inverse[i] / s.Factor);
                break;
            case RopeScalingType.Llama3:
                double lowWavelength = s.OriginalMaxPositions / s.LowFrequencyFactor, highWavelength = s.OriginalMaxPositions / s.HighFrequencyFactor;
                for (int i = 0; i < half; i++)
                {
                    double f = inverse[i], wavelength = 2 * Math.PI / f;
                    if (wavelength > lowWavelength)
                        f /= s.Factor;
                    else if (wavelength >= highWavelength)
                    {
                        double smooth = (s.OriginalMaxPositions / wavelength - s.LowFrequencyFactor) / (s.HighFrequencyFactor - s.LowFrequencyFactor);
                        f = (1 - smooth) * f / s.Factor + smooth * f;
                    }
                    inverse[i] = (float)f;
                }
                break;
            case RopeScalingType.Yarn:
                // Dimension index at which a wavelength makes `rotations` turns over the original length.
                double Correction(double rotations) => _headSize * Log(s.OriginalMaxPositions / (rotations * 2 * Math.PI)) / (2 * Log(_theta));
                double low = Correction(s.BetaFast), high = Correction(s.BetaSlow);
                if (s.Truncate)
                    (low, high) = (Math.Floor(low), Math.Ceiling(high));
                (low, high) = (Math.Max(low, 0), Math.Min(high, _headSize - 1));
                if (low == high)
                    high += 0.001;
                for (int i = 0; i < half; i++)
                {
                    double extrapolation = 1 - Math.Clamp((i - low) / (high - low), 0, 1);
                    double f = inverse[i];
                    inverse[i] = (float)(f / s.Factor * (1 - extrapolation) + f * extrapolation);
                }
                return (inverse, (float)s.AttentionFactor);
        }
        return (inverse, 1f);
    }

    private double Pow(double x, double y) => _portable ? PortableMath.Pow(x, y) : Math.Pow(x, y);

    private double Log(double x) => _portable ? PortableMath.Log(x) : Math.Log(x);
}

/// <summary>cos and sin of every rotated pair of the positions [First, End) of one forward call.</summary>
internal sealed class RopeAngles
{
    private readonly float[] _cos, _sin;   // [End − First][half]
    private readonly int _half;

    internal RopeAngles(float[] cos, float[] sin, int first, int half)
    {
        (_cos, _sin, First, _half) = (cos, sin, first, half);
        End = first + cos.Length / Math.Max(1, half);
    }

    public int First { get; }

    public int End { get; }

    /// <summary>Rotates every head of one position's vector (heads × head_size) in place.</summary>
    public void Forward(Span<float> vector, int position) => Rotate(vector, position, 1f);

    /// <summary>Gradient of <see cref="Forward"/>: the transposed rotation (scaled alike), in place.</summary>
    public void Backward(Span<float> gradient, int position) => Rotate(gradient, position, -1f);

    private void Rotate(Span<float> vector, int position, float direction)
    {
        var cos = _cos.AsSpan((position - First) * _half, _half);
        var sin = _sin.AsSpan((position - First) * _half, _half);
        int headSize = 2 * _half;
        for (int head = 0; head < vector.Length; head += headSize)
            for (int i = 0; i < _half; i++)
            {
                float c = cos[i], s = direction * sin[i];
                float v0 = vector[head + 2 * i], v1 = vector[head + 2 * i + 1];
                vector[head + 2 * i] = v0 * c - v1 * s;
                vector[head + 2 * i + 1] = v0 * s + v1 * c;
            }
    }
}
