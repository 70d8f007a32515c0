namespace Terse.MetaTokens;

/// <summary>
/// The 64-bit words a bit range [start, start + count) touches, and the masks of its bits in the
/// first and last of them (count ≥ 1). Shared by the bitsets over sequence positions.
/// </summary>
internal readonly struct WordRange
{
    public readonly int First, Last;
    public readonly ulong FirstMask, LastMask;

    public WordRange(int start, int count)
    {
        int end = start + count - 1; // inclusive
        First = start >> 6;
        Last = end >> 6;
        FirstMask = ~0UL << (start & 63);
        LastMask = ~0UL >> (63 - (end & 63));
    }

    public bool OneWord => First == Last;
}
