using System.Numerics.Tensors;
using Terse.Neural.Numerics;

namespace Terse.Neural.Layers;

/// <summary>y = w ⊙ x / sqrt(mean(x²) + ε), row by row.</summary>
internal static class RmsNorm
{
    /// <param name="rstd">Receives 1 / sqrt(mean(x²) + ε) per row for the backward pass (may be empty).</param>
    public static void Forward(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, Span<float> y, Span<float> rstd,
        int rows, int dim, float epsilon) => Forward(x, weight, y, rstd, rows, dim, epsilon, portable: false);

    /// <param name="portable">
    /// Sum the squares with <see cref="Portable.Dot(ReadOnlySpan{float}, ReadOnlySpan{float})"/> (the
    /// entropy coder's arithmetic) rather than <see cref="FixedOrder"/>'s fused multiply-adds. The
    /// rest is portable as it is: √ is correctly rounded and the products are lane-wise.
    /// </param>
    public static void Forward(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, Span<float> y, Span<float> rstd,
        int rows, int dim, float epsilon, bool portable)
    {
        for (int r = 0; r < rows; r++)
        {
            var xr = x.Slice(r * dim, dim);
            var yr = y.Slice(r * dim, dim);
            float meanSquare = (portable ? Portable.Dot(xr, xr) : FixedOrder.Dot(xr, xr)) / dim + epsilon;
            float scale = 1f / MathF.Sqrt(meanSquare);
            if (!rstd.IsEmpty)
                rstd[r] = scale;
            TensorPrimitives.Multiply(xr, scale, yr);
            TensorPrimitives.Multiply(yr, weight, yr);
        }
    }

    /// <summary>Adds the gradients w.r.t. x and w to <paramref name="dx"/> and <paramref name="dweight"/>.</summary>
    /// <remarks>
    /// With n = x·rstd: dn = dy ⊙ w, dx = rstd · (dn − n · mean(dn ⊙ n)), dw = Σ_rows dy ⊙ n.
    /// </remarks>
    public static void Backward(ReadOnlySpan<float> dy, ReadOnlySpan<float> x, ReadOnlySpan<float> weight, ReadOnlySpan<float> rstd,
        Span<float> dx, Span<float> dweight, int rows, int dim)
    {
        Span<float> normalized = dim <= 4096 ? stackalloc float[dim] : new float[dim];
        Span<float> dn = dim <= 4096 ? stackalloc float[dim] : new float[dim];
        for (int r = 0; r < rows; r++)
        {
            var dyr = dy.Slice(r * dim, dim);
            TensorPrimitives.Multiply(x.Slice(r * dim, dim), rstd[r], normalized);
            if (!dweight.IsEmpty)
                TensorPrimitives.FusedMultiplyAdd(dyr, normalized, dweight, dweight);
            TensorPrimitives.Multiply(dyr, weight, dn);
            float projection = FixedOrder.Dot(dn, normalized) / dim;
            // dx += rstd · (dn − projection · n)
            TensorPrimitives.FusedMultiplyAdd(normalized, -projection, dn, dn);
            var dxr = dx.Slice(r * dim, dim);
            TensorPrimitives.FusedMultiplyAdd(dn, rstd[r], dxr, dxr);
        }
    }
}
