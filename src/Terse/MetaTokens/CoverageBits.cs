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
        int end = start + count; // exclusive
        int first = start >> 6, last = (end - 1) >> 6;
        ulong firstMask = ~0UL << (start & 63);
        ulong lastMask = ~0UL >> (63 - ((end - 1) & 63));
        if (first == last)
            return (words[first] & firstMask & lastMask) != 0;
        if ((words[first] & firstMask) != 0 || (words[last] & lastMask) != 0)
            return true;
        for (int w = first + 1; w < last; w++)
            if (words[w] != 0)
                return true;
        return false;
    }

    /// <summary>Marks a range that is not covered yet (callers test with <see cref="AnyCovered"/> first).</summary>
    public void Cover(int start, int count)
    {
        int end = start + count;
        int first = start >> 6, last = (end - 1) >> 6;
        ulong firstMask = ~0UL << (start & 63);
        ulong lastMask = ~0UL >> (63 - ((end - 1) & 63));
        if (first == last)
        {
            words[first] |= firstMask & lastMask;
        }
        else
        {
            words[first] |= firstMask;
            for (int w = first + 1; w < last; w++)
                words[w] = ~0UL;
            words[last] |= lastMask;
        }
        CoveredCount += count;
    }
}
