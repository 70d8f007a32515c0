namespace Terse.MetaTokens;

/// <summary>
/// The paper's procedure (Harvill et al. 2025), kept as the baseline:
/// 1. discovery — every distinct run of length 2..maxLength, with its non-overlapping occurrences
///    (leftmost first), kept when N·K &gt; 1 + N + K;
/// 2. swapping — runs from the longest to the shortest (ties: earliest first occurrence); of a run's
///    discovered occurrences those still entirely unreplaced are counted again, and if the
///    condition still holds they are all replaced by a new meta-token;
/// 3. the dictionary lists the meta-tokens in the order they were made.
/// Discovery runs over the suffix-tree nodes instead of enumerating substrings; the candidates and
/// counts are the same as a direct enumeration would give.
/// </summary>
internal static class GreedySelection
{
    public static (List<int[]> Definitions, int[] Body) Compress(RepeatIndex index, int maxLength, int metaBase)
    {
        var text = index.Text;
        int n = text.Length;
        var discovery = new Discovery { Sa = index.Sa, MaxLength = maxLength, Positions = new int[Math.Max(16, n)], Candidates = new List<Candidate>() };
        index.VisitNodes(ref discovery);
        var positions = discovery.Positions;
        // Longest first, then earliest first occurrence; (length, first) is unique (it names one string).
        var candidates = SortLongestFirst(discovery.Candidates, maxLength);

        var coverage = new CoverageBits(n);
        var metaAt = new int[n]; // meta-token index + 1 at the start of each replaced occurrence
        var definitions = new List<int[]>();
        var found = new List<int>();
        foreach (var c in candidates)
        {
            found.Clear();
            int lastEnd = -1;
            for (int i = c.PositionsStart; i < c.PositionsStart + c.PositionCount; i++)
            {
                int p = positions[i];
                if (p < lastEnd)
                    continue; // overlaps the previous discovered occurrence
                lastEnd = p + c.Length;
                if (!coverage.AnyCovered(p, c.Length))
                    found.Add(p);
            }
            if (!WorthReplacing(c.Length, found.Count))
                continue;
            definitions.Add(text.AsSpan(found[0], c.Length).ToArray());
            foreach (int p in found)
            {
                coverage.Cover(p, c.Length);
                metaAt[p] = definitions.Count;
            }
        }

        var body = new List<int>(n - coverage.CoveredCount + definitions.Count);
        for (int p = 0; p < n;)
        {
            int m = metaAt[p];
            if (m == 0)
            {
                body.Add(text[p++]);
            }
            else
            {
                body.Add(metaBase + m - 1);
                p += definitions[m - 1].Length;
            }
        }
        return (definitions, body.ToArray());
    }

    /// <summary>
    /// Orders candidates by length (descending), then first occurrence: a counting sort by length
    /// (at most maxLength buckets), each bucket already in order of first occurrence after a
    /// stable counting pass over the candidates sorted by first occurrence with a radix sort.
    /// </summary>
    private static Candidate[] SortLongestFirst(List<Candidate> candidates, int maxLength)
    {
        int m = candidates.Count;
        var byFirst = new Candidate[m];
        var scratch = new Candidate[m];
        candidates.CopyTo(byFirst);
        // LSD radix sort on the first occurrence, 16 bits at a time (stable).
        int maxFirst = 0;
        foreach (var c in byFirst)
            maxFirst = Math.Max(maxFirst, c.First);
        var counts = new int[1 << 16];
        for (int shift = 0; shift < 32 && (shift == 0 || (maxFirst >> shift) > 0); shift += 16)
        {
            Array.Clear(counts);
            foreach (var c in byFirst)
                counts[(c.First >> shift) & 0xFFFF]++;
            for (int b = 0, sum = 0; b < counts.Length; b++)
                (counts[b], sum) = (sum, sum + counts[b]);
            foreach (var c in byFirst)
                scratch[counts[(c.First >> shift) & 0xFFFF]++] = c;
            (byFirst, scratch) = (scratch, byFirst);
        }
        // Stable counting sort by length, longest first.
        var lengthStart = new int[maxLength + 2];
        foreach (var c in byFirst)
            lengthStart[maxLength - c.Length + 1]++;
        for (int b = 1; b < lengthStart.Length; b++)
            lengthStart[b] += lengthStart[b - 1];
        foreach (var c in byFirst)
            scratch[lengthStart[maxLength - c.Length]++] = c;
        return scratch;
    }

    /// <summary>The paper's condition: N·K tokens become K references plus a definition of 1 + N.</summary>
    public static bool WorthReplacing(long length, long count) => length * count > 1 + length + count;

    private readonly record struct Candidate(int Length, int First, int PositionsStart, int PositionCount);

    private struct Discovery : RepeatIndex.INodeVisitor
    {
        public int[] Sa;
        public int MaxLength;
        public int[] Positions;          // sorted occurrence lists of the nodes that yield candidates
        public int PositionCount;
        public List<Candidate> Candidates;

        public void Visit(int lb, int rb, int depth, int parentDepth)
        {
            int shortest = Math.Max(parentDepth + 1, 2);
            int longest = Math.Min(depth, MaxLength);
            if (shortest > longest)
                return;
            int k = rb - lb + 1;
            if (!WorthReplacing(longest, k))
                return; // N·K > 1+N+K grows with N, so no length of this node qualifies
            int start = PositionCount;
            if (start + k > Positions.Length)
                Array.Resize(ref Positions, Math.Max(Positions.Length * 2, start + k));
            var sorted = Positions.AsSpan(start, k);
            Sa.AsSpan(lb, k).CopyTo(sorted);
            SmallSort.Sort(sorted);
            int minGap = int.MaxValue;
            for (int i = 1; i < k; i++)
                minGap = Math.Min(minGap, sorted[i] - sorted[i - 1]);
            bool any = false;
            for (int length = shortest; length <= longest; length++)
            {
                // Without self-overlap every occurrence counts; otherwise count leftmost-first.
                int count = length <= minGap ? k : CountNonOverlapping(sorted, length);
                if (WorthReplacing(length, count))
                {
                    Candidates.Add(new Candidate(length, sorted[0], start, k));
                    any = true;
                }
            }
            if (any)
                PositionCount += k;
        }

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
}
