using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Terse.Neural.Numerics;

/// <summary>
/// Float kernels whose results are the same bits on every machine: whatever the SIMD width, with or
/// without hardware intrinsics (x64 SSE/AVX/AVX-512, ARM64 NEON, none at all), with or without
/// fused multiply-add, for any thread count. The entropy coder's probabilities come from them
/// (<see cref="ForwardArithmetic.Portable"/>), so a file decodes on another CPU.
/// </summary>
/// <remarks>
/// Why the bits cannot move:
/// <list type="bullet">
/// <item>Only IEEE basic operations: each + and × is rounded on its own (C# never contracts them
/// into a fused multiply-add), ÷ is correctly rounded. The kernels compute in <see cref="IQuad{TSelf}"/>
/// lanes, which do exactly those operations lane by lane, with a Vector128 or with four scalars.</item>
/// <item>Every reduction has one fixed order: the canonical dot product has 8 lanes (two quads:
/// lanes 0–3 take elements 8m…8m+3, lanes 4–7 elements 8m+4…8m+7), summed as lane l + lane l+4,
/// then (l0 + l1) + (l2 + l3); the n mod 8 remaining products are then added one by one. Attention
/// puts one position (scores) or one dimension (weighted sum) in each lane, so lanes never mix.</item>
/// <item>The exponential is our own (<see cref="Exp{TQuad}"/>): range reduction and a polynomial
/// in basic operations, not MathF.Exp or TensorPrimitives.Exp, whose last bits depend on the CPU
/// and runtime.</item>
/// <item>Tails shorter than a quad are padded into one, so there is no second, scalar formula.</item>
/// </list>
/// Threads split independent outputs only (<see cref="Compute.For{TJob}"/>). Each public kernel
/// runs on <see cref="HardwareQuad"/> where Vector128 is hardware accelerated, else on
/// <see cref="SoftwareQuad"/>; the generic ones are there for tests to compare the two. Matrix
/// products, most of the work, hold each pair of quads in one Vector256 where AVX is there: the
/// same lanes, half the instructions (and as fast as the native kernel's AVX-512 fused multiply-adds
/// for the entropy coder's small models).
/// </remarks>
internal static class Portable
{
    /// <summary>Lanes of the canonical dot product.</summary>
    public const int DotLanes = 8;

    private static bool Hardware => Vector128.IsHardwareAccelerated;

    /// <summary>The canonical dot product.</summary>
    public static float Dot(ReadOnlySpan<float> a, ReadOnlySpan<float> b) =>
        Hardware ? Dot<HardwareQuad>(a, b) : Dot<SoftwareQuad>(a, b);

    public static float Dot<TQuad>(ReadOnlySpan<float> a, ReadOnlySpan<float> b) where TQuad : struct, IQuad<TQuad>
    {
        if (b.Length < a.Length)
            throw new ArgumentException("b is shorter than a", nameof(b));
        return Dot<TQuad>(ref MemoryMarshal.GetReference(a), ref MemoryMarshal.GetReference(b), a.Length);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Dot<TQuad>(ref float a, ref float b, int n) where TQuad : struct, IQuad<TQuad>
    {
        int full = n & ~(DotLanes - 1);
        TQuad low = default, high = default;
        for (int i = 0; i < full; i += DotLanes)
        {
            low += TQuad.Load(ref Unsafe.Add(ref a, i)) * TQuad.Load(ref Unsafe.Add(ref b, i));
            high += TQuad.Load(ref Unsafe.Add(ref a, i + 4)) * TQuad.Load(ref Unsafe.Add(ref b, i + 4));
        }
        return Finish(low, high, ref a, ref b, full, n);
    }

    /// <summary>The fixed tree over the 8 lanes, then the remaining products one by one.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Finish<TQuad>(TQuad low, TQuad high, ref float a, ref float b, int full, int n) where TQuad : struct, IQuad<TQuad>
    {
        var half = low + high;
        float sum = (TQuad.Lane(half, 0) + TQuad.Lane(half, 1)) + (TQuad.Lane(half, 2) + TQuad.Lane(half, 3));
        for (int i = full; i < n; i++)
            sum += Unsafe.Add(ref a, i) * Unsafe.Add(ref b, i);
        return sum;
    }

    /// <summary>Sum in the canonical order: the dot product's lanes and tree, without the products.</summary>
    public static float Sum<TQuad>(ReadOnlySpan<float> x) where TQuad : struct, IQuad<TQuad>
    {
        ref float r = ref MemoryMarshal.GetReference(x);
        int n = x.Length, full = n & ~(DotLanes - 1);
        TQuad low = default, high = default;
        for (int i = 0; i < full; i += DotLanes)
        {
            low += TQuad.Load(ref Unsafe.Add(ref r, i));
            high += TQuad.Load(ref Unsafe.Add(ref r, i + 4));
        }
        var half = low + high;
        float sum = (TQuad.Lane(half, 0) + TQuad.Lane(half, 1)) + (TQuad.Lane(half, 2) + TQuad.Lane(half, 3));
        for (int i = full; i < n; i++)
            sum += Unsafe.Add(ref r, i);
        return sum;
    }

    /// <summary>
    /// y[r, j] = bias[j] + Dot(x row r, w row j) for r &lt; rows, j &lt; outputs: x is [rows, k] (row
    /// stride ldx), w is [outputs, k] (contiguous, PyTorch's layout), y is [rows, outputs] (row stride
    /// ldy). Split over threads by output columns; every element is the canonical dot.
    /// </summary>
    public static void MultiplyTransposed(ReadOnlySpan<float> x, int ldx, ReadOnlySpan<float> w, ReadOnlySpan<float> bias,
        Span<float> y, int ldy, int rows, int outputs, int k)
    {
        if (Hardware)
            MultiplyTransposed<HardwareQuad>(x, ldx, w, bias, y, ldy, rows, outputs, k);
        else
            MultiplyTransposed<SoftwareQuad>(x, ldx, w, bias, y, ldy, rows, outputs, k);
    }

    public static void MultiplyTransposed<TQuad>(ReadOnlySpan<float> x, int ldx, ReadOnlySpan<float> w, ReadOnlySpan<float> bias,
        Span<float> y, int ldy, int rows, int outputs, int k) where TQuad : struct, IQuad<TQuad>
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
                var job = new TransposedProduct<TQuad>(px, ldx, pw, pb, py, ldy, rows, outputs, k);
                Compute.For((outputs + 3) / 4, 4L * k * rows, job);
            }
        }
    }

    private readonly unsafe struct TransposedProduct<TQuad>(float* x, int ldx, float* w, float* bias, float* y, int ldy, int rows, int outputs, int k)
        : IRangeJob where TQuad : struct, IQuad<TQuad>
    {
        /// <summary>Outputs of blocks [start, end) of four.</summary>
        public void Run(int start, int end)
        {
            int j0 = start * 4, j1 = Math.Min(outputs, end * 4);
            for (int j = j0; j < j1; j += 4)
            {
                int width = Math.Min(4, j1 - j);
                for (int r = 0; r < rows; r++)
                {
                    if (width == 4 && typeof(TQuad) == typeof(HardwareQuad) && Vector256.IsHardwareAccelerated)
                        Tile1x4Wide(r, j);
                    else if (width == 4)
                        Tile1x4(r, j);
                    else
                        for (int c = 0; c < width; c++)
                            Store(r, j + c, Dot<TQuad>(ref x[(long)r * ldx], ref w[(long)(j + c) * k], k));
                }
            }
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private void Store(int r, int j, float dot) => y[(long)r * ldy + j] = bias == null ? dot : bias[j] + dot;

        /// <summary>Four canonical dots of one x row, sharing its loads: eight independent accumulators.</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private void Tile1x4(int r, int j)
        {
            float* x0 = x + (long)r * ldx;
            float* w0 = w + (long)j * k, w1 = w0 + k, w2 = w1 + k, w3 = w2 + k;
            TQuad l0 = default, h0 = default, l1 = default, h1 = default, l2 = default, h2 = default, l3 = default, h3 = default;
            int full = k & ~(DotLanes - 1);
            for (int i = 0; i < full; i += DotLanes)
            {
                var u = TQuad.Load(ref x0[i]);
                var v = TQuad.Load(ref x0[i + 4]);
                l0 += u * TQuad.Load(ref w0[i]); h0 += v * TQuad.Load(ref w0[i + 4]);
                l1 += u * TQuad.Load(ref w1[i]); h1 += v * TQuad.Load(ref w1[i + 4]);
                l2 += u * TQuad.Load(ref w2[i]); h2 += v * TQuad.Load(ref w2[i + 4]);
                l3 += u * TQuad.Load(ref w3[i]); h3 += v * TQuad.Load(ref w3[i + 4]);
            }
            Store(r, j, Finish(l0, h0, ref *x0, ref *w0, full, k));
            Store(r, j + 1, Finish(l1, h1, ref *x0, ref *w1, full, k));
            Store(r, j + 2, Finish(l2, h2, ref *x0, ref *w2, full, k));
            Store(r, j + 3, Finish(l3, h3, ref *x0, ref *w3, full, k));
        }

        /// <summary>
        /// <see cref="Tile1x4"/> with each pair of quads (lanes 0–3 and 4–7) in one Vector256, where
        /// AVX is there: the same eight lanes and operations, half the instructions.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private void Tile1x4Wide(int r, int j)
        {
            float* x0 = x + (long)r * ldx;
            float* w0 = w + (long)j * k, w1 = w0 + k, w2 = w1 + k, w3 = w2 + k;
            Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
            int full = k & ~(DotLanes - 1);
            for (int i = 0; i < full; i += DotLanes)
            {
                var u = Vector256.Load(x0 + i);
                a0 += u * Vector256.Load(w0 + i);
                a1 += u * Vector256.Load(w1 + i);
                a2 += u * Vector256.Load(w2 + i);
                a3 += u * Vector256.Load(w3 + i);
            }
            Store(r, j, Finish(new HardwareQuad(a0.GetLower()), new HardwareQuad(a0.GetUpper()), ref *x0, ref *w0, full, k));
            Store(r, j + 1, Finish(new HardwareQuad(a1.GetLower()), new HardwareQuad(a1.GetUpper()), ref *x0, ref *w1, full, k));
            Store(r, j + 2, Finish(new HardwareQuad(a2.GetLower()), new HardwareQuad(a2.GetUpper()), ref *x0, ref *w2, full, k));
            Store(r, j + 3, Finish(new HardwareQuad(a3.GetLower()), new HardwareQuad(a3.GetUpper()), ref *x0, ref *w3, full, k));
        }
    }

    // e^x = 2^n · e^r with n = round(x · log2 e) and r = x − n · ln 2, ln 2 in two parts so that
    // n · Ln2High is exact (Cody and Waite); e^r by its Taylor polynomial of degree 7, whose
    // remainder on |r| ≤ ln2/2 is below 6e-9, a tenth of a float's unit in the last place.
    private const float Log2E = 1.44269504f;
    private const float Ln2High = 0.693359375f;
    private const float Ln2Low = -2.12194440e-4f;
    // Clamped so that n stays in −126…127 and 2^n is a normal float: e^88 ≈ 1.7e38, e^−87 ≈ 1.6e-38.
    private const float ExpHighest = 88f, ExpLowest = -87f;

    /// <summary>
    /// e^x lane by lane, within a few units in the last place, for x in [−87, 88]; beyond, the
    /// value at the nearer end; NaN stays NaN.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TQuad Exp<TQuad>(TQuad x) where TQuad : struct, IQuad<TQuad>
    {
        x = TQuad.Clamp(x, ExpLowest, ExpHighest);
        var shifted = x * TQuad.Broadcast(Log2E) + TQuad.Broadcast(Quad.Shift);
        var n = shifted - TQuad.Broadcast(Quad.Shift);
        var r = (x - n * TQuad.Broadcast(Ln2High)) - n * TQuad.Broadcast(Ln2Low);
        var p = TQuad.Broadcast(1f / 5040);
        p = p * r + TQuad.Broadcast(1f / 720);
        p = p * r + TQuad.Broadcast(1f / 120);
        p = p * r + TQuad.Broadcast(1f / 24);
        p = p * r + TQuad.Broadcast(1f / 6);
        p = p * r + TQuad.Broadcast(0.5f);
        p = p * r + TQuad.Broadcast(1f);
        p = p * r + TQuad.Broadcast(1f);
        return p * TQuad.PowerOfTwo(shifted);
    }

    /// <summary>In place: x ← e^x.</summary>
    public static void Exp<TQuad>(Span<float> x) where TQuad : struct, IQuad<TQuad> => Apply<TQuad, ExpOf<TQuad>>(x, default);

    /// <summary>In place: x ← e^(x − max x) / Σ e^(x − max x), the sum in the canonical order.</summary>
    public static void Softmax(Span<float> x)
    {
        if (Hardware)
            Softmax<HardwareQuad>(x);
        else
            Softmax<SoftwareQuad>(x);
    }

    public static void Softmax<TQuad>(Span<float> x) where TQuad : struct, IQuad<TQuad>
    {
        if (x.IsEmpty)
            return;
        float max = x[0];
        foreach (float value in x)
            if (value > max)
                max = value;
        Apply<TQuad, ExpOfDifference<TQuad>>(x, new(TQuad.Broadcast(max)));
        Apply<TQuad, Quotient<TQuad>>(x, new(TQuad.Broadcast(Sum<TQuad>(x))));
    }

    /// <summary>h = silu(gate) ⊙ up, with silu(g) = g · σ(g) computed as g / (1 + e^−g): SwiGLU's activation.</summary>
    public static void SwiGlu(ReadOnlySpan<float> gate, ReadOnlySpan<float> up, Span<float> h)
    {
        if (Hardware)
            SwiGlu<HardwareQuad>(gate, up, h);
        else
            SwiGlu<SoftwareQuad>(gate, up, h);
    }

    public static void SwiGlu<TQuad>(ReadOnlySpan<float> gate, ReadOnlySpan<float> up, Span<float> h) where TQuad : struct, IQuad<TQuad>
    {
        if (gate.Length != h.Length || up.Length != h.Length)
            throw new ArgumentException("gate, up and h must have the same length");
        gate.CopyTo(h);
        Apply<TQuad, Silu<TQuad>>(h, default);
        for (int i = 0; i < h.Length; i++)
            h[i] *= up[i];
    }

    /// <summary>A lane-wise function of a quad.</summary>
    private interface IQuadFunction<TQuad> where TQuad : struct, IQuad<TQuad>
    {
        TQuad Apply(TQuad x);
    }

    private readonly struct ExpOf<TQuad> : IQuadFunction<TQuad> where TQuad : struct, IQuad<TQuad>
    {
        public TQuad Apply(TQuad x) => Exp(x);
    }

    private readonly struct ExpOfDifference<TQuad>(TQuad subtrahend) : IQuadFunction<TQuad> where TQuad : struct, IQuad<TQuad>
    {
        public TQuad Apply(TQuad x) => Exp(x - subtrahend);
    }

    private readonly struct Quotient<TQuad>(TQuad divisor) : IQuadFunction<TQuad> where TQuad : struct, IQuad<TQuad>
    {
        public TQuad Apply(TQuad x) => x / divisor;
    }

    private readonly struct Silu<TQuad> : IQuadFunction<TQuad> where TQuad : struct, IQuad<TQuad>
    {
        public TQuad Apply(TQuad g) => g / (TQuad.Broadcast(1f) + Exp(-g));
    }

    /// <summary>
    /// x ← f(x) quad by quad; the last, partial quad is padded with zeros into a whole one, so every
    /// element goes through the same formula (generic structs: the JIT inlines f).
    /// </summary>
    private static void Apply<TQuad, TFunction>(Span<float> x, TFunction function)
        where TQuad : struct, IQuad<TQuad> where TFunction : struct, IQuadFunction<TQuad>
    {
        ref float start = ref MemoryMarshal.GetReference(x);
        int i = 0;
        for (; i + 4 <= x.Length; i += 4)
            TQuad.Store(function.Apply(TQuad.Load(ref Unsafe.Add(ref start, i))), ref Unsafe.Add(ref start, i));
        if (i < x.Length)
        {
            Span<float> padded = stackalloc float[4];
            padded.Clear();
            x[i..].CopyTo(padded);
            ref float first = ref MemoryMarshal.GetReference(padded);
            TQuad.Store(function.Apply(TQuad.Load(ref first)), ref first);
            padded[..(x.Length - i)].CopyTo(x[i..]);
        }
    }
}
