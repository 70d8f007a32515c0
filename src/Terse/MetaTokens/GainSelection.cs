namespace Terse.MetaTokens;

/// <summary>
/// A run chosen to become a meta-token: the string of <paramref name="Length"/> symbols that every
/// suffix in <c>Sa[Lb..Rb]</c> starts with, so those are all its (possibly overlapping) occurrences.
/// </summary>
internal readonly record struct RepeatedRun(int Lb, int Rb, int Length);

/// <summary>
/// The "gain" strategy's selection: choose runs in order of tokens saved, re-counting as it goes.
/// A run of L symbols used K times without overlap turns K·L body symbols into K references and
/// adds a definition costing 1 + (its length in base tokens), so it saves K·(L−1) − 1 − E where E is
/// its expanded length (E = L on plain tokens: (K−1)(L−1) − 2, the paper's N·K &gt; 1+N+K).
/// Every suffix-tree node is a candidate, keyed by an upper bound on its saving; the best is taken
/// lazily: candidates are visited in decreasing order of their key, each re-counted against the
/// positions still free and accepted only if it still beats the next key; otherwise it goes into a
/// heap with its re-counted saving as the new key. Savings only shrink as positions get covered,
/// so each accepted run is one of the largest current savings.
/// </summary>
internal sealed class GainSelection
{
    private readonly RepeatIndex index;
    private readonly long[]? expandedPrefix; // expandedPrefix[p] = base tokens the first p symbols stand for; null: one each
    private readonly int maxLength;

    private GainSelection(RepeatIndex index, int maxLength, long[]? expandedPrefix)
    {
        this.index = index;
        this.maxLength = maxLength;
        this.expandedPrefix = expandedPrefix;
    }

    /// <param name="expandedLengths">
    /// For a sequence that already contains meta-tokens: how many base tokens each symbol stands
    /// for (a definition is written out in base tokens). Null when every symbol is one token, or
    /// when definitions may use meta-tokens (hierarchical), where a definition costs its symbols.
    /// </param>
    public static List<RepeatedRun> Select(RepeatIndex index, int maxLength, Func<int, int>? expandedLengths = null)
    {
        long[]? prefix = null;
        if (expandedLengths is not null)
        {
            var text = index.Text;
            prefix = new long[text.Length + 1];
            for (int i = 0; i < text.Length; i++)
                prefix[i + 1] = prefix[i] + expandedLengths(text[i]);
        }
        return new GainSelection(index, maxLength, prefix).Run();
    }

    /// <summary>Tokens saved by a run used <paramref name="uses"/> times whose definition costs <paramref name="definitionCost"/> tokens.</summary>
    public static long Saving(long uses, int length, long definitionCost) => uses * (length - 1) - definitionCost;

    /// <summary>Tokens saved by a run of plain tokens: (uses−1)(length−1) − 2.</summary>
    public static long Saving(long uses, int length) => Saving(uses, length, 1 + length);

    private long DefinitionCost(int position, int length) =>
        1 + (expandedPrefix is null ? length : expandedPrefix[position + length] - expandedPrefix[position]);

    private List<RepeatedRun> Run()
    {
        var collector = new CandidateCollector { Found = new List<Candidate>(), MaxLength = maxLength, Selection = this };
        index.VisitNodes(ref collector);
        var candidates = collector.Found;

        var sa = index.Sa;
        int n = index.Text.Length;
        var coverage = new CoverageBits(n);
        // Candidates are visited in order of their first key straight from a sorted array (memory
        // friendly: most are looked at once); only those pushed back after a re-count go to a heap.
        var ordered = candidates.ToArray();
        var firstKeys = new long[ordered.Length];
        for (int c = 0; c < ordered.Length; c++)
            firstKeys[c] = -KeyOf(UpperBound(ordered[c]), ordered[c].Length);
        Array.Sort(firstKeys, ordered);
        var heap = new MaxHeap(1024);
        int nextFirst = 0;

        // Occurrence lists, sorted, stored on first evaluation in one pool; they only shrink.
        var pool = new int[Math.Max(1024, n)];
        int poolUsed = 0;
        var poolStart = new int[ordered.Length];
        Array.Fill(poolStart, -1);
        var positionCounts = new int[ordered.Length];
        var taken = new List<int>();
        var chosen = new List<RepeatedRun>();
        var rooms = new int[64];
        var lengthScratch = new int[64];
        while (true)
        {
            int c;
            long key;
            if (nextFirst < ordered.Length && (heap.Count == 0 || -firstKeys[nextFirst] >= heap.TopKey))
            {
                c = nextFirst;
                key = -firstKeys[nextFirst++];
            }
            else if (heap.Count > 0)
            {
                (c, key) = heap.Pop();
            }
            else
            {
                break;
            }
            if (SavingOf(key) <= 0)
                break;
            var candidate = ordered[c];
            // However it is cut, the run cannot be used more often than the free positions allow.
            int uncovered = n - coverage.CoveredCount;
            if ((long)(uncovered / candidate.ShortestLength) * (candidate.Length - 1) - 1 - candidate.ShortestLength <= 0)
                continue;

            // Re-count. An occurrence keeps the free room to its right (up to the node depth);
            // one without room for even the shortest length of the node is dropped for good, as
            // coverage only grows.
            if (poolStart[c] < 0)
            {
                int k = candidate.Rb - candidate.Lb + 1;
                if (poolUsed + k > pool.Length)
                    Array.Resize(ref pool, Math.Max(pool.Length * 2, poolUsed + k));
                sa.AsSpan(candidate.Lb, k).CopyTo(pool.AsSpan(poolUsed));
                SmallSort.Sort(pool.AsSpan(poolUsed, k));
                poolStart[c] = poolUsed;
                positionCounts[c] = k;
                poolUsed += k;
            }
            var own = pool.AsSpan(poolStart[c], positionCounts[c]);
            if (rooms.Length < own.Length)
                rooms = new int[Math.Max(own.Length, rooms.Length * 2)];
            int kept = 0;
            bool allFull = true;
            int minGap = int.MaxValue;
            foreach (int p in own)
            {
                int room = coverage.FreeLength(p, candidate.Length);
                if (room < candidate.ShortestLength)
                    continue;
                if (kept > 0)
                    minGap = Math.Min(minGap, p - own[kept - 1]);
                allFull &= room == candidate.Length;
                own[kept] = p;
                rooms[kept++] = room;
            }
            positionCounts[c] = kept;
            var alive = own[..kept];
            long saving;
            int length;
            if (allFull && minGap >= candidate.Length)
            {
                // Every occurrence is free over the whole node depth and none overlaps another.
                length = candidate.Length;
                saving = kept < 2 ? 0 : Saving(kept, length, DefinitionCost(alive[0], length));
            }
            else
            {
                (saving, length) = BestLength(alive, rooms.AsSpan(0, kept), minGap, candidate, ref lengthScratch);
            }
            if (saving <= 0)
                continue;
            long current = KeyOf(saving, length);
            long nextKey = Math.Max(nextFirst < ordered.Length ? -firstKeys[nextFirst] : long.MinValue, heap.Count > 0 ? heap.TopKey : long.MinValue);
            if (current < nextKey)
            {
                heap.Push(c, current);
                continue;
            }
            taken.Clear();
            CountUsable(alive, rooms.AsSpan(0, kept), length, taken);
            foreach (int p in taken)
                coverage.Cover(p, length);
            chosen.Add(Widen(candidate, length));
            positionCounts[c] = 0;
        }
        return chosen;
    }

    /// <summary>
    /// The length of the node that saves most now. Shorter lengths fit where a longer span runs
    /// into a covered position, and when occurrences overlap themselves (periodic text) a multiple
    /// of the period tiles them. Tried: the distinct free rooms (at most 16 of them, spread out)
    /// and their tiled versions.
    /// </summary>
    private (long Saving, int Length) BestLength(ReadOnlySpan<int> sorted, ReadOnlySpan<int> rooms, int minGap, Candidate candidate, ref int[] scratch)
    {
        if (sorted.Length < 2)
            return (0, candidate.Length);
        if (scratch.Length < rooms.Length)
            scratch = new int[Math.Max(rooms.Length, scratch.Length * 2)];
        var lengths = scratch.AsSpan(0, rooms.Length);
        rooms.CopyTo(lengths);
        lengths.Sort();
        lengths.Reverse();
        int distinct = 0;
        for (int i = 0; i < lengths.Length; i++)
            if (i == 0 || lengths[i] != lengths[distinct - 1])
                lengths[distinct++] = lengths[i];
        const int MaxTried = 16;
        long bestSaving = 0;
        int bestLength = candidate.Length;
        for (int t = 0; t < Math.Min(distinct, MaxTried); t++)
        {
            int length = lengths[distinct <= MaxTried ? t : (int)((long)t * (distinct - 1) / (MaxTried - 1))];
            for (int variant = 0; variant < 2; variant++)
            {
                if (variant == 1)
                {
                    if (minGap >= length)
                        break;
                    length = length / minGap * minGap;
                }
                if (length < candidate.ShortestLength)
                    continue;
                long saving = Saving(CountUsable(sorted, rooms, length, null), length, DefinitionCost(sorted[0], length));
                if (saving > bestSaving || (saving == bestSaving && length > bestLength))
                {
                    bestSaving = saving;
                    bestLength = length;
                }
            }
        }
        return (bestSaving, bestLength);
    }

    /// <summary>Occurrences (sorted) with room for the length, taken leftmost first without overlap.</summary>
    private static int CountUsable(ReadOnlySpan<int> sorted, ReadOnlySpan<int> rooms, int length, List<int>? taken)
    {
        int count = 0, lastEnd = -1;
        for (int i = 0; i < sorted.Length; i++)
        {
            int p = sorted[i];
            if (p < lastEnd || rooms[i] < length)
                continue;
            count++;
            lastEnd = p + length;
            taken?.Add(p);
        }
        return count;
    }

    /// <summary>A shorter prefix of the node's string may occur in more places: the enclosing LCP interval lists them all.</summary>
    private RepeatedRun Widen(Candidate candidate, int length)
    {
        int lb = candidate.Lb, rb = candidate.Rb;
        var lcp = index.Lcp;
        if (length < candidate.Length)
        {
            while (lb > 0 && lcp[lb] >= length)
                lb--;
            while (rb + 1 < lcp.Length && lcp[rb + 1] >= length)
                rb++;
        }
        return new RepeatedRun(lb, rb, length);
    }

    private long UpperBound(Candidate candidate) =>
        Saving(candidate.Rb - candidate.Lb + 1, candidate.Length, DefinitionCost(index.Sa[candidate.Lb], candidate.Length));

    /// <summary>
    /// A suffix-tree node as a candidate: its strings are the prefixes of lengths
    /// ParentDepth+1..Length of the suffixes Sa[Lb..Rb] (Length is the node depth, cut to the maximum).
    /// </summary>
    private readonly record struct Candidate(int Lb, int Rb, int Length, int ParentDepth)
    {
        /// <summary>No length of this node is shorter: a covered span of this length is dead for all of them.</summary>
        public int ShortestLength => Math.Max(ParentDepth + 1, 2);
    }

    /// <summary>Heap order: larger saving first, then the longer run. Savings stay far below 2^50.</summary>
    private static long KeyOf(long saving, int length) => (Math.Min(saving, 1L << 50) << 12) | (uint)Math.Min(length, 4095);

    private static long SavingOf(long key) => key >> 12;

    /// <summary>A binary max-heap of (candidate, key) on parallel arrays, ties to the smaller candidate so runs are reproducible.</summary>
    private sealed class MaxHeap(int capacity)
    {
        private long[] keys = new long[Math.Max(capacity, 16)];
        private int[] items = new int[Math.Max(capacity, 16)];

        public int Count { get; private set; }

        public long TopKey => keys[0];

        public void Push(int item, long key)
        {
            if (Count == keys.Length)
            {
                Array.Resize(ref keys, Count * 2);
                Array.Resize(ref items, Count * 2);
            }
            int i = Count++;
            while (i > 0)
            {
                int parent = (i - 1) >> 1;
                if (!Before(key, item, keys[parent], items[parent]))
                    break;
                keys[i] = keys[parent];
                items[i] = items[parent];
                i = parent;
            }
            keys[i] = key;
            items[i] = item;
        }

        public (int Item, long Key) Pop()
        {
            var top = (items[0], keys[0]);
            Count--;
            if (Count > 0)
            {
                keys[0] = keys[Count];
                items[0] = items[Count];
                SiftDown(0);
            }
            return top;
        }

        private void SiftDown(int i)
        {
            long key = keys[i];
            int item = items[i];
            while (true)
            {
                int child = 2 * i + 1;
                if (child >= Count)
                    break;
                if (child + 1 < Count && Before(keys[child + 1], items[child + 1], keys[child], items[child]))
                    child++;
                if (!Before(keys[child], items[child], key, item))
                    break;
                keys[i] = keys[child];
                items[i] = items[child];
                i = child;
            }
            keys[i] = key;
            items[i] = item;
        }

        private static bool Before(long keyA, int itemA, long keyB, int itemB) => keyA > keyB || (keyA == keyB && itemA < itemB);
    }

    private struct CandidateCollector : RepeatIndex.INodeVisitor
    {
        public List<Candidate> Found;
        public int MaxLength;
        public GainSelection Selection;

        public void Visit(int lb, int rb, int depth, int parentDepth)
        {
            if (parentDepth >= MaxLength)
                return; // its strings, cut to MaxLength, are those of an ancestor
            int length = Math.Min(depth, MaxLength);
            if (length < 2)
                return;
            var candidate = new Candidate(lb, rb, length, parentDepth);
            if (Selection.UpperBound(candidate) > 0)
                Found.Add(candidate);
        }
    }
}
