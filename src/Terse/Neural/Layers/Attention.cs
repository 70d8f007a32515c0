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
    /// One query head against the first <paramref name="count"/> key/value rows: scores by canonical
    /// dot products divided by √head_size, softmax, then the probability-weighted sum of values, each
    /// output element accumulated over positions in order with fused multiply-adds. The decoding step
    /// and the batched pass both call this, so they agree bit for bit.
    /// </summary>
    /// <param name="offset">Column of this head's slice in the key/value rows.</param>
    public static unsafe void AttendOne(ReadOnlySpan<float> query, ReadOnlySpan<float> keys, ReadOnlySpan<float> values,
        int stride, int offset, int count, Span<float> probabilities, Span<float> output)
    {
        int headSize = query.Length;
        if (count < 1 || offset + headSize > stride || keys.Length < (long)(count - 1) * stride + offset + headSize
            || values.Length < (long)(count - 1) * stride + offset + headSize || probabilities.Length < count || output.Length < headSize)
            throw new ArgumentException("attention operands do not fit the shape");
        float scale = MathF.Sqrt(headSize);
        fixed (float* q = query) fixed (float* k = keys) fixed (float* v = values) fixed (float* p = probabilities) fixed (float* o = output)
        {
            for (int t = 0; t < count; t++)
                p[t] = FixedOrder.Dot(ref *q, ref k[(long)t * stride + offset], headSize) / scale;
            Softmax.Forward(probabilities[..count]);
            WeightedSum(p, v + offset, stride, count, o, headSize);
        }
    }

    /// <summary>
    /// o[i] = Σ_t p[t]·v[t][i], accumulated t = 0, 1, … with one fused multiply-add per term; the
    /// accumulators stay in registers, and since every lane follows the same sequence the vector width
    /// does not affect the result.
    /// </summary>
    private static unsafe void WeightedSum(float* p, float* v, int stride, int count, float* o, int width)
    {
        int i = 0;
        for (; i + 16 <= width; i += 16)
        {
            var acc = Vector512<float>.Zero;
            for (int t = 0; t < count; t++)
                acc = Vector512.FusedMultiplyAdd(Vector512.Create(p[t]), Vector512.Load(v + (long)t * stride + i), acc);
            acc.Store(o + i);
        }
        for (; i + 8 <= width; i += 8)
        {
            var acc = Vector256<float>.Zero;
            for (int t = 0; t < count; t++)
                acc = Vector256.FusedMultiplyAdd(Vector256.Create(p[t]), Vector256.Load(v + (long)t * stride + i), acc);
            acc.Store(o + i);
        }
        for (; i < width; i++)
        {
            float acc = 0;
            for (int t = 0; t < count; t++)
                acc = MathF.FusedMultiplyAdd(p[t], v[(long)t * stride + i], acc);
            o[i] = acc;
        }
    }

    /// <summary>y ← fma(a, x, y) lane by lane.</summary>
    private static void FusedAxpy(float a, ReadOnlySpan<float> x, Span<float> y) =>
        System.Numerics.Tensors.TensorPrimitives.FusedMultiplyAdd(x, a, y, y);

    /// <summary>
    /// Batched forward over [batch, time]: q is [B·T, heads·hs], k and v [B·T, kvHeads·hs]; fills
    /// probabilities [B, heads, T, T] (row t holds t + 1 entries) and output [B·T, heads·hs].
    /// </summary>
    public static void Forward(ReadOnlySpan<float> q, ReadOnlySpan<float> k, ReadOnlySpan<float> v,
        Span<float> probabilities, Span<float> output, int batch, int time, int heads, int kvHeads, int headSize)
    {
        unsafe
        {
            fixed (float* pq = q) fixed (float* pk = k) fixed (float* pv = v) fixed (float* pp = probabilities) fixed (float* po = output)
            {
                var shape = new Shape(batch, time, heads, kvHeads, headSize);
                nint qa = (nint)pq, ka = (nint)pk, va = (nint)pv, pa = (nint)pp, oa = (nint)po;
                Compute.For(batch * heads * time, (long)time * headSize, (start, end) =>
                {
                    for (int item = start; item < end; item++)
                    {
                        int t = item % time, h = item / time % heads, b = item / time / heads;
                        var keys = shape.KeyRows((float*)ka, b);
                        AttendOne(new ReadOnlySpan<float>((float*)qa + shape.QueryIndex(b, t, h), headSize),
                            keys, shape.KeyRows((float*)va, b), shape.KvDim, shape.KvOffset(h), t + 1,
                            new Span<float>((float*)pa + shape.ProbabilityIndex(b, h, t), t + 1),
                            new Span<float>((float*)oa + shape.QueryIndex(b, t, h), headSize));
                    }
                });
            }
        }
    }

    /// <summary>
    /// Adds the gradients w.r.t. q, k and v given dOutput. Work is split by (sequence, kv head), so
    /// each dk/dv element is accumulated by one thread in a fixed order.
    /// </summary>
    public static void Backward(ReadOnlySpan<float> dOutput, ReadOnlySpan<float> q, ReadOnlySpan<float> k, ReadOnlySpan<float> v,
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
                float scale = 1f / MathF.Sqrt(headSize);
                int group = heads / kvHeads;
                Compute.For(batch * kvHeads, (long)group * time * time * headSize * 4, (start, end) =>
                {
                    var dScores = new float[time];
                    for (int item = start; item < end; item++)
                    {
                        int b = item / kvHeads, kvHead = item % kvHeads;
                        for (int h = kvHead * group; h < (kvHead + 1) * group; h++)
                            for (int t = 0; t < time; t++)
                            {
                                var probs = new ReadOnlySpan<float>((float*)pa + shape.ProbabilityIndex(b, h, t), t + 1);
                                var dOut = new ReadOnlySpan<float>((float*)doa + shape.QueryIndex(b, t, h), headSize);
                                var query = new ReadOnlySpan<float>((float*)qa + shape.QueryIndex(b, t, h), headSize);
                                var dQuery = new Span<float>((float*)dqa + shape.QueryIndex(b, t, h), headSize);
                                // dP[s] = dOut · v_s;  dScore[s] = P[s] (dP[s] − Σ P dP)
                                float weighted = 0;
                                for (int s = 0; s <= t; s++)
                                {
                                    var value = new ReadOnlySpan<float>((float*)va + shape.KvIndex(b, s, h), headSize);
                                    dScores[s] = FixedOrder.Dot(dOut, value);
                                    weighted += probs[s] * dScores[s];
                                    FusedAxpy(probs[s], dOut, new Span<float>((float*)dva + shape.KvIndex(b, s, h), headSize));
                                }
                                for (int s = 0; s <= t; s++)
                                {
                                    float dScore = probs[s] * (dScores[s] - weighted) * scale;
                                    FusedAxpy(dScore, new ReadOnlySpan<float>((float*)ka + shape.KvIndex(b, s, h), headSize), dQuery);
                                    FusedAxpy(dScore, query, new Span<float>((float*)dka + shape.KvIndex(b, s, h), headSize));
                                }
                            }
                    }
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
        public unsafe ReadOnlySpan<float> KeyRows(float* basePointer, int b) => new(basePointer + (long)b * Time * KvDim, Time * KvDim);
    }
}
