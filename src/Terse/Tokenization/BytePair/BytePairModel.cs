using System.Buffers;
using System.Runtime.CompilerServices;

namespace Terse.Tokenization.BytePair;

/// <summary>
/// Byte-level byte-pair encoding of one piece: start from one token per byte, then repeatedly merge
/// the adjacent pair with the lowest merge priority (the leftmost among equals) until no pair has a
/// rule. One algorithm for both sources of rules: tiktoken rank files (a pair's priority is the rank
/// of the concatenation, see <see cref="FromRanks"/>) and Hugging Face merges (the line number).
/// </summary>
internal sealed class BytePairModel
{
    // Up to this many bytes a piece is merged by scanning an array for the best pair each step, as
    // tiktoken does: quadratic, but with no setup and cache-resident. Longer pieces (long runs of
    // spaces, punctuation, minified data) use a heap, O(n log n).
    private const int LinearLimit = 64;

    private readonly int[] _byteIds;
    private readonly ByteSequenceMap _tokens;
    private readonly MergeTable _merges;

    /// <summary>
    /// When true a piece that is itself a token is emitted as that token without merging: tiktoken
    /// always does this, Hugging Face only with <c>ignore_merges</c> (Llama 3).
    /// </summary>
    public bool WholePieceFirst { get; }

    public MergeTable Merges => _merges;

    public BytePairModel(int[] byteIds, ByteSequenceMap tokens, MergeTable merges, bool wholePieceFirst)
    {
        if (byteIds.Length != 256)
            throw new ArgumentException("a byte-level model needs one id per byte value", nameof(byteIds));
        _byteIds = byteIds;
        _tokens = tokens;
        _merges = merges;
        WholePieceFirst = wholePieceFirst;
    }

    /// <summary>
    /// The model of a tiktoken rank file. tiktoken merges the adjacent parts whose concatenation has
    /// the lowest rank; parts are always tokens, so this is exactly the pair table that maps every
    /// split of every token into two tokens (a, b) to the priority rank(ab) and the merged id ab.
    /// </summary>
    /// <param name="tokensByRank">Token bytes by rank (= id); null for ranks that are not assigned.</param>
    /// <param name="tokens">The same tokens as a map from bytes to rank.</param>
    /// <param name="source">Names the file in errors.</param>
    public static BytePairModel FromRanks(IReadOnlyList<byte[]?> tokensByRank, ByteSequenceMap tokens, string source)
    {
        var byteIds = new int[256];
        Span<byte> single = stackalloc byte[1];
        for (int b = 0; b < 256; b++)
        {
            single[0] = (byte)b;
            if (!tokens.TryGetValue(single, out byteIds[b]))
                throw new InvalidDataException($"{source}: no token for the single byte 0x{b:X2}, which byte-level BPE needs");
        }

        var rules = new List<MergeRule>(tokensByRank.Count * 2);
        for (int rank = 0; rank < tokensByRank.Count; rank++)
        {
            var token = tokensByRank[rank];
            if (token is null || token.Length < 2)
                continue;
            for (int split = 1; split < token.Length; split++)
            {
                if (tokens.TryGetValue(token.AsSpan(0, split), out int left) && tokens.TryGetValue(token.AsSpan(split), out int right))
                    rules.Add(new MergeRule(left, right, rank, rank));
            }
        }
        return new BytePairModel(byteIds, tokens, new MergeTable(rules), wholePieceFirst: true);
    }

    /// <summary>Appends the ids of one pre-tokenized piece.</summary>
    public void EncodePiece(ReadOnlySpan<byte> piece, List<int> ids)
    {
        if (piece.Length == 1)
        {
            ids.Add(_byteIds[piece[0]]);
            return;
        }
        if (WholePieceFirst && _tokens.TryGetValue(piece, out int whole))
        {
            ids.Add(whole);
            return;
        }
        if (piece.Length <= LinearLimit)
            MergeLinear(piece, ids);
        else
            MergeWithHeap(piece, ids);
    }

    [SkipLocalsInit]
    internal void MergeLinear(ReadOnlySpan<byte> piece, List<int> ids)
    {
        int n = piece.Length;
        Span<int> parts = stackalloc int[n];
        // best[i]: packed (priority, merged) of merging parts[i] with parts[i + 1].
        Span<ulong> best = stackalloc ulong[n];
        for (int i = 0; i < n; i++)
            parts[i] = _byteIds[piece[i]];
        for (int i = 0; i < n - 1; i++)
            best[i] = _merges.Find(parts[i], parts[i + 1]);
        best[n - 1] = MergeTable.None;

        while (n > 1)
        {
            int at = 0;
            ulong min = best[0];
            for (int i = 1; i < n - 1; i++)
            {
                if (best[i] < min)
                {
                    min = best[i];
                    at = i;
                }
            }
            if (min == MergeTable.None)
                break;

            parts[at] = MergeTable.MergedOf(min);
            parts[(at + 2)..n].CopyTo(parts[(at + 1)..]);
            best[(at + 2)..n].CopyTo(best[(at + 1)..]);
            n--;
            best[at] = at + 1 < n ? _merges.Find(parts[at], parts[at + 1]) : MergeTable.None;
            if (at > 0)
                best[at - 1] = _merges.Find(parts[at - 1], parts[at]);
        }

        for (int i = 0; i < n; i++)
            ids.Add(parts[i]);
    }

    /// <summary>
    /// The same merge order with a binary heap of candidate pairs keyed by (priority, position of the
    /// left part): positions are the byte offsets where parts start, which never change, so "smallest
    /// key" is "lowest priority, leftmost". The right part is always the left part's current successor;
    /// an entry is stale when that pair's priority is no longer the one in the key (an equal priority
    /// means the same rule, hence the same merge). 36 bytes of scratch per byte of piece.
    /// </summary>
    internal void MergeWithHeap(ReadOnlySpan<byte> piece, List<int> ids)
    {
        int n = piece.Length;
        int[] partsArray = ArrayPool<int>.Shared.Rent(n * 3);
        ulong[] heapArray = ArrayPool<ulong>.Shared.Rent(n * 3);
        try
        {
            var parts = partsArray.AsSpan(0, n);
            var next = partsArray.AsSpan(n, n);
            var prev = partsArray.AsSpan(2 * n, n);
            var heap = new PairHeap(heapArray);
            for (int i = 0; i < n; i++)
            {
                parts[i] = _byteIds[piece[i]];
                next[i] = i + 1;
                prev[i] = i - 1;
            }
            for (int i = 0; i < n - 1; i++)
                Push(ref heap, parts, i, i + 1);

            while (heap.Count > 0)
            {
                ulong key = heap.Pop();
                int left = (int)(uint)key;
                if (parts[left] < 0)
                    continue;
                int right = next[left];
                if (right >= n)
                    continue;
                ulong current = _merges.Find(parts[left], parts[right]);
                if ((current >> 32) != (key >> 32))
                    continue;

                parts[left] = MergeTable.MergedOf(current);
                parts[right] = -1;
                int after = next[right];
                next[left] = after;
                if (after < n)
                    prev[after] = left;
                if (prev[left] >= 0)
                    Push(ref heap, parts, prev[left], left);
                if (after < n)
                    Push(ref heap, parts, left, after);
            }

            for (int i = 0; i < n; i = next[i])
                ids.Add(parts[i]);
        }
        finally
        {
            ArrayPool<int>.Shared.Return(partsArray);
            ArrayPool<ulong>.Shared.Return(heapArray);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Push(ref PairHeap heap, Span<int> parts, int left, int right)
    {
        ulong found = _merges.Find(parts[left], parts[right]);
        if (found != MergeTable.None)
            heap.Push(((found >> 32) << 32) | (uint)left);
    }

    /// <summary>A binary min-heap of keys over a rented array.</summary>
    private ref struct PairHeap(ulong[] items)
    {
        private readonly ulong[] _items = items;
        public int Count;

        public void Push(ulong key)
        {
            int i = Count++;
            while (i > 0)
            {
                int parent = (i - 1) >> 1;
                if (_items[parent] <= key)
                    break;
                _items[i] = _items[parent];
                i = parent;
            }
            _items[i] = key;
        }

        public ulong Pop()
        {
            ulong top = _items[0];
            ulong last = _items[--Count];
            int i = 0;
            while (true)
            {
                int child = 2 * i + 1;
                if (child >= Count)
                    break;
                if (child + 1 < Count && _items[child + 1] < _items[child])
                    child++;
                if (last <= _items[child])
                    break;
                _items[i] = _items[child];
                i = child;
            }
            if (Count > 0)
                _items[i] = last;
            return top;
        }
    }
}
