namespace Terse.Tokenization.SentencePiece;

/// <summary>
/// The merge step shared by SentencePiece BPE and llama2.c's <c>encode</c>: repeatedly replace the
/// adjacent pair whose concatenation is a vocabulary piece with the best score (ties: the leftmost
/// pair) until no pair merges. Both references rescan strings; here every way of writing a piece
/// as the concatenation of two symbols is tabulated once, so a merge test is one hash lookup on two
/// ids, and a heap ordered like the references' choice replaces the rescans. The result is the same
/// sequence of merges, because each step still takes the best-scored, leftmost current pair.
/// </summary>
internal sealed class PairMergeTable
{
    private readonly Dictionary<long, int> _mergedByPair;
    private readonly float[] _scoreById;

    /// <param name="mergedByPair">(left symbol, right symbol) → id of the piece their concatenation spells.</param>
    /// <param name="scoreById">Merge priority of each piece id that can result from a merge.</param>
    public PairMergeTable(Dictionary<long, int> mergedByPair, float[] scoreById)
    {
        _mergedByPair = mergedByPair;
        _scoreById = scoreById;
    }

    public int PairCount => _mergedByPair.Count;

    public static long Key(int left, int right) => ((long)left << 32) | (uint)right;

    /// <summary>A dictionary for pair keys: the default long hash (high ^ low) collides for many id pairs.</summary>
    public static Dictionary<long, int> NewPairDictionary() => new(PairKeyComparer.Instance);

    private sealed class PairKeyComparer : IEqualityComparer<long>
    {
        public static readonly PairKeyComparer Instance = new();
        public bool Equals(long x, long y) => x == y;
        public int GetHashCode(long key) => (int)(((ulong)key * 0x9E3779B97F4A7C15UL) >> 32);
    }

    public bool TryGetMerge(int left, int right, out int merged) => _mergedByPair.TryGetValue(Key(left, right), out merged);

    /// <summary>
    /// Merges <paramref name="symbols"/>[0..count) in place and returns the new count. Positions whose
    /// <paramref name="frozen"/> flag is set never take part in a merge. When <paramref name="onCandidate"/>
    /// is given it sees every candidate pair in the order the reference considers them (SentencePiece
    /// records the split of UNUSED pieces this way).
    /// </summary>
    public int Merge(int[] symbols, int count, bool[]? frozen, Action<int, int, int>? onCandidate = null)
    {
        if (count < 2)
            return count;
        var next = new int[count];
        var prev = new int[count];
        for (int i = 0; i < count; i++)
        {
            prev[i] = i - 1;
            next[i] = i + 1 < count ? i + 1 : -1;
        }

        var heap = new CandidateHeap(Math.Min(count, 1 << 16));
        for (int i = 0; i + 1 < count; i++)
            Consider(i, i + 1);

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
                Consider(prev[top.Left], top.Left);
            if (after >= 0)
                Consider(top.Left, after);
        }

        int written = 0;
        for (int i = 0; i >= 0; i = next[i])
            symbols[written++] = symbols[i];
        return written;

        void Consider(int left, int right)
        {
            if (frozen is not null && (frozen[left] || frozen[right]))
                return;
            int leftId = symbols[left], rightId = symbols[right];
            if (!_mergedByPair.TryGetValue(Key(leftId, rightId), out int merged))
                return;
            onCandidate?.Invoke(merged, leftId, rightId);
            heap.Push(new Candidate(_scoreById[merged], left, right, leftId, rightId, merged));
        }
    }

    private readonly record struct Candidate(float Score, int Left, int Right, int LeftId, int RightId, int Merged)
    {
        /// <summary>Higher score first; among equal scores the leftmost pair (both references scan left to right and keep the first best).</summary>
        public bool Precedes(in Candidate other) => Score > other.Score || (Score == other.Score && Left < other.Left);
    }

    /// <summary>A binary max-heap by <see cref="Candidate.Precedes"/>; small and allocation-light.</summary>
    private struct CandidateHeap(int capacity)
    {
        private Candidate[] _items = new Candidate[Math.Max(capacity, 4)];
        private int _count;

        public void Push(in Candidate item)
        {
            if (_count == _items.Length)
                Array.Resize(ref _items, _items.Length * 2);
            int i = _count++;
            while (i > 0)
            {
                int parent = (i - 1) >> 1;
                if (!item.Precedes(_items[parent]))
                    break;
                _items[i] = _items[parent];
                i = parent;
            }
            _items[i] = item;
        }

        public bool TryPop(out Candidate top)
        {
            if (_count == 0)
            {
                top = default;
                return false;
            }
            top = _items[0];
            var last = _items[--_count];
            int i = 0;
            while (true)
            {
                int child = 2 * i + 1;
                if (child >= _count)
                    break;
                if (child + 1 < _count && _items[child + 1].Precedes(_items[child]))
                    child++;
                if (!_items[child].Precedes(last))
                    break;
                _items[i] = _items[child];
                i = child;
            }
            if (_count > 0)
                _items[i] = last;
            return true;
        }
    }
}
