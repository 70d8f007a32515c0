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
        for (int i = 0; i < weights.Length; i++)
            weights[i] = 1;
        SetFromWeights(0);
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
    public void SetFromLogits(ReadOnlySpan<float> logits)
    {
        if (logits.Length != Count)
            throw new ArgumentException($"expected {Count} logits, got {logits.Length}", nameof(logits));
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
            SetUniform();
            return;
        }
        for (int i = 0; i < logits.Length; i++)
        {
            // (double)a - (double)b and the product are correctly rounded IEEE operations: the same everywhere.
            double exponent = ((double)logits[i] - max) * Log2E;
            weights[i] = FixedPointExp2(exponent);
        }
        SetFromWeights(argmax);
    }

    private const double Log2E = 1.4426950408889634;
    private const double Ln2 = 0.6931471805599453;

    /// <summary>Below this base-2 exponent a weight is 0 in 32-bit fixed point.</summary>
    private const double SmallestExponent = -34.0;

    /// <summary>
    /// round-down(2^x · 2^32) for x ≤ 0 (0 below 2^-34, and for NaN), relative error below 1e-12.
    /// Written with IEEE basic operations only (C# never fuses a*b+c on its own), so the result is
    /// identical on every CPU and runtime, unlike Math.Exp, whose last bits depend on the C library.
    /// </summary>
    internal static ulong FixedPointExp2(double x)
    {
        if (!(x >= SmallestExponent))
            return 0;
        if (x > 0)
            x = 0;
        double whole = Math.Round(x);       // ties to even: exact
        double t = (x - whole) * Ln2;       // |t| ≤ ln2/2, e^t = 2^(x - whole)
        // Taylor series of e^t to degree 11: the remainder is below 0.35^12/12! ≈ 6e-15.
        double p = 1.0 / 39916800;
        p = p * t + 1.0 / 3628800;
        p = p * t + 1.0 / 362880;
        p = p * t + 1.0 / 40320;
        p = p * t + 1.0 / 5040;
        p = p * t + 1.0 / 720;
        p = p * t + 1.0 / 120;
        p = p * t + 1.0 / 24;
        p = p * t + 1.0 / 6;
        p = p * t + 0.5;
        p = p * t + 1.0;
        p = p * t + 1.0;
        // 2^(32 + whole) built from its exponent bits: an exact power of two, so the product rounds once.
        double scale = BitConverter.Int64BitsToDouble((long)(1023 + 32 + (int)whole) << 52);
        return (ulong)(p * scale);
    }

    /// <summary>
    /// frequency_i = 1 + ⌊weight_i · (Total − Count) / Σweight⌋, and what the floors leave over goes
    /// to <paramref name="largest"/>, so frequencies add up to Total exactly. Integer-only.
    /// </summary>
    private void SetFromWeights(int largest)
    {
        ulong sum = 0;
        foreach (var w in weights)
            sum += w;                                   // ≤ 2^24 · 2^32: no overflow
        ulong spare = (ulong)(Total - Count);
        long assigned = 0;
        for (int i = 0; i < weights.Length; i++)
        {
            // weight ≤ 2^32 and spare < 2^28: the product fits in 60 bits.
            int frequency = 1 + (int)(weights[i] * spare / sum);
            cumulative[i + 1] = frequency;              // frequencies for now; prefix sums below
            assigned += frequency;
        }
        cumulative[largest + 1] += (int)(Total - assigned);
        cumulative[0] = 0;
        for (int i = 1; i < cumulative.Length; i++)
            cumulative[i] += cumulative[i - 1];
    }
}
