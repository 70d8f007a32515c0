using System.Buffers;

namespace Terse.Tokenization.SentencePiece;

/// <summary>
/// The initial symbols of one encode call, with a flag for those that must never merge. The arrays
/// are rented (a long text would otherwise allocate megabytes per call); <see cref="Dispose"/> returns them.
/// </summary>
internal sealed class SymbolBuffer(int capacity) : IDisposable
{
    private int[] _ids = ArrayPool<int>.Shared.Rent(Math.Max(capacity, 16));
    /// <summary>Null until the first frozen symbol: most texts have none.</summary>
    private bool[]? _frozen;

    public int Count { get; private set; }

    public Span<int> Ids => _ids.AsSpan(0, Count);

    /// <summary>The frozen flags by position; empty when no symbol is frozen.</summary>
    public ReadOnlySpan<bool> Frozen => _frozen is null ? default : _frozen.AsSpan(0, Count);

    public void Add(int id)
    {
        if (Count == _ids.Length)
            Grow();
        _ids[Count++] = id;
    }

    public void AddFrozen(int id)
    {
        if (_frozen is null)
        {
            _frozen = ArrayPool<bool>.Shared.Rent(_ids.Length);
            Array.Clear(_frozen);
        }
        int position = Count;
        Add(id);
        _frozen[position] = true;
    }

    private void Grow()
    {
        var ids = ArrayPool<int>.Shared.Rent(_ids.Length * 2);
        _ids.AsSpan(0, Count).CopyTo(ids);
        ArrayPool<int>.Shared.Return(_ids);
        _ids = ids;
        if (_frozen is not null)
        {
            var frozen = ArrayPool<bool>.Shared.Rent(ids.Length);
            Array.Clear(frozen);
            _frozen.AsSpan(0, Count).CopyTo(frozen);
            ArrayPool<bool>.Shared.Return(_frozen);
            _frozen = frozen;
        }
    }

    /// <summary>Keeps the first <paramref name="count"/> symbols (after merging in place).</summary>
    public void Truncate(int count) => Count = Math.Min(count, Count);

    public void Dispose()
    {
        ArrayPool<int>.Shared.Return(_ids);
        _ids = [];
        if (_frozen is not null)
            ArrayPool<bool>.Shared.Return(_frozen);
        _frozen = null;
        Count = 0;
    }
}
