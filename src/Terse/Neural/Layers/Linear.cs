using System.Numerics.Tensors;
using Terse.Neural.Numerics;

namespace Terse.Neural.Layers;

/// <summary>y = x·Wᵀ + b over rows, with W stored [outputs, inputs] (PyTorch's layout).</summary>
internal static class Linear
{
    /// <param name="gemm">The backend, or null for the fixed-order kernel (bit-identical to decoding).</param>
    public static void Forward(Gemm? gemm, ReadOnlySpan<float> x, ReadOnlySpan<float> weight, ReadOnlySpan<float> bias,
        Span<float> y, int rows, int inputs, int outputs)
    {
        if (gemm is null)
        {
            FixedOrder.MultiplyTransposed(x, inputs, weight, bias, y, outputs, rows, outputs, inputs);
            return;
        }
        gemm.Multiply(false, true, rows, outputs, inputs, 1f, x, inputs, weight, inputs, 0f, y, outputs);
        if (!bias.IsEmpty)
            for (int r = 0; r < rows; r++)
                TensorPrimitives.Add(y.Slice(r * outputs, outputs), bias, y.Slice(r * outputs, outputs));
    }

    /// <summary>
    /// dx (+)= dy·W (overwritten unless <paramref name="accumulate"/>); dW += dyᵀ·x and db += Σ_rows dy
    /// when those buffers are given (empty for frozen parameters).
    /// </summary>
    public static void Backward(Gemm gemm, ReadOnlySpan<float> dy, ReadOnlySpan<float> x, ReadOnlySpan<float> weight,
        Span<float> dx, bool accumulate, Span<float> dWeight, Span<float> dBias, int rows, int inputs, int outputs)
    {
        if (!dx.IsEmpty)
            gemm.Multiply(false, false, rows, inputs, outputs, 1f, dy, outputs, weight, inputs, accumulate ? 1f : 0f, dx, inputs);
        if (!dWeight.IsEmpty)
            gemm.Multiply(true, false, outputs, inputs, rows, 1f, dy, outputs, x, inputs, 1f, dWeight, inputs);
        if (!dBias.IsEmpty)
            for (int r = 0; r < rows; r++)
                TensorPrimitives.Add(dBias, dy.Slice(r * outputs, outputs), dBias);
    }
}
