using System.Runtime.Intrinsics;
using Terse.Neural.Numerics;

namespace Terse.Neural.Layers;

/// <summary>
/// Grouped-query causal self-attention: query head h reads key/value head h / (heads / kv_heads).
/// Queries are rows of width heads × head_size, keys and values rows of width kv_heads × head_size.
/// </summary>
internal static class Attention
{
    /// <summary>
    /// One query head against the first <paramref name="count"/> positions. Keys come transposed —
    /// row i holds head dimension i of every position (<paramref name="keyStride"/> apart) — so that
    /// sixteen scores are computed at once; each score is the fused multiply-add chain
    /// q₀k₀, +q₁k₁, … in dimension order, divided by √head_size. Then softmax, and the
    /// probability-weighted sum of the value rows (<paramref name="valueStride"/> apart) in a fixed
    /// order (<see cref="WeightedSum"/>). The decoding step, the prefill and the batched pass all
    /// call this, so their attention agrees bit for bit.
    /// </summary>
    public static unsafe void AttendOne(float* query, int headSize, float* keysTransposed, int keyStride,
        float* values, int valueStride, int count, float* probabilities, float* output)
    {
        float scale = MathF.Sqrt(headSize);
        int t = 0;
        if (Vector512.IsHardwareAccelerated)
            for (var divisor = Vector512.Create(scale); t + 16 <= count; t += 16)
            {
                var acc = Vector512<float>.Zero;
                for (int i = 0; i < headSize; i++)
                    acc = Vector512.FusedMultiplyAdd(Vector512.Create(query[i]), Vector512.Load(keysTransposed + (long)i * keyStride + t), acc);
                (acc / divisor).Store(probabilities + t);
            }
        for (var divisor = Vector256.Create(scale); t + 8 <= count; t += 8)
        {
            var acc = Vector256<float>.Zero;
            for (int i = 0; i < headSize; i++)
                acc = Vector256.FusedMultiplyAdd(Vector256.Create(query[i]), Vector256.Load(keysTransposed + (long)i * keyStride + t), acc);
            (acc / divisor).Store(probabilities + t);
        }
        for (; t < count; t++)
        {
            float acc = 0f;
            for (int i = 0; i < headSize; i++)
                acc = MathF.FusedMultiplyAdd(query[i], keysTransposed[(long)i * keyStride + t], acc);
            probabilities[t] = acc / scale;
        }
        Softmax.Forward(new Span<float>(probabilities, count));
        WeightedSum(probabilities, values, valueStride, count, output, headSize);
    }

    /// <summary>
    /// <see cref="AttendOne"/> in the portable arithmetic (<see cref="Portable"/>), for the entropy
    /// coder: each score is ((q₀k₀ + q₁k₁) + …) with every product and sum rounded on its own, one
    /// position per lane, divided by √head_size; softmax with the portable exponential and the
    /// canonical sum; then o[i] = ((p₀v₀[i] + p₁v₁[i]) + …) in position order, one dimension per lane.
    /// Lanes never mix, so the bits are the same with vectors of any width or none.
    /// </summary>
    public static unsafe void AttendOnePortable(float* query, int headSize, float* keysTransposed, int keyStride,
        float* values, int valueStride, int count, float* probabilities, float* output)
    {
        if (Vector128.IsHardwareAccelerated)
            AttendOnePortable<HardwareQuad>(query, headSize, keysTransposed, keyStride, values, valueStride, count, probabilities, output);
        else
            AttendOnePortable<SoftwareQuad>(query, headSize, keysTransposed, keyStride, values, valueStride, count, probabilities, output);
    }

    public static unsafe void AttendOnePortable<TQuad>(float* query, int headSize, float* keysTransposed, int keyStride,
        float* values, int valueStride, int count, float* probabilities, float* output) where TQuad : struct, IQuad<TQuad>
    {
        float scale = MathF.Sqrt(headSize);
        var divisor = TQuad.Broadcast(scale);
        int t = 0;
        // Four quads of positions at once: independent chains hide the latency of the additions.
        for (; t + 16 <= count; t += 16)
        {
            TQuad a0 = default, a1 = default, a2 = default, a3 = default;
            for (int i = 0; i < headSize; i++)
            {
                var q = TQuad.Broadcast(query[i]);
                float* keys = keysTransposed + (long)i * keyStride + t;
                a0 += q * TQuad.Load(ref keys[0]);
                a1 += q * TQuad.Load(ref keys[4]);
                a2 += q * TQuad.Load(ref keys[8]);
                a3 += q * TQuad.Load(ref keys[12]);
            }
            TQuad.Store(a0 / divisor, ref probabilities[t]);
            TQuad.Store(a1 / divisor, ref probabilities[t + 4]);
            TQuad.Store(a2 / divisor, ref probabilities[t + 8]);
            TQuad.Store(a3 / divisor, ref probabilities[t + 12]);
        }
        for (; t + 4 <= count; t += 4)
        {
            TQuad acc = default;
            for (int i = 0; i < headSize; i++)
                acc += TQuad.Broadcast(query[i]) * TQuad.Load(ref keysTransposed[(long)i * keyStride + t]);
            TQuad.Store(acc / divisor, ref probabilities[t]);
        }
        // The last positions lane by lane: the same operations as a lane of a quad.
        for (; t < count; t++)
        {
            float acc = 0f;
            for (int i = 0; i < headSize; i++)
                acc += query[i] * keysTransposed[(long)i * keyStride + t];
            probabilities[t] = acc / scale;
        }
        Portable.Softmax<TQuad>(new Span<float>(probabilities, count));

        int d = 0;
        for (; d + 16 <= headSize; d += 16)
        {
            TQuad a0 = default, a1 = default, a2 = default, a3 = default;
            for (int s = 0; s < count; s++)
            {
                var p = TQuad.Broadcast(probabilities[s]);
                float* row = values + (long)s * valueStride + d;
                a0 += p * TQuad.Load(ref row[0]);
                a1 += p * TQuad.Load(ref row[4]);
                a2 += p * TQuad.Load(ref row[8]);
                a3 += p * TQuad.Load(ref row[12]);
            }
            TQuad.Store(a0, ref output[d]);
            TQuad.Store(a1, ref output[d + 4]);
            TQuad.Store(a2, ref output[d + 8]);
            TQuad.Store(a3, ref output[d + 12]);
        }
        for (; d + 4 <= headSize; d += 4)
        {
            TQuad acc = default;
            for (int s = 0; s < count; s++)
                acc += TQuad.Broadcast(probabilities[s]) * TQuad.Load(ref values[(long)s * valueStride + d]);
            TQuad.Store(acc, ref output[d]);
        }
        for (; d < headSize; d++)
        {
            float acc = 0f;
            for (int s = 0; s < count; s++)
                acc += probabilities[s] * values[(long)s * valueStride + d];
            output[d] = acc;
        }
    }

    /// <summary>
    /// o[i] = Σ_t p[t]·v[t][i]: position t goes to partial sum t mod 4 by fused multiply-add (four
    /// independent chains hide the FMA latency), then o = (s₀ + s₁) + (s₂ + s₃). Every lane follows
    /// the same sequence, so the vector width does not change the result.
    /// </summary>
    private static unsafe void WeightedSum(float* p, float* v, int stride, int count, float* o, int width)
    {
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
            for (; i + 16 <= width; i += 16)
            {
                Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
                float* column = v + i;
                int t = 0;
                for (; t + 4 <= count; t += 4)
                {
                    a0 = Vector512.FusedMultiplyAdd(Vector512.Create(p[t]), Vector512.Load(column + (long)t * stride), a0);
                    a1 = Vector512.FusedMultiplyAdd(Vector512.Create(p[t + 1]), Vector512.Load(column + (long)(t + 1) * stride), a1);
                    a2 = Vector512.FusedMultiplyAdd(Vector512.Create(p[t + 2]), Vector512.Load(column + (long)(t + 2) * stride), a2);
                    a3 = Vector512.FusedMultiplyAdd(Vector512.Create(p[t + 3]), Vector512.Load(column + (long)(t + 3) * stride), a3);
                }
                if (t < count) a0 = Vector512.FusedMultiplyAdd(Vector512.Create(p[t]), Vector512.Load(column + (long)t * stride), a0);
                if (t + 1 < count) a1 = Vector512.FusedMultiplyAdd(Vector512.Create(p[t + 1]), Vector512.Load(column + (long)(t + 1) * stride), a1);
                if (t + 2 < count) a2 = Vector512.FusedMultiplyAdd(Vector512.Create(p[t + 2]), Vector512.Load(column + (long)(t + 2) * stride), a2);
                ((a0 + a1) + (a2 + a3)).Store(o + i);
            }
        for (; i + 8 <= width; i += 8)
        {
            Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
            float* column = v + i;
            int t = 0;
            for (; t + 4 <= count; t += 4)
            {
                a0 = Vector256.FusedMultiplyAdd(Vector256.Create(p[t]), Vector256.Load(column + (long)t * stride), a0);
                a1 = Vector256.FusedMultiplyAdd(Vector256.Create(p[t + 1]), Vector256.Load(column + (long)(t + 1) * stride), a1);
                a2 = Vector256.FusedMultiplyAdd(Vector256.Create(p[t + 2]), Vector256.Load(column + (long)(t + 2) * stride), a2);
                a3 = Vector256.FusedMultiplyAdd(Vector256.Create(p[t + 3]), Vector256.Load(column + (long)(t + 3) * stride), a3);
            }
            if (t < count) a0 = Vector256.FusedMultiplyAdd(Vector256.Create(p[t]), Vector256.Load(column + (long)t * stride), a0);
            if (t + 1 < count) a1 = Vector256.FusedMultiplyAdd(Vector256.Create(p[t + 1]), Vector256.Load(column + (long)(t + 1) * stride), a1);
            if (t + 2 < count) a2 = Vector256.FusedMultiplyAdd(Vector256.Create(p[t + 2]), Vector256.Load(column + (long)(t + 2) * stride), a2);
            ((a0 + a1) + (a2 + a3)).Store(o + i);
        }
        for (; i < width; i++)
        {
            float s0 = 0f, s1 = 0f, s2 = 0f, s3 = 0f;
            float* column = v + i;
            int t = 0;
            for (; t + 4 <= count; t += 4)
            {
                s0 = MathF.FusedMultiplyAdd(p[t], column[(long)t * stride], s0);
                s1 = MathF.FusedMultiplyAdd(p[t + 1], column[(long)(t + 1) * stride], s1);
                s2 = MathF.FusedMultiplyAdd(p[t + 2], column[(long)(t + 2) * stride], s2);
                s3 = MathF.FusedMultiplyAdd(p[t + 3], column[(long)(t + 3) * stride], s3);
            }
            if (t < count) s0 = MathF.FusedMultiplyAdd(p[t], column[(long)t * stride], s0);
            if (t + 1 < count) s1 = MathF.FusedMultiplyAdd(p[t + 1], column[(long)(t + 1) * stride], s1);
            if (t + 2 < count) s2 = MathF.FusedMultiplyAdd(p[t + 2], column[(long)(t + 2) * stride], s2);
            o[i] = (s0 + s1) + (s2 + s3);
        }
    }

    /// <summary>
    /// Copies key rows [rows, kvHeads·headSize] (row stride <paramref name="rowStride"/>) into the
    /// transposed layout <see cref="AttendOne"/> reads: [kvHead][dimension][position], positions
    /// <paramref name="firstPosition"/>… of rows <paramref name="keyStride"/> long.
    /// </summary>
    public static void TransposeKeys(ReadOnlySpan<float> rows, int rowStride, int count, int kvHeads, int headSize,
        Span<float> transposed, int keyStride, int firstPosition)
    {
        for (int r = 0; r < count; r++)
            for (int h = 0; h < kvHeads; h++)
                for (int i = 0; i < headSize; i++)
                    transposed[(h * headSize + i) * keyStride + firstPosition + r] = rows[r * rowStride + h * headSize + i];
    }

    /// <summary>
    /// Batched forward over [batch, time]: q is [B·T, heads·hs], k and v [B·T, kvHeads·hs]; fills
    /// probabilities [B, heads, T, T] (row t: t + 1 entries, zeros after) and output [B·T, heads·hs].
    /// <paramref name="keysTransposed"/> is scratch of B·kvHeads·hs·T floats.
    /// </summary>
    public static void Forward(ReadOnlySpan<float> q, ReadOnlySpan<float> k, ReadOnlySpan<float> v, Span<float> keysTransposed,
        Span<float> probabilities, Span<float> output, int batch, int time, int heads, int kvHeads, int headSize)
    {
        int kvDim = kvHeads * headSize;
        for (int b = 0; b < batch; b++)
            TransposeKeys(k.Slice(b * time * kvDim, time * kvDim), kvDim, time, kvHeads, headSize, keysTransposed.Slice(b * kvDim * time, kvDim * time), time, 0);
        unsafe
        {
            fixed (float* pq = q) fixed (float* pkt = keysTransposed) fixed (float* pv = v) fixed (float* pp = probabilities) fixed (float* po = output)
            {
                var shape = new Shape(batch, time, heads, kvHeads, headSize);
                nint qa = (nint)pq, ka = (nint)pkt, va = (nint)pv, pa = (nint)pp, oa = (nint)po;
                Compute.For(batch * heads * time, (long)time * headSize, (start, end) =>
                {
                    for (int item = start; item < end; item++)
                    {
                        int t = item % time, h = item / time % heads, b = item / time / heads;
                        int kvHead = h / (heads / kvHeads);
                        AttendOne((float*)qa + shape.QueryIndex(b, t, h), headSize,
                            (float*)ka + ((long)b * kvHeads + kvHead) * headSize * time, time,
                            (float*)va + (long)b * time * kvDim + kvHead * headSize, kvDim, t + 1,
                            (float*)pa + shape.ProbabilityIndex(b, h, t), (float*)oa + shape.QueryIndex(b, t, h));
                        // Above the diagonal stays zero: the backward pass multiplies whole rows.
                        new Span<float>((float*)pa + shape.ProbabilityIndex(b, h, t) + t + 1, time - t - 1).Clear();
                    }
                });
            }
        }
    }

    /// <summary>
    /// Adds the gradients w.r.t. q, k and v given dOutput, per (sequence, head) as four matrix
    /// products: dP = dO·Vᵀ; dS = P ⊙ (dP − rowsum(P ⊙ dP)) / √hs; dQ += dS·K; dK += dSᵀ·Q; dV += Pᵀ·dO
    /// (the causal mask is implicit: P is zero above the diagonal). Work is split by (sequence, kv
    /// head), so each dK/dV element is accumulated by one thread in a fixed order.
    /// </summary>
    public static void Backward(Gemm gemm, ReadOnlySpan<float> dOutput, ReadOnlySpan<float> q, ReadOnlySpan<float> k, ReadOnlySpan<float> v,
        ReadOnlySpan<float> probabilities, Span<float> dq, Span<float> dk, Span<float> dv,
        int batch, int time, int heads, int kvHeads, int headSize)
    {
        unsafe
        {
            fixed (float* pdo = dOutput) fixed (float* pq = q) fixed (float* pk = k) fixed (float* pv = v) fixed (float* pp = probabilities)
            fixed (float* pdq = dq) fixed (float* pdk = dk) fixed (float* pdv = dv)
            {
                var shape = new Shape(batch, time, heads, kvHeads, headSize);
                nint doa = (nint)pdo, qa = (nint)pq, ka = (nint)pk, va = (nint)pv, pa = (nint)pp, dqa = (nint)pdq, dka = (nint)pdk, dva = (nint)pdv;
                int group = heads / kvHeads, queryWidth = heads * headSize, kvDim = kvHeads * headSize, square = time * time;
                float scale = 1f / MathF.Sqrt(headSize);
                Compute.For(batch * kvHeads, 8L * group * square * headSize, (start, end) =>
                {
                    var scratch = System.Buffers.ArrayPool<float>.Shared.Rent(square);
                    var dScores = scratch.AsSpan(0, square);
                    for (int item = start; item < end; item++)
                    {
                        int b = item / kvHeads, kvHead = item % kvHeads;
                        long kvStart = shape.KvIndex(b, 0, kvHead * group);
                        var keys = new ReadOnlySpan<float>((float*)ka + kvStart, (time - 1) * kvDim + headSize);
                        var values = new ReadOnlySpan<float>((float*)va + kvStart, (time - 1) * kvDim + headSize);
                        var dKeys = new Span<float>((float*)dka + kvStart, (time - 1) * kvDim + headSize);
                        var dValues = new Span<float>((float*)dva + kvStart, (time - 1) * kvDim + headSize);
                        for (int h = kvHead * group; h < (kvHead + 1) * group; h++)
                        {
                            long queryStart = shape.QueryIndex(b, 0, h);
                            var dOut = new ReadOnlySpan<float>((float*)doa + queryStart, (time - 1) * queryWidth + headSize);
                            var query = new ReadOnlySpan<float>((float*)qa + queryStart, (time - 1) * queryWidth + headSize);
                            var dQuery = new Span<float>((float*)dqa + queryStart, (time - 1) * queryWidth + headSize);
                            var probs = new ReadOnlySpan<float>((float*)pa + shape.ProbabilityIndex(b, h, 0), square);
                            gemm.Multiply(false, true, time, time, headSize, 1f, dOut, queryWidth, values, kvDim, 0f, dScores, time);
                            for (int t = 0; t < time; t++)
                            {
                                var row = dScores.Slice(t * time, time);
                                var p = probs.Slice(t * time, t + 1);
                                float weighted = FixedOrder.Dot(p, row, t + 1);
                                for (int s2 = 0; s2 <= t; s2++)
                                    row[s2] = p[s2] * (row[s2] - weighted) * scale;
                                row[(t + 1)..].Clear();
                            }
                            gemm.Multiply(false, false, time, headSize, time, 1f, dScores, time, keys, kvDim, 1f, dQuery, queryWidth);
                            gemm.Multiply(true, false, time, headSize, time, 1f, dScores, time, query, queryWidth, 1f, dKeys, kvDim);
                            gemm.Multiply(true, false, time, headSize, time, 1f, probs, time, dOut, queryWidth, 1f, dValues, kvDim);
                        }
                    }
                    System.Buffers.ArrayPool<float>.Shared.Return(scratch);
                });
            }
        }
    }

    private readonly record struct Shape(int Batch, int Time, int Heads, int KvHeads, int HeadSize)
    {
        public int KvDim => KvHeads * HeadSize;
        public long QueryIndex(int b, int t, int h) => ((long)(b * Time + t) * Heads + h) * HeadSize;
        public long KvIndex(int b, int t, int h) => (long)(b * Time + t) * KvDim + KvOffset(h);
        public int KvOffset(int h) => h / (Heads / KvHeads) * HeadSize;
        public long ProbabilityIndex(int b, int h, int t) => ((long)(b * Heads + h) * Time + t) * Time;
    }
}
