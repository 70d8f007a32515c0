namespace Terse.EntropyCoding;

/// <summary>
/// An adaptive order-0 model of symbols 0..Count-1 for the range coder: counts start at 1, grow by
/// 32 per use and are halved when their sum passes max(2^16, 64 · Count). No symbol ever gets more
/// than about 99.6 %, so each decoded symbol costs at least 0.005 bits, which bounds how much a
/// stream of n bytes can decode to. Integer arithmetic only: the same bits on every machine.
/// </summary>
internal sealed class AdaptiveSymbolModel
{
    private const int Increment = 32;
    private readonly int[] counts;
    private readonly int rescaleAbove;
    private int total;

    public AdaptiveSymbolModel(int symbols)
    {
        // Counts stay ≤ the rescale limit plus one increment: keep the total inside the coder's 2^28.
        if (symbols < 1 || symbols > 1 << 20)
            throw new ArgumentOutOfRangeException(nameof(symbols), symbols, "must be in 1..2^20");
        counts = new int[symbols];
        rescaleAbove = Math.Max(1 << 16, 64 * symbols);
        Reset();
    }

    public int Count => counts.Length;

    public void Reset()
    {
        Array.Fill(counts, 1);
        total = counts.Length;
    }

    /// <summary>What coding <paramref name="symbol"/> would cost now (bits).</summary>
    public double CostBits(int symbol) => Math.Log2((double)total / counts[symbol]);

    public void Encode(RangeEncoder encoder, int symbol)
    {
        if ((uint)symbol >= (uint)counts.Length)
            throw new ArgumentOutOfRangeException(nameof(symbol), symbol, $"symbol outside 0..{counts.Length - 1}");
        uint cumulative = 0;
        for (int s = 0; s < symbol; s++)
            cumulative += (uint)counts[s];
        encoder.Encode(cumulative, (uint)counts[symbol], (uint)total);
        Update(symbol);
    }

    public int Decode(ref RangeDecoder decoder)
    {
        uint target = decoder.GetTarget((uint)total);
        int symbol = 0;
        uint cumulative = 0;
        while (cumulative + (uint)counts[symbol] <= target)
            cumulative += (uint)counts[symbol++];
        decoder.Consume(cumulative, (uint)counts[symbol]);
        decoder.CheckNotBeyondEnd();
        Update(symbol);
        return symbol;
    }

    private void Update(int symbol)
    {
        counts[symbol] += Increment;
        total += Increment;
        if (total <= rescaleAbove)
            return;
        total = 0;
        for (int s = 0; s < counts.Length; s++)
        {
            counts[s] = (counts[s] + 1) / 2;
            total += counts[s];
        }
    }
}
