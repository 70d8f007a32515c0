using System.Numerics;

namespace Terse.EntropyCoding;

/// <summary>
/// A cumulative frequency table over symbols 0..Count-1 with a fixed total: symbol s owns
/// <c>[Cumulative(s), Cumulative(s) + Frequency(s))</c>. Built from model logits by
/// <see cref="SetFromLogits"/>, which is exactly reproducible on any machine, so the encoder and the
/// decoder build the same table from the same logits.
/// </summary>
internal sealed class FrequencyTable
{
    /// <summary>The total used for model distributions: 2^28 (see <see cref="RangeCoding"/> for why).</summary>
    public const int DefaultTotalBits = RangeCoding.MaxTotalBits;

    /// <summary>The largest vocabulary: every token needs frequency ≥ 1 and most of the total must stay for the model.</summary>
    public const int MaxSymbols = 1 << 24;

    private readonly int[] cumulative;
    private readonly ulong[] weights;

    public FrequencyTable(int symbols, int totalBits = DefaultTotalBits)
    {
        if (totalBits < 1 || totalBits > RangeCoding.MaxTotalBits)
            throw new ArgumentOutOfRangeException(nameof(totalBits), totalBits, $"must be in 1..{RangeCoding.MaxTotalBits}");
        if (symbols < 1 || symbols > MaxSymbols || symbols > (1 << totalBits) / 2)
            throw new ArgumentOutOfRangeException(nameof(symbols), symbols, $"must be in 1..min({MaxSymbols}, 2^{totalBits}/2)");
        Total = 1 << totalBits;
        cumulative = new int[symbols + 1];
        weights = new ulong[symbols];
        SetUniform();
    }

    public int Count => weights.Length;
    public int Total { get; }

    public int Cumulative(int symbol) => cumulative[symbol];
    public int Frequency(int symbol) => cumulative[symbol + 1] - cumulative[symbol];

    /// <summary>The symbol whose interval holds <paramref name="target"/> (in [0, Total)).</summary>
    public int FindSymbol(uint target)
    {
        // Largest s with cumulative[s] <= target; frequencies are ≥ 1, so s is unique.
        int lo = 0, hi = Count - 1;
        while (lo < hi)
        {
            int mid = (int)(((uint)lo + (uint)hi + 1) >> 1);
            if ((uint)cumulative[mid] <= target) lo = mid;
            else hi = mid - 1;
        }
        return lo;
    }

    public void Encode(RangeEncoder encoder, int symbol)
    {
        if ((uint)symbol >= (uint)Count)
            throw new ArgumentOutOfRangeException(nameof(symbol), symbol, $"symbol outside 0..{Count - 1}");
        encoder.Encode((uint)cumulative[symbol], (uint)Frequency(symbol), (uint)Total);
    }

    public int Decode(ref RangeDecoder decoder)
    {
        int symbol = FindSymbol(decoder.GetTarget((uint)Total));
        decoder.Consume((uint)cumulative[symbol], (uint)Frequency(symbol));
        return symbol;
    }

    /// <summary>−log2 of the probability this table gives <paramref name="symbol"/>: what coding it costs.</summary>
    public double CostBits(int symbol) => Math.Log2((double)Total / Frequency(symbol));

    public void SetUniform()
    {
        weights.AsSpan().Fill(OneInFixedPoint);
        ScaleWeights(weights, 0, 0);
    }

    /// <summary>Sets the table from explicit positive frequencies that must add up to <see cref="Total"/>.</summary>
    public void SetFrequencies(ReadOnlySpan<int> frequencies)
    {
        if (frequencies.Length != Count)
            throw new ArgumentException($"expected {Count} frequencies, got {frequencies.Length}", nameof(frequencies));
        long sum = 0;
        for (int i = 0; i < frequencies.Length; i++)
        {
            if (frequencies[i] < 1)
                throw new ArgumentException($"frequency of symbol {i} is {frequencies[i]}; every symbol needs ≥ 1", nameof(frequencies));
            sum += frequencies[i];
            cumulative[i + 1] = (int)Math.Min(sum, int.MaxValue);
        }
        if (sum != Total)
            throw new ArgumentException($"frequencies add up to {sum}, not {Total}", nameof(frequencies));
    }

    /// <summary>
    /// Turns logits into frequencies proportional to softmax(logits), every symbol keeping ≥ 1.
    /// Bit-exact on every machine: the exponential is <see cref="FixedPointExp2"/> (IEEE basic
    /// operations only, no library exp), and the scaling to the total is integer arithmetic.
    /// Non-finite logits are handled deterministically: NaN and −∞ get the floor frequency; if the
    /// largest logit is +∞ or every logit is NaN, the table is uniform.
    /// </summary>
    public void SetFromLogits(ReadOnlySpan<float> logits) => SetFromLogits(logits, 0);

    /// <summary>
    /// As <see cref="SetFromLogits(ReadOnlySpan{float})"/>, with one more symbol after the tokens
    /// (index <c>logits.Length</c>, the escape) that gets exactly <paramref name="escapeFrequency"/>;
    /// the tokens share the rest. With 0 there is no extra symbol.
    /// </summary>
    public void SetFromLogits(ReadOnlySpan<float> logits, int escapeFrequency)
    {
        int tokens = Count - (escapeFrequency > 0 ? 1 : 0);
        if (logits.Length != tokens)
            throw new ArgumentException($"expected {tokens} logits, got {logits.Length}", nameof(logits));
        if (escapeFrequency < 0 || escapeFrequency > Total / 2)
            throw new ArgumentOutOfRangeException(nameof(escapeFrequency), escapeFrequency, $"must be in 0..{Total / 2}");
        if (escapeFrequency > 0)
            weights[tokens] = 0;
        float max = float.NegativeInfinity;
        int argmax = -1;
        for (int i = 0; i < logits.Length; i++)
        {
            if (logits[i] > max || (argmax < 0 && logits[i] == max))
            {
                max = logits[i];
                argmax = i;
            }
        }
        if (argmax < 0 || !float.IsFinite(max))
        {
            weights.AsSpan(0, tokens).Fill(OneInFixedPoint);
            argmax = 0;
        }
        else
        {
            ComputeWeights(logits, max, weights.AsSpan(0, tokens));
        }
        ScaleWeights(weights.AsSpan(0, tokens), argmax, escapeFrequency);
    }

    /// <summary>
    /// Sets the table from 32-bit fixed-point weights of the tokens (a mixer's
    /// <see cref="FixedPointExp2"/> of its scores), with the escape symbol after them as in
    /// <see cref="SetFromLogits(ReadOnlySpan{float}, int)"/>. The weight of <paramref name="largest"/>
    /// must be 2^32 (1.0) and none larger: the largest gets what the floors leave, every token ≥ 1.
    /// </summary>
    public void SetFromWeights(ReadOnlySpan<ulong> tokenWeights, int largest, int escapeFrequency)
    {
        int tokens = Count - (escapeFrequency > 0 ? 1 : 0);
        if (tokenWeights.Length != tokens)
            throw new ArgumentException($"expected {tokens} weights, got {tokenWeights.Length}", nameof(tokenWeights));
        if (escapeFrequency < 0 || escapeFrequency > Total / 2)
            throw new ArgumentOutOfRangeException(nameof(escapeFrequency), escapeFrequency, $"must be in 0..{Total / 2}");
        if ((uint)largest >= (uint)tokens || tokenWeights[largest] != OneInFixedPoint)
            throw new ArgumentException("the largest weight must be 2^32", nameof(largest));
        ScaleWeights(tokenWeights, largest, escapeFrequency);
    }

    private const ulong OneInFixedPoint = 1UL << 32;
    private const double Log2E = 1.4426950408889634;
    private const double Ln2 = 0.6931471805599453;

    /// <summary>Below this base-2 exponent a weight is 0 in 32-bit fixed point.</summary>
    private const double SmallestExponent = -34.0;

    // 1/k! for k = 9..0: the Taylor series of e^t, |t| ≤ ln2/2, to degree 9 (remainder < 0.35^10/10! ≈ 8e-12).
    private const double C9 = 1.0 / 362880, C8 = 1.0 / 40320, C7 = 1.0 / 5040, C6 = 1.0 / 720, C5 = 1.0 / 120,
        C4 = 1.0 / 24, C3 = 1.0 / 6, C2 = 0.5, C1 = 1.0, C0 = 1.0;

    /// <summary>
    /// weight_i = FixedPointExp2((logit_i − max) · log2 e). The vector path performs exactly the
    /// scalar path's IEEE operations lane by lane (no fused multiply-add: C# never contracts, and
    /// the code never asks for it), so both give the same bits; a test checks this.
    /// </summary>
    internal static void ComputeWeights(ReadOnlySpan<float> logits, float max, Span<ulong> weights)
    {
        int i = 0;
        if (Vector.IsHardwareAccelerated && logits.Length >= Vector<float>.Count)
        {
            var maxVector = new Vector<double>(max);
            var log2e = new Vector<double>(Log2E);
            var smallest = new Vector<double>(SmallestExponent);
            var ln2 = new Vector<double>(Ln2);
            var exponentBias = new Vector<long>(1023 + 32);
            int lastStart = logits.Length - Vector<float>.Count;
            for (; i <= lastStart; i += Vector<float>.Count)
            {
                Vector.Widen(new Vector<float>(logits[i..]), out var lower, out var upper);
                ComputeWeights(lower, maxVector, log2e, smallest, ln2, exponentBias).CopyTo(weights[i..]);
                ComputeWeights(upper, maxVector, log2e, smallest, ln2, exponentBias).CopyTo(weights[(i + Vector<double>.Count)..]);
            }
        }
        for (; i < logits.Length; i++)
            weights[i] = FixedPointExp2(((double)logits[i] - max) * Log2E);
    }

    private static Vector<ulong> ComputeWeights(Vector<double> logit, Vector<double> max, Vector<double> log2e,
        Vector<double> smallest, Vector<double> ln2, Vector<long> exponentBias)
    {
        var x = (logit - max) * log2e;
        var valid = Vector.GreaterThanOrEqual(x, smallest);              // false for NaN
        x = Vector.ConditionalSelect(valid, x, smallest);
        var whole = Vector.Round(x);
        var t = (x - whole) * ln2;
        var p = new Vector<double>(C9);
        p = p * t + new Vector<double>(C8);
        p = p * t + new Vector<double>(C7);
        p = p * t + new Vector<double>(C6);
        p = p * t + new Vector<double>(C5);
        p = p * t + new Vector<double>(C4);
        p = p * t + new Vector<double>(C3);
        p = p * t + new Vector<double>(C2);
        p = p * t + new Vector<double>(C1);
        p = p * t + new Vector<double>(C0);
        var scale = Vector.AsVectorDouble((Vector.ConvertToInt64(whole) + exponentBias) << 52);
        var weight = Vector.ConvertToUInt64(p * scale);
        return Vector.ConditionalSelect(Vector.AsVectorUInt64(valid), weight, Vector<ulong>.Zero);
    }

    /// <summary>
    /// round-down(2^x · 2^32) for x ≤ 0 (0 below 2^-34, and for NaN), relative error below 1e-11.
    /// Written with IEEE basic operations only, so the result is identical on every CPU and runtime,
    /// unlike Math.Exp, whose last bits depend on the C library.
    /// </summary>
    internal static ulong FixedPointExp2(double x)
    {
        if (!(x >= SmallestExponent))
            return 0;
        double whole = Math.Round(x);       // ties to even: exact
        double t = (x - whole) * Ln2;       // |t| ≤ ln2/2, e^t = 2^(x - whole)
        double p = C9;
        p = p * t + C8;
        p = p * t + C7;
        p = p * t + C6;
        p = p * t + C5;
        p = p * t + C4;
        p = p * t + C3;
        p = p * t + C2;
        p = p * t + C1;
        p = p * t + C0;
        // 2^(32 + whole) from its exponent bits: an exact power of two, so the product rounds once.
        double scale = BitConverter.Int64BitsToDouble(((long)whole + 1023 + 32) << 52);
        return (ulong)(p * scale);
    }

    /// <summary>
    /// For the tokens (the first symbols), frequency_i = 1 + ⌊weight_i · K / 2^64⌋ with
    /// K = ⌊spare · 2^64 / Σweight⌋ and spare = Total − escape − tokens, which is at most
    /// ⌊weight_i · spare / Σweight⌋; what the floors leave over goes to <paramref name="largest"/>,
    /// and the escape symbol (if any) gets <paramref name="escapeFrequency"/>, so frequencies add up
    /// to Total exactly. Integer-only, with one division per table.
    /// </summary>
    private void ScaleWeights(ReadOnlySpan<ulong> tokenWeights, int largest, int escapeFrequency)
    {
        int tokens = tokenWeights.Length;
        ulong sum = 0;
        foreach (var w in tokenWeights)
            sum += w;                                   // ≤ 2^24 · 2^32: no overflow
        ulong spare = (ulong)(Total - escapeFrequency - tokens);
        // Some weight is 2^32 (the top logit's, or all of them when uniform), so sum ≥ 2^32 and
        // K ≤ spare · 2^32 < 2^60; weight · K < 2^92, whose high 64 bits are exact.
        ulong k = (ulong)(((UInt128)spare << 64) / sum);
        long assigned = escapeFrequency;
        var frequencies = cumulative.AsSpan(1);
        for (int i = 0; i < tokenWeights.Length; i++)
        {
            int frequency = 1 + (int)Math.BigMul(tokenWeights[i], k, out _);
            frequencies[i] = frequency;                 // frequencies for now; prefix sums below
            assigned += frequency;
        }
        if (escapeFrequency > 0)
            frequencies[tokens] = escapeFrequency;
        frequencies[largest] += (int)(Total - assigned);
        cumulative[0] = 0;
        for (int i = 1; i < cumulative.Length; i++)
            cumulative[i] += cumulative[i - 1];
    }
}
