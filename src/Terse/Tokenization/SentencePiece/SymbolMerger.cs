using System.Runtime.CompilerServices;

namespace Terse.Tokenization.SentencePiece;

/// <summary>
/// Runs <see cref="PairMergeTable.Merge"/> over a whole encode call's symbols, cut into segments
/// that merge independently, with a cache of merged segments.
/// </summary>
/// <remarks>
/// <para>
/// Why cutting is exact: if no merge can ever join the symbols on the two sides of a cut, every
/// candidate pair lies on one side, and the global loop (best score, then leftmost) takes each
/// side's candidates in the same order as that side alone would — the leftmost rule compares
/// positions, and positions keep their order within a side. So merging each segment alone and
/// concatenating gives the same symbols.
/// </para>
/// <para>
/// When no merge can join two adjacent symbols: a merge across the cut would spell a piece (a
/// merge result) containing the last unit of the left symbol followed by the first unit of the
/// right one (see the invariant on <see cref="PairMergeTable"/>). The vocabulary decides, at load
/// time: (1) a frozen symbol or one whose id is in no pair never merges, so both its sides are
/// cuts; (2) before the space symbol (▁, or " " in llama2.c files), a cut is safe unless the unit
/// ending the left symbol is followed by a space inside some merge result — in the Llama 2 vocabulary
/// only ▁ is (the "▁▁…" pieces), so a text is cut at every word start except within space runs.
/// </para>
/// <para>
/// A cache entry is a pure function of the segment's symbol ids (the pair table is fixed), so
/// caching cannot change results. Callers that need to observe every candidate (SentencePiece's
/// UNUSED pieces) merge the whole sequence at once, as the reference does.
/// </para>
/// </remarks>
internal sealed class SymbolMerger
{
    private const byte InSomePair = 1;
    private const byte SpaceMayFollow = 2;

    private readonly PairMergeTable _table;
    private readonly byte[] _flags;
    private readonly int _spaceSymbol;
    /// <summary>One workspace kept between calls; concurrent calls make their own.</summary>
    private MergeWorkspace? _spare;

    /// <param name="table">The merges.</param>
    /// <param name="symbolCount">Symbol ids are below this (pieces, plus any pseudo symbols).</param>
    /// <param name="spaceSymbol">The id of the space symbol; -1 when there is none.</param>
    /// <param name="spaceMayFollow">
    /// For a symbol id: whether some merge result has a space right after the unit that ends this
    /// symbol's text (answer true when unsure; that only costs speed).
    /// </param>
    public SymbolMerger(PairMergeTable table, int symbolCount, int spaceSymbol, Func<int, bool> spaceMayFollow)
    {
        _table = table;
        _spaceSymbol = spaceSymbol;
        var inSomePair = table.ComponentFlags(symbolCount);
        _flags = new byte[symbolCount];
        for (int id = 0; id < symbolCount; id++)
            _flags[id] = (byte)((inSomePair[id] ? InSomePair : 0) | (spaceSymbol >= 0 && spaceMayFollow(id) ? SpaceMayFollow : 0));
    }

    /// <summary>Drops the kept workspace and its segment cache, so the next call starts cold (benchmarks measure both).</summary>
    internal void ForgetCachedSegments() => _spare = null;

    /// <summary>
    /// Merges <paramref name="symbols"/> in place (frozen positions never merge) and returns the new
    /// count. With <paramref name="onCandidate"/> the whole sequence is merged at once so that it
    /// sees every candidate in the reference's order.
    /// </summary>
    public int Merge(Span<int> symbols, ReadOnlySpan<bool> frozen, Action<int, int, int>? onCandidate = null)
    {
        var workspace = Interlocked.Exchange(ref _spare, null) ?? new MergeWorkspace();
        try
        {
            return onCandidate is null
                ? MergeSegments(symbols, frozen, workspace)
                : _table.Merge(symbols, frozen, workspace, onCandidate);
        }
        finally
        {
            workspace.Trim();
            _spare = workspace;
        }
    }

    private int MergeSegments(Span<int> symbols, ReadOnlySpan<bool> frozen, MergeWorkspace workspace)
    {
        int written = 0, start = 0;
        for (int i = 1; i <= symbols.Length; i++)
        {
            if (i < symbols.Length && !IsCut(symbols[i - 1], symbols[i]) && (frozen.IsEmpty || !(frozen[i - 1] || frozen[i])))
                continue;
            // Segments are merged left to right and only shrink, so writing at `written` never
            // overtakes a symbol not yet read.
            written += MergeSegment(symbols[start..i], symbols[written..], workspace);
            start = i;
        }
        return written;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool IsCut(int left, int right)
    {
        var flags = _flags;
        if ((uint)left >= (uint)flags.Length || (uint)right >= (uint)flags.Length)
            return true; // symbols outside the vocabulary are in no pair
        int leftFlags = flags[left];
        if ((leftFlags & flags[right] & InSomePair) == 0)
            return true;
        return right == _spaceSymbol && (leftFlags & SpaceMayFollow) == 0;
    }

    /// <summary>Merges one segment (no frozen symbol inside unless it is alone) into <paramref name="output"/>; returns the count.</summary>
    private int MergeSegment(Span<int> segment, Span<int> output, MergeWorkspace workspace)
    {
        if (segment.Length == 1)
        {
            output[0] = segment[0];
            return 1;
        }
        if (segment.Length > SegmentCache.MaxKeyLength)
        {
            int merged = _table.Merge(segment, default, workspace);
            segment[..merged].CopyTo(output);
            return merged;
        }
        var cache = workspace.Cache;
        if (!cache.TryGet(segment, out var cached))
        {
            Span<int> scratch = stackalloc int[SegmentCache.MaxKeyLength];
            segment.CopyTo(scratch);
            int merged = _table.MergeShort(scratch[..segment.Length]);
            cache.Add(segment, scratch[..merged]);
            scratch[..merged].CopyTo(output);
            return merged;
        }
        cached.CopyTo(output);
        return cached.Length;
    }
}
