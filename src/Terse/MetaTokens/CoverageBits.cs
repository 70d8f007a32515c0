namespace Terse.MetaTokens;

/// <summary>Which positions of a sequence are already covered by a chosen run; ranges are tested a word at a time.</summary>
internal sealed class CoverageBits(int length)
{
    private readonly ulong[] words = new ulong[(length + 63) / 64 + 1];

    public int CoveredCount { get; private set; }

    public bool AnyCovered(int start, int count)
    {
        if (count <= 64)
        {
            // The 64 bits from start, from two neighbouring words (the second shift in two steps,
            // as a shift by 64 would not clear): one test, no branches on the layout.
            int w = start >> 6, b = start & 63;
            ulong window = (words[w] >> b) | ((words[w + 1] << 1) << (63 - b));
            return (window & (~0UL >> (64 - count))) != 0;
        }
        var range = new WordRange(start, count);
        if (range.OneWord)
            return (words[range.First] & range.FirstMask & range.LastMask) != 0;
        if ((words[range.First] & range.FirstMask) != 0 || (words[range.Last] & range.LastMask) != 0)
            return true;
        for (int w = range.First + 1; w < range.Last; w++)
            if (words[w] != 0)
                return true;
        return false;
    }

    /// <summary>Marks a range that is not covered yet (callers test with <see cref="AnyCovered"/> first).</summary>
    public void Cover(int start, int count)
    {
        var range = new WordRange(start, count);
        if (range.OneWord)
        {
            words[range.First] |= range.FirstMask & range.LastMask;
        }
        else
        {
            words[range.First] |= range.FirstMask;
            for (int w = range.First + 1; w < range.Last; w++)
                words[w] = ~0UL;
            words[range.Last] |= range.LastMask;
        }
        CoveredCount += count;
    }
}
