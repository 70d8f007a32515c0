using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Terse.Tokenization.SentencePiece;

/// <summary>
/// A bounded map from a segment's initial symbols to its merged symbols (words repeat, so most
/// segments of a text are merged once). Grows from small; when it reaches its bound it starts
/// over empty, which keeps memory fixed (about 1.5 MB at most) and lets the words that are still
/// frequent come back at once.
/// </summary>
internal sealed class SegmentCache
{
    /// <summary>Longer segments are merged every time (they are rare and would crowd out words).</summary>
    public const int MaxKeyLength = PairMergeTable.ShortRunLength;

    private const int MaxEntries = 1 << 14;
    private const int MaxData = MaxEntries * 16;

    private int[] _slots = new int[256];     // entry index + 1; 0 = empty
    private Entry[] _entries = new Entry[128];
    private int[] _data = new int[2048];     // key then value of each entry, back to back
    private int _count;
    private int _dataUsed;

    private struct Entry
    {
        public int Hash;
        public int Start;
        public int KeyLength;
        public int ValueLength;
    }

    public bool TryGet(ReadOnlySpan<int> key, out ReadOnlySpan<int> value)
    {
        int hash = Hash(key);
        int mask = _slots.Length - 1;
        for (int i = hash & mask; ; i = (i + 1) & mask)
        {
            int slot = _slots[i];
            if (slot == 0)
            {
                value = default;
                return false;
            }
            ref readonly var entry = ref _entries[slot - 1];
            if (entry.Hash == hash && entry.KeyLength == key.Length && _data.AsSpan(entry.Start, key.Length).SequenceEqual(key))
            {
                value = _data.AsSpan(entry.Start + entry.KeyLength, entry.ValueLength);
                return true;
            }
        }
    }

    /// <summary>Adds a key that <see cref="TryGet"/> just missed.</summary>
    public void Add(ReadOnlySpan<int> key, ReadOnlySpan<int> value)
    {
        if (key.Length > MaxKeyLength || value.Length > key.Length)
            return;
        int needed = key.Length + value.Length;
        if (_count == MaxEntries || _dataUsed + needed > MaxData)
            Clear();
        if (_count == _entries.Length)
            Array.Resize(ref _entries, _entries.Length * 2);
        if (_dataUsed + needed > _data.Length)
            Array.Resize(ref _data, Math.Min(MaxData, Math.Max(_data.Length * 2, _dataUsed + needed)));
        if (2 * (_count + 1) > _slots.Length)
            Rehash(_slots.Length * 2);

        int hash = Hash(key);
        key.CopyTo(_data.AsSpan(_dataUsed));
        value.CopyTo(_data.AsSpan(_dataUsed + key.Length));
        _entries[_count] = new Entry { Hash = hash, Start = _dataUsed, KeyLength = key.Length, ValueLength = value.Length };
        _dataUsed += needed;
        Place(hash, ++_count);
    }

    private void Place(int hash, int slotValue)
    {
        int mask = _slots.Length - 1;
        int i = hash & mask;
        while (_slots[i] != 0)
            i = (i + 1) & mask;
        _slots[i] = slotValue;
    }

    private void Rehash(int length)
    {
        _slots = new int[length];
        for (int e = 0; e < _count; e++)
            Place(_entries[e].Hash, e + 1);
    }

    private void Clear()
    {
        Array.Clear(_slots);
        _count = 0;
        _dataUsed = 0;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int Hash(ReadOnlySpan<int> key)
    {
        ulong hash = (ulong)key.Length * 0x9E3779B97F4A7C15UL;
        foreach (int symbol in key)
            hash = (hash ^ (uint)symbol) * 0xBF58476D1CE4E5B9UL;
        return (int)(hash >> 33);
    }

    internal int Count => _count;

    internal int MemoryBytes =>
        _slots.Length * sizeof(int) + _entries.Length * Marshal.SizeOf<Entry>() + _data.Length * sizeof(int);
}
