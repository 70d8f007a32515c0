using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Terse.Neural.Numerics;

/// <summary>
/// Reductions whose result is a pure function of their inputs: every dot product is computed with
/// the same sequence of float operations no matter which kernel, tile, thread or batch size produced
/// it. The canonical dot of length n: one 16-lane accumulator takes a fused multiply-add per full
/// chunk of 16 (in order), the lanes are summed by a fixed tree (halves of 512, of 256, then
/// (l0+l1)+(l2+l3)), and the n mod 16 remaining products are added one by one with scalar fused
/// multiply-adds. Vector512 operations are exact lane-wise IEEE operations, and the JIT never
/// contracts a separate multiply and add into an FMA, so the same bits come out on any x64 machine.
/// </summary>
internal static class FixedOrder
{
    private const int Lanes = 16;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Reduce(Vector512<float> v)
    {
        var half = v.GetLower() + v.GetUpper();
        var quarter = half.GetLower() + half.GetUpper();
        return (quarter.GetElement(0) + quarter.GetElement(1)) + (quarter.GetElement(2) + quarter.GetElement(3));
    }

    /// <summary>The canonical dot product of the first <paramref name="n"/> elements.</summary>
    public static float Dot(ReadOnlySpan<float> a, ReadOnlySpan<float> b, int n)
    {
        if ((uint)n > (uint)a.Length || (uint)n > (uint)b.Length)
            throw new ArgumentOutOfRangeException(nameof(n));
        return Dot(ref MemoryMarshal.GetReference(a), ref MemoryMarshal.GetReference(b), n);
    }

    public static float Dot(ReadOnlySpan<float> a, ReadOnlySpan<float> b) => Dot(a, b, a.Length);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static float Dot(ref float a, ref float b, int n)
    {
        int full = n & ~(Lanes - 1);
        float sum = 0f; // what the tree gives for an all-zero accumulator, so short vectors skip it
        if (full > 0)
        {
            var acc = Vector512<float>.Zero;
            for (int i = 0; i < full; i += Lanes)
                acc = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref a, (nuint)i), Vector512.LoadUnsafe(ref b, (nuint)i), acc);
            sum = Reduce(acc);
        }
        for (int i = full; i < n; i++)
            sum = MathF.FusedMultiplyAdd(Unsafe.Add(ref a, i), Unsafe.Add(ref b, i), sum);
        return sum;
    }

    /// <summary>Sum in the canonical order (a dot product with ones, without the multiplies).</summary>
    public static float Sum(ReadOnlySpan<float> x)
    {
        ref float r = ref MemoryMarshal.GetReference(x);
        int n = x.Length, full = n & ~(Lanes - 1);
        var acc = Vector512<float>.Zero;
        for (int i = 0; i < full; i += Lanes)
            acc += Vector512.LoadUnsafe(ref r, (nuint)i);
        float sum = Reduce(acc);
        for (int i = full; i < n; i++)
            sum += Unsafe.Add(ref r, i);
        return sum;
    }

    /// <summary>
    /// y[r, j] = bias[j] + Dot(x row r, w row j) for r &lt; rows, j &lt; outputs: x is rows×k (row stride
    /// ldx), w is outputs×k (contiguous), y has row stride ldy. Work is split by output columns over
    /// threads; every element is the canonical dot, so the result is independent of the split and of
    /// <paramref name="rows"/> (a single-token step equals one row of a batched prefill).
    /// </summary>
    public static void MultiplyTransposed(ReadOnlySpan<float> x, int ldx, ReadOnlySpan<float> w, ReadOnlySpan<float> bias,
        Span<float> y, int ldy, int rows, int outputs, int k)
    {
        if (rows == 0 || outputs == 0)
            return;
        if (ldx < k || ldy < outputs || x.Length < (long)(rows - 1) * ldx + k || w.Length < (long)outputs * k
            || y.Length < (long)(rows - 1) * ldy + outputs || (!bias.IsEmpty && bias.Length < outputs))
            throw new ArgumentException("operand too small for the product shape");
        unsafe
        {
            fixed (float* px = x)
            fixed (float* pw = w)
            fixed (float* pb = bias)
            fixed (float* py = y)
            {
                var job = new TransposedProduct(px, ldx, pw, pb, py, ldy, rows, outputs, k);
                Compute.For((outputs + 3) / 4, 4L * k * rows, job);
            }
        }
    }

    private readonly unsafe struct TransposedProduct(float* x, int ldx, float* w, float* bias, float* y, int ldy, int rows, int outputs, int k) : IRangeJob
    {
        /// <summary>Outputs of blocks [start, end) of four.</summary>
        public void Run(int start, int end)
        {
            int j0 = start * 4, j1 = Math.Min(outputs, end * 4);
            for (int j = j0; j < j1; j += 4)
            {
                int width = Math.Min(4, j1 - j);
                int r = 0;
                if (width == 4)
                {
                    for (; r + 4 <= rows; r += 4)
                        Tile4x4(r, j);
                    for (; r < rows; r++)
                        Tile1x4(r, j);
                }
                for (; r < rows; r++)
                    for (int c = 0; c < width; c++)
                        Store(r, j + c, Dot(ref x[(long)r * ldx], ref w[(long)(j + c) * k], k));
            }
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private void Store(int r, int j, float dot) => y[(long)r * ldy + j] = bias == null ? dot : bias[j] + dot;

        /// <summary>Sixteen canonical dots at once (4 x rows × 4 w rows), sharing the loads.</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private void Tile4x4(int r, int j)
        {
            float* x0 = x + (long)r * ldx, x1 = x0 + ldx, x2 = x1 + ldx, x3 = x2 + ldx;
            float* w0 = w + (long)j * k, w1 = w0 + k, w2 = w1 + k, w3 = w2 + k;
            Vector512<float> a00 = default, a01 = default, a02 = default, a03 = default;
            Vector512<float> a10 = default, a11 = default, a12 = default, a13 = default;
            Vector512<float> a20 = default, a21 = default, a22 = default, a23 = default;
            Vector512<float> a30 = default, a31 = default, a32 = default, a33 = default;
            int full = k & ~(Lanes - 1);
            for (int i = 0; i < full; i += Lanes)
            {
                var v0 = Vector512.Load(w0 + i); var v1 = Vector512.Load(w1 + i);
                var v2 = Vector512.Load(w2 + i); var v3 = Vector512.Load(w3 + i);
                var u = Vector512.Load(x0 + i);
                a00 = Vector512.FusedMultiplyAdd(u, v0, a00); a01 = Vector512.FusedMultiplyAdd(u, v1, a01);
                a02 = Vector512.FusedMultiplyAdd(u, v2, a02); a03 = Vector512.FusedMultiplyAdd(u, v3, a03);
                u = Vector512.Load(x1 + i);
                a10 = Vector512.FusedMultiplyAdd(u, v0, a10); a11 = Vector512.FusedMultiplyAdd(u, v1, a11);
                a12 = Vector512.FusedMultiplyAdd(u, v2, a12); a13 = Vector512.FusedMultiplyAdd(u, v3, a13);
                u = Vector512.Load(x2 + i);
                a20 = Vector512.FusedMultiplyAdd(u, v0, a20); a21 = Vector512.FusedMultiplyAdd(u, v1, a21);
                a22 = Vector512.FusedMultiplyAdd(u, v2, a22); a23 = Vector512.FusedMultiplyAdd(u, v3, a23);
                u = Vector512.Load(x3 + i);
                a30 = Vector512.FusedMultiplyAdd(u, v0, a30); a31 = Vector512.FusedMultiplyAdd(u, v1, a31);
                a32 = Vector512.FusedMultiplyAdd(u, v2, a32); a33 = Vector512.FusedMultiplyAdd(u, v3, a33);
            }
            Finish(r, j, a00, x0, w0, full); Finish(r, j + 1, a01, x0, w1, full); Finish(r, j + 2, a02, x0, w2, full); Finish(r, j + 3, a03, x0, w3, full);
            Finish(r + 1, j, a10, x1, w0, full); Finish(r + 1, j + 1, a11, x1, w1, full); Finish(r + 1, j + 2, a12, x1, w2, full); Finish(r + 1, j + 3, a13, x1, w3, full);
            Finish(r + 2, j, a20, x2, w0, full); Finish(r + 2, j + 1, a21, x2, w1, full); Finish(r + 2, j + 2, a22, x2, w2, full); Finish(r + 2, j + 3, a23, x2, w3, full);
            Finish(r + 3, j, a30, x3, w0, full); Finish(r + 3, j + 1, a31, x3, w1, full); Finish(r + 3, j + 2, a32, x3, w2, full); Finish(r + 3, j + 3, a33, x3, w3, full);
        }

        /// <summary>Four canonical dots of one x row (the decoding case), with independent accumulators.</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private void Tile1x4(int r, int j)
        {
            float* x0 = x + (long)r * ldx;
            float* w0 = w + (long)j * k, w1 = w0 + k, w2 = w1 + k, w3 = w2 + k;
            Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
            int full = k & ~(Lanes - 1);
            for (int i = 0; i < full; i += Lanes)
            {
                var u = Vector512.Load(x0 + i);
                a0 = Vector512.FusedMultiplyAdd(u, Vector512.Load(w0 + i), a0);
                a1 = Vector512.FusedMultiplyAdd(u, Vector512.Load(w1 + i), a1);
                a2 = Vector512.FusedMultiplyAdd(u, Vector512.Load(w2 + i), a2);
                a3 = Vector512.FusedMultiplyAdd(u, Vector512.Load(w3 + i), a3);
            }
            Finish(r, j, a0, x0, w0, full); Finish(r, j + 1, a1, x0, w1, full);
            Finish(r, j + 2, a2, x0, w2, full); Finish(r, j + 3, a3, x0, w3, full);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private void Finish(int r, int j, Vector512<float> acc, float* xr, float* wj, int full)
        {
            float sum = Reduce(acc);
            for (int i = full; i < k; i++)
                sum = MathF.FusedMultiplyAdd(xr[i], wj[i], sum);
            Store(r, j, sum);
        }
    }
}
