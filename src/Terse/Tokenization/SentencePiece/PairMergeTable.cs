using System.Numerics;
using System.Runtime.CompilerServices;

namespace Terse.Tokenization.SentencePiece;

/// <summary>
/// The merge step shared by SentencePiece BPE and llama2.c's <c>encode</c>: repeatedly replace the
/// adjacent pair whose concatenation is a vocabulary piece with the best score (ties: the leftmost
/// pair) until no pair merges. Both references rescan strings; here every way of writing a piece
/// as the concatenation of two symbols is tabulated once, so a merge test is one hash probe on two
/// ids, and a heap ordered like the references' choice replaces the rescans. The result is the same
/// sequence of merges, because each step still takes the best-scored, leftmost current pair.
/// </summary>
/// <remarks>
/// Invariant the callers rely on: the text a symbol spells is always the concatenation of the
/// texts of the initial symbols it covers, since a pair (l, r) only maps to a piece spelling
/// text(l) + text(r).
/// </remarks>
internal sealed class PairMergeTable
{
    /// <summary>Open addressing with linear probing; key and result share one 16-byte slot so a probe touches one cache line.</summary>
    private readonly Slot[] _slots;
    private readonly int _shift;

    private struct Slot
    {
        public long Key;
        public int Merged;
        public float Score;
    }

    private const long EmptyKey = -1;

    /// <param name="mergedByPair">(left symbol, right symbol) → id of the piece their concatenation spells.</param>
    /// <param name="scoreById">Merge priority of each piece id that can result from a merge.</param>
    public PairMergeTable(Dictionary<long, int> mergedByPair, float[] scoreById)
    {
        // Load factor at most 1/2 keeps linear-probe chains short.
        int capacity = (int)BitOperations.RoundUpToPowerOf2((uint)Math.Max(16, mergedByPair.Count * 2));
        _shift = 64 - BitOperations.Log2((uint)capacity);
        _slots = new Slot[capacity];
        foreach (ref var slot in _slots.AsSpan())
            slot.Key = EmptyKey;
        int mask = capacity - 1;
        foreach (var (key, merged) in mergedByPair)
        {
            if (key < 0)
                throw new ArgumentException("pair keys are built from non-negative symbol ids", nameof(mergedByPair));
            int i = Home(key);
            while (_slots[i].Key != EmptyKey)
                i = (i + 1) & mask;
            _slots[i] = new Slot { Key = key, Merged = merged, Score = scoreById[merged] };
        }
    }

    public static long Key(int left, int right) => ((long)left << 32) | (uint)right;

    /// <summary>A dictionary for pair keys: the default long hash (high ^ low) collides for many id pairs.</summary>
    public static Dictionary<long, int> NewPairDictionary() => new(PairKeyComparer.Instance);

    private sealed class PairKeyComparer : IEqualityComparer<long>
    {
        public static readonly PairKeyComparer Instance = new();
        public bool Equals(long x, long y) => x == y;
        public int GetHashCode(long key) => (int)(((ulong)key * 0x9E3779B97F4A7C15UL) >> 32);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int Home(long key) => (int)(((ulong)key * 0x9E3779B97F4A7C15UL) >> _shift);

    /// <summary>The slot of the pair, or -1. Negative ids (symbols outside the vocabulary) never merge.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int Find(int left, int right)
    {
        if ((left | right) < 0)
            return -1;
        long key = Key(left, right);
        var slots = _slots;
        int mask = slots.Length - 1;
        for (int i = Home(key); ; i = (i + 1) & mask)
        {
            long found = slots[i].Key;
            if (found == key)
                return i;
            if (found == EmptyKey)
                return -1;
        }
    }

    /// <summary>The distinct ids that some merge produces.</summary>
    public HashSet<int> MergedIds()
    {
        var ids = new HashSet<int>();
        foreach (var slot in _slots)
            if (slot.Key != EmptyKey)
                ids.Add(slot.Merged);
        return ids;
    }

    /// <summary>
    /// Flags, by symbol id in [0, <paramref name="symbolCount"/>), of the ids that are half of some
    /// pair. A symbol whose id is not flagged never takes part in a merge, so nothing merges across it.
    /// </summary>
    public bool[] ComponentFlags(int symbolCount)
    {
        var flags = new bool[symbolCount];
        foreach (var slot in _slots)
        {
            if (slot.Key == EmptyKey)
                continue;
            int left = (int)(slot.Key >> 32), right = (int)slot.Key;
            if (left < symbolCount)
                flags[left] = true;
            if (right < symbolCount)
                flags[right] = true;
        }
        return flags;
    }

    /// <summary>
    /// Merges <paramref name="symbols"/> in place and returns the new count. Positions whose
    /// <paramref name="frozen"/> flag is set never take part in a merge (empty: none is frozen).
    /// When <paramref name="onCandidate"/> is given it sees every candidate pair in the order the
    /// reference considers them (SentencePiece records the split of UNUSED pieces this way).
    /// </summary>
    public int Merge(Span<int> symbols, ReadOnlySpan<bool> frozen, MergeWorkspace workspace, Action<int, int, int>? onCandidate = null)
    {
        int count = symbols.Length;
        if (count < 2)
            return count;
        var next = workspace.Links(count, out var prev);
        for (int i = 0; i < count; i++)
        {
            prev[i] = i - 1;
            next[i] = i + 1 < count ? i + 1 : -1;
        }

        var heap = new CandidateHeap(workspace, count);
        for (int i = 0; i + 1 < count; i++)
            Consider(symbols, frozen, ref heap, i, i + 1, onCandidate);

        while (heap.TryPop(out var top))
        {
            // Stale: one side already merged into something else, or no longer adjacent. A position's
            // id only ever grows into a longer piece, so an id match means the pair is unchanged.
            if (symbols[top.Left] != top.LeftId || symbols[top.Right] != top.RightId || next[top.Left] != top.Right)
                continue;
            symbols[top.Left] = top.Merged;
            symbols[top.Right] = -1;
            int after = next[top.Right];
            next[top.Left] = after;
            if (after >= 0)
                prev[after] = top.Left;
            if (prev[top.Left] >= 0)
                Consider(symbols, frozen, ref heap, prev[top.Left], top.Left, onCandidate);
            if (after >= 0)
                Consider(symbols, frozen, ref heap, top.Left, after, onCandidate);
        }
        workspace.Heap = heap.Items;

        int written = 0;
        for (int i = 0; i >= 0; i = next[i])
            symbols[written++] = symbols[i];
        return written;
    }

    /// <summary>Segments up to this long merge by rescanning, which beats the heap's bookkeeping at word length.</summary>
    public const int ShortRunLength = 32;

    /// <summary>
    /// <see cref="Merge"/> for a short run with nothing frozen, done as run.c does it: rescan the
    /// pairs for the best score (first best = leftmost), merge, update the two neighbouring pairs.
    /// </summary>
    public int MergeShort(Span<int> symbols)
    {
        int count = symbols.Length;
        if (count > ShortRunLength)
            throw new ArgumentException($"at most {ShortRunLength} symbols", nameof(symbols));
        Span<int> merged = stackalloc int[ShortRunLength];
        Span<float> score = stackalloc float[ShortRunLength];
        for (int i = 0; i + 1 < count; i++)
            Pair(symbols, merged, score, i);
        while (count > 1)
        {
            int best = -1;
            float bestScore = float.NegativeInfinity;
            for (int i = 0; i + 1 < count; i++)
            {
                if (merged[i] >= 0 && (best < 0 || score[i] > bestScore))
                {
                    best = i;
                    bestScore = score[i];
                }
            }
            if (best < 0)
                break;
            // Pair i joins symbols i and i + 1: the merged symbol takes slot best, and the symbols
            // and pairs after it move down by one.
            symbols[best] = merged[best];
            count--;
            symbols[(best + 2)..(count + 1)].CopyTo(symbols[(best + 1)..]);
            merged[(best + 1)..count].CopyTo(merged[best..]);
            score[(best + 1)..count].CopyTo(score[best..]);
            if (best > 0)
                Pair(symbols, merged, score, best - 1);
            if (best + 1 < count)
                Pair(symbols, merged, score, best);
        }
        return count;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Pair(Span<int> symbols, Span<int> merged, Span<float> score, int left)
    {
        int slot = Find(symbols[left], symbols[left + 1]);
        merged[left] = slot >= 0 ? _slots[slot].Merged : -1;
        score[left] = slot >= 0 ? _slots[slot].Score : 0;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Consider(Span<int> symbols, ReadOnlySpan<bool> frozen, ref CandidateHeap heap, int left, int right, Action<int, int, int>? onCandidate)
    {
        if (!frozen.IsEmpty && (frozen[left] || frozen[right]))
            return;
        int leftId = symbols[left], rightId = symbols[right];
        int slot = Find(leftId, rightId);
        if (slot < 0)
            return;
        ref readonly var found = ref _slots[slot];
        onCandidate?.Invoke(found.Merged, leftId, rightId);
        heap.Push(new Candidate(found.Score, left, right, leftId, rightId, found.Merged));
    }

    internal readonly record struct Candidate(float Score, int Left, int Right, int LeftId, int RightId, int Merged)
    {
        /// <summary>Higher score first; among equal scores the leftmost pair (both references scan left to right and keep the first best).</summary>
        public bool Precedes(in Candidate other) => Score > other.Score || (Score == other.Score && Left < other.Left);
    }

    /// <summary>A binary max-heap by <see cref="Candidate.Precedes"/> on the workspace's reusable array.</summary>
    private struct CandidateHeap(MergeWorkspace workspace, int expected)
    {
        public Candidate[] Items = workspace.HeapArray(expected);
        private int _count;

        public void Push(in Candidate item)
        {
            if (_count == Items.Length)
                Array.Resize(ref Items, Items.Length * 2);
            int i = _count++;
            while (i > 0)
            {
                int parent = (i - 1) >> 1;
                if (!item.Precedes(Items[parent]))
                    break;
                Items[i] = Items[parent];
                i = parent;
            }
            Items[i] = item;
        }

        public bool TryPop(out Candidate top)
        {
            if (_count == 0)
            {
                top = default;
                return false;
            }
            top = Items[0];
            var last = Items[--_count];
            int i = 0;
            while (true)
            {
                int child = 2 * i + 1;
                if (child >= _count)
                    break;
                if (child + 1 < _count && Items[child + 1].Precedes(Items[child]))
                    child++;
                if (!Items[child].Precedes(last))
                    break;
                Items[i] = Items[child];
                i = child;
            }
            if (_count > 0)
                Items[i] = last;
            return true;
        }
    }
}

/// <summary>
/// Reusable scratch arrays of one merge at a time (one encode call owns a workspace while it runs).
/// Arrays grow to the largest merge seen; <see cref="Trim"/> drops oversized ones before the
/// workspace is kept for the next call, so a single huge input does not pin its scratch memory.
/// </summary>
internal sealed class MergeWorkspace
{
    private const int KeptLength = 1 << 12;

    private int[] _next = new int[64];
    private int[] _prev = new int[64];
    public PairMergeTable.Candidate[] Heap = new PairMergeTable.Candidate[64];

    public SegmentCache Cache { get; } = new();

    public Span<int> Links(int count, out Span<int> prev)
    {
        if (_next.Length < count)
        {
            int length = (int)Math.Min(BitOperations.RoundUpToPowerOf2((uint)count), Array.MaxLength);
            _next = new int[length];
            _prev = new int[length];
        }
        prev = _prev.AsSpan(0, count);
        return _next.AsSpan(0, count);
    }

    public PairMergeTable.Candidate[] HeapArray(int expected)
    {
        // A merge pushes at most count - 1 initial candidates plus two per merge; the heap rarely
        // holds more than the initial ones, and it grows when it must.
        if (Heap.Length < expected)
            Heap = new PairMergeTable.Candidate[(int)Math.Min(BitOperations.RoundUpToPowerOf2((uint)expected), Array.MaxLength)];
        return Heap;
    }

    public void Trim()
    {
        if (_next.Length > KeptLength)
        {
            _next = new int[KeptLength];
            _prev = new int[KeptLength];
        }
        if (Heap.Length > KeptLength)
            Heap = new PairMergeTable.Candidate[KeptLength];
    }
}
