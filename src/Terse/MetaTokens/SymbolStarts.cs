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
        var range = new WordRange(start, count);
        if (range.OneWord)
            return BitOperations.PopCount(words[range.First] & range.FirstMask & range.LastMask);
        int total = BitOperations.PopCount(words[range.First] & range.FirstMask) + BitOperations.PopCount(words[range.Last] & range.LastMask);
        for (int w = range.First + 1; w < range.Last; w++)
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
        SymbolCount -= Count(start + 1, count - 1);
        var range = new WordRange(start + 1, count - 1);
        if (range.OneWord)
        {
            words[range.First] &= ~(range.FirstMask & range.LastMask);
        }
        else
        {
            words[range.First] &= ~range.FirstMask;
            for (int w = range.First + 1; w < range.Last; w++)
                words[w] = 0;
            words[range.Last] &= ~range.LastMask;
        }
    }
}
