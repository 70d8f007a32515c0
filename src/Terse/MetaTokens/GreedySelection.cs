using System.Runtime.InteropServices;

namespace Terse.MetaTokens;

/// <summary>
/// The paper's procedure (Harvill et al. 2025), kept as the baseline:
/// 1. discovery — every distinct run of length 2..maxLength, with its non-overlapping occurrences
///    (leftmost first), kept when N·K &gt; 1 + N + K;
/// 2. swapping — runs from the longest to the shortest (ties: earliest first occurrence); of a run's
///    discovered occurrences those still entirely unreplaced are counted again, and if the
///    condition still holds they are all replaced by a new meta-token;
/// 3. the dictionary lists the meta-tokens in the order they were made.
/// Discovery reads the suffix-tree nodes (<see cref="RepeatCandidates"/>) instead of enumerating
/// substrings; the candidates and counts are the same as a direct enumeration would give.
/// </summary>
internal static class GreedySelection
{
    /// <param name="maxLength">The paper's maximum run length; at most <paramref name="candidates"/>' maximum.</param>
    public static (List<int[]> Definitions, int[] Body) Compress(RepeatCandidates candidates, int maxLength, int metaBase)
    {
        if (maxLength > candidates.MaxLength)
            throw new ArgumentException($"Greedy's maximum run length {maxLength} is above the candidates' {candidates.MaxLength}", nameof(maxLength));
        var text = candidates.Index.Text;
        int n = text.Length;
        var (order, lengthStart) = LongestFirst(candidates, maxLength);

        var coverage = new CoverageBits(n);
        var metaAt = new int[n]; // meta-token index + 1 at the start of each replaced occurrence
        var definitions = new List<int[]>();
        var definitionLengths = new List<int>();
        var found = new int[16];
        int replaced = 0;
        for (int length = maxLength; length >= 2; length--)
        {
            int needed = FewestUses(length);
            for (int e = lengthStart[length]; e < lengthStart[length - 1]; e++)
            {
                // The entries lie in order but their occurrence lists anywhere: ask ahead.
                if (e + PrefetchAhead < order.Length)
                    candidates.Prefetch(order[e + PrefetchAhead].Handle);
                var entry = order[e];
                var positions = candidates.Positions(entry.Handle, entry.Count);
                if (found.Length < positions.Length)
                    found = new int[Math.Max(positions.Length, 2 * found.Length)];
                int free = 0;
                if (entry.Handle < 0)
                {
                    // Occurrences that may overlap come sorted: keep the discovered ones, leftmost first.
                    int lastEnd = -1;
                    foreach (int p in positions)
                    {
                        if (p < lastEnd)
                            continue;
                        lastEnd = p + length;
                        if (!coverage.AnyCovered(p, length))
                            found[free++] = p;
                    }
                }
                else
                {
                    for (int i = 0; i < positions.Length; i++)
                    {
                        if (!coverage.AnyCovered(positions[i], length))
                            found[free++] = positions[i];
                        else if (free + positions.Length - 1 - i < needed)
                            break; // too few can still be free
                    }
                }
                if (free < needed)
                    continue;
                definitions.Add(text.AsSpan(found[0], length).ToArray());
                definitionLengths.Add(length);
                replaced += free;
                foreach (int p in found.AsSpan(0, free))
                {
                    coverage.Cover(p, length);
                    metaAt[p] = definitions.Count;
                }
            }
        }

        var body = new int[n - coverage.CoveredCount + replaced];
        var lengths = CollectionsMarshal.AsSpan(definitionLengths);
        for (int p = 0, at = 0; p < n;)
        {
            int m = metaAt[p];
            if (m == 0)
            {
                body[at++] = text[p++];
            }
            else
            {
                body[at++] = metaBase + m - 1;
                p += lengths[m - 1];
            }
        }
        return (definitions, body);
    }

    private const int PrefetchAhead = 8;

    /// <summary>A candidate's occurrence list (see <see cref="RepeatCandidates.PositionsHandle"/>).</summary>
    private readonly record struct Entry(int Handle, int Count);

    /// <summary>A node that yields candidates, with what ordering them needs.</summary>
    private readonly record struct Discovered(int Handle, int Count, int Shortest, int Longest);

    /// <summary>
    /// The discovered candidates in the paper's order: by length, longest first, then by first
    /// occurrence ((length, first occurrence) names one string, so the order is total). Those of
    /// length L are <c>order[lengthStart[L]..lengthStart[L − 1])</c>. The nodes are radix-sorted
    /// by first occurrence once, then dealt into one bucket per length (a stable counting sort).
    /// </summary>
    private static (Entry[] Order, int[] LengthStart) LongestFirst(RepeatCandidates candidates, int maxLength)
    {
        var firsts = new ulong[candidates.Count];
        var discovered = new Discovered[candidates.Count];
        int count = 0;
        for (int c = 0; c < candidates.Count; c++)
        {
            ref readonly var node = ref candidates[c];
            if (node.ParentDepth >= maxLength || !WorthReplacing(Math.Min(node.Length, maxLength), node.Count))
                continue;
            firsts[count] = (ulong)node.First;
            discovered[count++] = new Discovered(candidates.PositionsHandle(c), node.Count, node.ShortestLength, Math.Min(node.Length, maxLength));
        }
        SmallSort.SortByKey(firsts.AsSpan(0, count), discovered.AsSpan(0, count));

        var lengthStart = new int[maxLength + 2]; // bucket of length L: [lengthStart[L], lengthStart[L − 1])
        var lengths = new int[maxLength + 1];
        foreach (var d in discovered.AsSpan(0, count))
            foreach (int length in lengths.AsSpan(0, QualifyingLengths(candidates, d, lengths)))
                lengthStart[length]++;
        // Buckets from the longest length down: the start of L is the count of all longer lengths.
        int sum = 0;
        for (int length = maxLength + 1; length >= 0; length--)
            (lengthStart[length], sum) = (sum, sum + lengthStart[length]);
        var order = new Entry[sum];
        var next = (int[])lengthStart.Clone();
        foreach (var d in discovered.AsSpan(0, count))
        {
            var entry = new Entry(d.Handle, d.Count);
            foreach (int length in lengths.AsSpan(0, QualifyingLengths(candidates, d, lengths)))
                order[next[length]++] = entry;
        }
        return (order, lengthStart);
    }

    /// <summary>The fewest uses with which a run of <paramref name="length"/> meets the condition (also: the shortest length for that many uses).</summary>
    private static int FewestUses(int length) => length < 2 ? int.MaxValue : (length + 1) / (length - 1) + 1;

    /// <summary>Writes the lengths at which a node meets the condition; returns how many.</summary>
    private static int QualifyingLengths(RepeatCandidates candidates, in Discovered node, Span<int> lengths)
    {
        int found = 0;
        if (node.Handle >= 0)
        {
            // No overlap: all K occurrences count at every length, and N·K > 1 + N + K holds from
            // a length on (the condition is symmetric in N and K).
            for (int length = Math.Max(node.Shortest, FewestUses(node.Count)); length <= node.Longest; length++)
                lengths[found++] = length;
            return found;
        }
        var sorted = candidates.Positions(node.Handle, node.Count);
        int minGap = int.MaxValue;
        for (int i = 1; i < sorted.Length; i++)
            minGap = Math.Min(minGap, sorted[i] - sorted[i - 1]);
        for (int length = node.Shortest; length <= node.Longest; length++)
        {
            // Without self-overlap every occurrence counts; otherwise count leftmost-first.
            int count = length <= minGap ? node.Count : CountNonOverlapping(sorted, length);
            if (WorthReplacing(length, count))
                lengths[found++] = length;
        }
        return found;
    }

    /// <summary>The paper's condition: N·K tokens become K references plus a definition of 1 + N.</summary>
    public static bool WorthReplacing(long length, long count) => length * count > 1 + length + count;

    private static int CountNonOverlapping(ReadOnlySpan<int> sorted, int length)
    {
        int count = 0, lastEnd = -1;
        foreach (int p in sorted)
        {
            if (p >= lastEnd)
            {
                count++;
                lastEnd = p + length;
            }
        }
        return count;
    }
}
