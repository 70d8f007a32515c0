using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Terse.Tokenization.BytePair;

/// <summary>
/// Byte sequences → ids with one hash probe and no allocation per lookup: the keys live in one
/// array, and each slot holds a 32-bit hash tag next to the key's index so that almost every
/// mismatching slot is rejected without comparing bytes.
/// </summary>
internal sealed class ByteSequenceMap
{
    private readonly byte[] _keyBytes;
    private readonly int[] _keyOffsets;   // key i is _keyBytes[_keyOffsets[i].._keyOffsets[i + 1]]
    private readonly int[] _values;
    private readonly ulong[] _slots;      // (low half of the hash << 32) | (key index + 1); 0 = empty
    private readonly int _shift;

    public int Count => _values.Length;

    /// <summary>
    /// Builds the map. A key that occurs twice is reported through <paramref name="duplicate"/>
    /// (its two values) and the map is not built.
    /// </summary>
    public static ByteSequenceMap? TryBuild(IReadOnlyList<(byte[] Key, int Value)> entries, out (int First, int Second) duplicate)
    {
        var map = new ByteSequenceMap(entries, out duplicate);
        return duplicate == default ? map : null;
    }

    private ByteSequenceMap(IReadOnlyList<(byte[] Key, int Value)> entries, out (int, int) duplicate)
    {
        duplicate = default;
        long total = 0;
        foreach (var (key, _) in entries)
            total += key.Length;
        _keyBytes = new byte[total];
        _keyOffsets = new int[entries.Count + 1];
        _values = new int[entries.Count];
        int capacity = (int)BitOperations.RoundUpToPowerOf2((uint)Math.Max(16, entries.Count * 2));
        _slots = new ulong[capacity];
        _shift = 64 - BitOperations.Log2((uint)capacity);

        int offset = 0;
        for (int i = 0; i < entries.Count; i++)
        {
            var (key, value) = entries[i];
            key.CopyTo(_keyBytes, offset);
            _keyOffsets[i] = offset;
            offset += key.Length;
            _keyOffsets[i + 1] = offset;
            _values[i] = value;
            if (Find(key, out int existing))
            {
                duplicate = (existing, value);
                return;
            }
            ulong hash = Hash(key);
            int slot = (int)(hash >> _shift);
            while (_slots[slot] != 0)
                slot = (slot + 1) & (_slots.Length - 1);
            _slots[slot] = (hash << 32) | (uint)(i + 1);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryGetValue(ReadOnlySpan<byte> key, out int value) => Find(key, out value);

    private bool Find(ReadOnlySpan<byte> key, out int value)
    {
        ulong hash = Hash(key);
        ulong tag = hash << 32; // the low half: the slot comes from the high bits
        int mask = _slots.Length - 1;
        int slot = (int)(hash >> _shift);
        ref ulong slots = ref MemoryMarshal.GetArrayDataReference(_slots);
        while (true)
        {
            ulong entry = Unsafe.Add(ref slots, slot);
            if (entry == 0)
            {
                value = 0;
                return false;
            }
            if ((entry & 0xFFFF_FFFF_0000_0000UL) == tag)
            {
                int index = (int)(uint)entry - 1;
                int start = _keyOffsets[index];
                if (key.SequenceEqual(new ReadOnlySpan<byte>(_keyBytes, start, _keyOffsets[index + 1] - start)))
                {
                    value = _values[index];
                    return true;
                }
            }
            slot = (slot + 1) & mask;
        }
    }

    /// <summary>
    /// A fast hash of a short byte sequence: tokens are mostly under 16 bytes, so those are read as
    /// two overlapping words; longer keys are folded 8 bytes at a time.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static ulong Hash(ReadOnlySpan<byte> key)
    {
        const ulong K0 = 0x9E3779B97F4A7C15UL, K1 = 0xC2B2AE3D27D4EB4FUL;
        ref byte p = ref MemoryMarshal.GetReference(key);
        int n = key.Length;
        ulong a, b;
        if (n >= 8)
        {
            a = Unsafe.ReadUnaligned<ulong>(ref p);
            b = Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref p, n - 8));
            if (n > 16)
            {
                for (int i = 8; i < n - 8; i += 8)
                    a = BitOperations.RotateLeft((a ^ Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref p, i))) * K1, 31);
            }
        }
        else if (n >= 4)
        {
            a = Unsafe.ReadUnaligned<uint>(ref p);
            b = Unsafe.ReadUnaligned<uint>(ref Unsafe.Add(ref p, n - 4));
        }
        else if (n > 0)
        {
            a = (ulong)p | ((ulong)Unsafe.Add(ref p, n >> 1) << 8) | ((ulong)Unsafe.Add(ref p, n - 1) << 16);
            b = 0;
        }
        else
        {
            a = b = 0;
        }
        ulong h = (a ^ (ulong)n * K1) * K0 ^ BitOperations.RotateLeft(b * K1, 29);
        h ^= h >> 32;
        h *= K0;
        h ^= h >> 29;
        return h;
    }
}
