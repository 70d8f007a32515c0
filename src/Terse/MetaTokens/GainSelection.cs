namespace Terse.MetaTokens;

/// <summary>
/// A run chosen to become a meta-token: the string of <paramref name="Length"/> symbols that every
/// suffix in <c>Sa[Lb..Rb]</c> starts with, so those are all its (possibly overlapping) occurrences.
/// </summary>
internal readonly record struct RepeatedRun(int Lb, int Rb, int Length);

/// <summary>
/// The "gain" strategy's selection: choose runs in order of tokens saved, re-counting as it goes.
/// The state is the body so far, kept over the original positions (<see cref="SymbolStarts"/>):
/// an occurrence of a run may replace any span that starts and ends on a body symbol boundary,
/// so a long repeat can swallow whole occurrences of shorter runs chosen before it (a frequent
/// " of the" does not cut the long repeats it sits in). Replacing a span of c body symbols by one
/// saves c − 1; a run of L tokens costs 1 + L in the dictionary, so on untouched text K uses save
/// K·(L−1) − 1 − L = (K−1)(L−1) − 2, the paper's N·K &gt; 1+N+K.
/// Every suffix-tree node is a candidate, keyed by an upper bound on its saving; the best is taken
/// lazily: candidates are visited in decreasing order of their key, each re-counted against the
/// current body and accepted only if it still beats the next key; otherwise it goes into a heap
/// with its re-counted saving as the new key. Savings only shrink as the body's boundaries are
/// merged away, so each accepted run is one of the largest current savings. Runs whose occurrences
/// were swallowed keep their dictionary entries here; the optimal parse that follows drops those
/// that stop paying.
/// </summary>
internal sealed class GainSelection
{
    private readonly RepeatCandidates candidates;

    private GainSelection(RepeatCandidates candidates) => this.candidates = candidates;

    public static List<RepeatedRun> Select(RepeatIndex index, int maxLength) => Select(RepeatCandidates.Collect(index, maxLength));

    public static List<RepeatedRun> Select(RepeatCandidates candidates) => new GainSelection(candidates).Run();

    /// <summary>Tokens saved by a run used <paramref name="uses"/> times whose definition costs <paramref name="definitionCost"/> tokens.</summary>
    public static long Saving(long uses, int length, long definitionCost) => uses * (length - 1) - definitionCost;

    /// <summary>Tokens saved by a run of plain tokens: (uses−1)(length−1) − 2.</summary>
    public static long Saving(long uses, int length) => Saving(uses, length, 1 + length);

    /// <summary>A candidate as its visit needs it; the visits lie in visiting order, one memory stream.</summary>
    private readonly record struct Visit(int Handle, int Count, int Length, int Shortest, int Node);

    /// <summary>How many visits ahead an occurrence list is asked for (see <see cref="RepeatCandidates.Prefetch"/>).</summary>
    private const int PrefetchAhead = 8;

    private List<RepeatedRun> Run()
    {
        int n = candidates.Index.Text.Length;
        var starts = new SymbolStarts(n);
        // Candidates are visited in order of their first key straight from a sorted array (memory
        // friendly: most are looked at once); only those pushed back after a re-count go to a heap.
        var (visits, firstKeys) = VisitingOrder();
        var heap = new MaxHeap(1024);
        int nextFirst = 0;

        var chosen = new List<RepeatedRun>();
        var alive = new int[64];
        var rooms = new int[64];
        var lengthScratch = new int[64];
        while (true)
        {
            int v;
            long key;
            if (nextFirst < visits.Length && (heap.Count == 0 || firstKeys[nextFirst] >= heap.TopKey))
            {
                v = nextFirst;
                key = firstKeys[nextFirst++];
                if (v + PrefetchAhead < visits.Length)
                    candidates.Prefetch(visits[v + PrefetchAhead].Handle);
            }
            else if (heap.Count > 0)
            {
                (v, key) = heap.Pop();
            }
            else
            {
                break;
            }
            if (SavingOf(key) <= 0)
                break;
            var visit = visits[v];
            int shortest = visit.Shortest;
            // However it is cut, the run removes fewer symbols than the body has.
            if (starts.SymbolCount - 2 - shortest <= 0)
                continue;

            // Re-count. An occurrence is usable from a symbol start up to the last symbol start
            // within the node's lengths (its room); the span holds as many body symbols as starts.
            var positions = candidates.Positions(visit.Handle, visit.Count);
            if (alive.Length < positions.Length)
            {
                alive = new int[Math.Max(positions.Length, alive.Length * 2)];
                rooms = new int[alive.Length];
            }
            bool mayOverlap = visit.Handle < 0;
            int kept = 0;
            bool allFull = true;
            int minGap = int.MaxValue;
            long fullValue = 0;
            foreach (int p in positions)
            {
                if (!starts.IsStart(p))
                    continue;
                int end = starts.LastStartIn(p + shortest, p + visit.Length);
                if (end < 0)
                    continue;
                int room = end - p;
                if (mayOverlap && kept > 0)
                    minGap = Math.Min(minGap, p - alive[kept - 1]);
                if (room == visit.Length)
                    fullValue += starts.Count(p, room) - 1;
                else
                    allFull = false;
                alive[kept] = p;
                rooms[kept++] = room;
            }
            var usable = alive.AsSpan(0, kept);
            long saving;
            int length;
            if (allFull && minGap >= visit.Length)
            {
                // Every occurrence spans the whole node depth and none overlaps another.
                length = visit.Length;
                saving = kept < 2 ? 0 : fullValue - (1 + length);
            }
            else
            {
                (saving, length) = BestLength(usable, rooms.AsSpan(0, kept), minGap, visit.Length, shortest, starts, ref lengthScratch);
            }
            if (saving <= 0)
                continue;
            long current = KeyOf(saving, length);
            long nextKey = Math.Max(nextFirst < visits.Length ? firstKeys[nextFirst] : long.MinValue, heap.Count > 0 ? heap.TopKey : long.MinValue);
            if (current < nextKey)
            {
                heap.Push(v, current);
                continue;
            }
            Take(usable, rooms.AsSpan(0, kept), length, starts);
            chosen.Add(Widen(candidates[visit.Node], length));
        }
        return chosen;
    }

    /// <summary>The candidates by decreasing first key (ties: node order), and those keys.</summary>
    private (Visit[] Visits, long[] Keys) VisitingOrder()
    {
        int count = candidates.Count;
        var keys = new ulong[count];
        var visits = new Visit[count];
        ulong max = 0;
        for (int c = 0; c < count; c++)
        {
            ref readonly var node = ref candidates[c];
            keys[c] = (ulong)KeyOf(Saving(node.Count, node.Length), node.Length);
            visits[c] = new Visit(candidates.PositionsHandle(c), node.Count, node.Length, node.ShortestLength, c);
            max = Math.Max(max, keys[c]);
        }
        for (int c = 0; c < count; c++)
            keys[c] = max - keys[c];
        SmallSort.SortByKey(keys, visits.AsSpan());
        var firstKeys = new long[count];
        for (int v = 0; v < count; v++)
            firstKeys[v] = (long)(max - keys[v]);
        return (visits, firstKeys);
    }

    private (long Saving, int Length) BestLength(ReadOnlySpan<int> sorted, ReadOnlySpan<int> rooms, int minGap, int nodeLength, int shortest, SymbolStarts starts, ref int[] scratch)
    {
        if (sorted.Length < 2)
            return (0, nodeLength);
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
        int bestLength = nodeLength;
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
                if (length < shortest)
                    continue;
                long saving = Value(sorted, rooms, length, starts) - (1 + length);
                if (saving > bestSaving || (saving == bestSaving && length > bestLength))
                {
                    bestSaving = saving;
                    bestLength = length;
                }
            }
        }
        return (bestSaving, bestLength);
    }

    /// <summary>
    /// Body symbols removed by replacing the usable occurrences: those with room for the length
    /// that end on a symbol start, leftmost first without overlap (occurrences that may overlap
    /// come sorted; the others cannot overlap, so their order does not matter).
    /// </summary>
    private static long Value(ReadOnlySpan<int> occurrences, ReadOnlySpan<int> rooms, int length, SymbolStarts starts)
    {
        long value = 0;
        int lastEnd = -1;
        for (int i = 0; i < occurrences.Length; i++)
        {
            int p = occurrences[i];
            // Skipped when p lies inside the previous occurrence taken (p in [lastEnd − length, lastEnd)).
            if ((uint)(lastEnd - 1 - p) < (uint)length || rooms[i] < length || !starts.IsStart(p + length))
                continue;
            value += starts.Count(p, length) - 1;
            lastEnd = p + length;
        }
        return value;
    }

    /// <summary>Replaces the occurrences <see cref="Value"/> counts: each becomes one body symbol.</summary>
    private static void Take(ReadOnlySpan<int> occurrences, ReadOnlySpan<int> rooms, int length, SymbolStarts starts)
    {
        int lastEnd = -1;
        for (int i = 0; i < occurrences.Length; i++)
        {
            int p = occurrences[i];
            if ((uint)(lastEnd - 1 - p) < (uint)length || rooms[i] < length || !starts.IsStart(p + length))
                continue;
            starts.Merge(p, length);
            lastEnd = p + length;
        }
    }

    /// <summary>A shorter prefix of the node's string may occur in more places: the enclosing LCP interval lists them all.</summary>
    private RepeatedRun Widen(in RepeatCandidates.Node candidate, int length)
    {
        int lb = candidate.Lb, rb = candidate.Rb;
        var lcp = candidates.Index.Lcp;
        if (length < candidate.Length)
        {
            while (lb > 0 && lcp[lb] >= length)
                lb--;
            while (rb + 1 < lcp.Length && lcp[rb + 1] >= length)
                rb++;
        }
        return new RepeatedRun(lb, rb, length);
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
}
