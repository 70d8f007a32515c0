using System.Numerics.Tensors;

namespace Terse.Neural.Layers;

/// <summary>h = silu(gate) ⊙ up, with silu(g) = g · σ(g).</summary>
internal static class SwiGlu
{
    /// <remarks><paramref name="h"/> must not overlap the inputs.</remarks>
    public static void Forward(ReadOnlySpan<float> gate, ReadOnlySpan<float> up, Span<float> h)
    {
        TensorPrimitives.Sigmoid(gate, h);
        TensorPrimitives.Multiply(h, gate, h);
        TensorPrimitives.Multiply(h, up, h);
    }

    /// <summary>Writes (not adds) dgate and dup: dup = dh ⊙ silu(g); dgate = dh ⊙ up ⊙ σ(g)(1 + g(1 − σ(g))).</summary>
    public static void Backward(ReadOnlySpan<float> dh, ReadOnlySpan<float> gate, ReadOnlySpan<float> up,
        Span<float> dgate, Span<float> dup)
    {
        for (int i = 0; i < gate.Length; i++)
        {
            float g = gate[i];
            float sigmoid = 1f / (1f + MathF.Exp(-g));
            float silu = g * sigmoid;
            dup[i] = dh[i] * silu;
            dgate[i] = dh[i] * up[i] * sigmoid * (1f + g * (1f - sigmoid));
        }
    }
}
