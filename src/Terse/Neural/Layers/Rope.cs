using Terse.Neural.Numerics;

namespace Terse.Neural.Layers;

/// <summary>
/// Rotary position embeddings in llama2.c's layout: within each head, elements (2i, 2i+1) form a pair
/// rotated by pos·θ^(−2i/head_size). Hugging Face checkpoints pair (i, i + head_size/2) instead; their
/// q/k projection rows are permuted on import so that one kernel serves both.
/// </summary>
internal sealed class Rope
{
    private readonly float[] _cos, _sin;
    private readonly int _half;

    /// <param name="portable">
    /// Take powers, sines and cosines from <see cref="PortableMath"/> (the same bits on every machine,
    /// for the entropy coder) instead of the runtime's MathF, whose last bits may differ between
    /// platforms. The angles are the same single-precision products either way.
    /// </param>
    public Rope(int headSize, int maxPositions, float theta, bool portable = false)
    {
        _half = headSize / 2;
        _cos = new float[maxPositions * _half];
        _sin = new float[maxPositions * _half];
        for (int pos = 0; pos < maxPositions; pos++)
            for (int i = 0; i < _half; i++)
            {
                // Single-precision steps as in llama2.c's run.c, whose outputs we reproduce.
                float exponent = 2 * i / (float)headSize;
                float frequency = 1f / (portable ? (float)PortableMath.Pow(theta, exponent) : MathF.Pow(theta, exponent));
                float angle = pos * frequency;
                _cos[pos * _half + i] = portable ? (float)PortableMath.Cos(angle) : MathF.Cos(angle);
                _sin[pos * _half + i] = portable ? (float)PortableMath.Sin(angle) : MathF.Sin(angle);
            }
    }

    public int MaxPositions => _cos.Length / Math.Max(1, _half);

    /// <summary>Rotates every head of one position's vector (heads × head_size) in place.</summary>
    public void Forward(Span<float> vector, int position) => Rotate(vector, position, 1f);

    /// <summary>Gradient of <see cref="Forward"/>: the inverse rotation, in place.</summary>
    public void Backward(Span<float> gradient, int position) => Rotate(gradient, position, -1f);

    private void Rotate(Span<float> vector, int position, float direction)
    {
        var cos = _cos.AsSpan(position * _half, _half);
        var sin = _sin.AsSpan(position * _half, _half);
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
