using System.Numerics;

namespace Terse.MetaTokens;

/// <summary>
/// The current body over the original positions: bit i is set when a body symbol starts at i (a
/// literal, or the first position of a chosen run's occurrence); position n is always set. A span
/// [p, p + L) can be replaced when bits p and p + L are set, and it then holds as many body
/// symbols as it has set bits.
/// </summary>
internal sealed class SymbolStarts
{
    private readonly ulong[] words;
    private readonly int length;

    public SymbolStarts(int length)
    {
        this.length = length;
        words = new ulong[length / 64 + 1];
        Array.Fill(words, ~0UL);
        int tail = (length + 1) & 63; // bits 0..length are meaningful
        if (tail != 0)
            words[^1] = (1UL << tail) - 1;
        SymbolCount = length;
    }

    /// <summary>Body symbols now (set bits below n).</summary>
    public int SymbolCount { get; private set; }

    public bool IsStart(int i) => (words[i >> 6] & (1UL << (i & 63))) != 0;

    /// <summary>Set bits in [start, start + count).</summary>
    public int Count(int start, int count)
    {
        int end = start + count;
        int first = start >> 6, last = (end - 1) >> 6;
        ulong firstMask = ~0UL << (start & 63);
        ulong lastMask = ~0UL >> (63 - ((end - 1) & 63));
        if (first == last)
            return BitOperations.PopCount(words[first] & firstMask & lastMask);
        int total = BitOperations.PopCount(words[first] & firstMask) + BitOperations.PopCount(words[last] & lastMask);
        for (int w = first + 1; w < last; w++)
            total += BitOperations.PopCount(words[w]);
        return total;
    }

    /// <summary>The largest set position in [from, to], or −1.</summary>
    public int LastStartIn(int from, int to)
    {
        to = Math.Min(to, length);
        if (to < from)
            return -1;
        int w = to >> 6;
        ulong bits = words[w] & (~0UL >> (63 - (to & 63)));
        int firstWord = from >> 6;
        while (true)
        {
            if (w == firstWord)
                bits &= ~0UL << (from & 63);
            if (bits != 0)
                return w * 64 + 63 - BitOperations.LeadingZeroCount(bits);
            if (--w < firstWord)
                return -1;
            bits = words[w];
        }
    }

    /// <summary>Makes [start, start + count) one body symbol (its inner starts are cleared).</summary>
    public void Merge(int start, int count)
    {
        if (count <= 1)
            return;
        int from = start + 1, end = start + count;
        SymbolCount -= Count(from, count - 1);
        int first = from >> 6, last = (end - 1) >> 6;
        ulong firstMask = ~0UL << (from & 63);
        ulong lastMask = ~0UL >> (63 - ((end - 1) & 63));
        if (first == last)
        {
            words[first] &= ~(firstMask & lastMask);
        }
        else
        {
            words[first] &= ~firstMask;
            for (int w = first + 1; w < last; w++)
                words[w] = 0;
            words[last] &= ~lastMask;
        }
    }
}
