using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Terse.Tokenization.BytePair;

/// <summary>One merge rule: the adjacent pair (Left, Right) becomes Merged; lower Priority merges first.</summary>
internal readonly record struct MergeRule(int Left, int Right, int Priority, int Merged);

/// <summary>
/// The merge-priority table of a byte-pair encoder: (left id, right id) → (priority, merged id),
/// open addressing over one array so that a lookup touches one cache line.
/// </summary>
internal sealed class MergeTable
{
    /// <summary>Priority and merged id packed so that comparing packed values compares priorities.</summary>
    public const ulong None = ulong.MaxValue;

    private struct Slot
    {
        public ulong Key;    // (left << 32 | right) + 1; 0 = empty
        public ulong Value;  // (priority << 32) | merged
    }

    private readonly Slot[] _slots;
    private readonly int _shift;
    private readonly MergeRule[] _rules;

    public int Count => _rules.Length;

    /// <summary>The rules in priority order (ties by left, right): the canonical form hashed into fingerprints.</summary>
    public ReadOnlySpan<MergeRule> Rules => _rules;

    /// <summary>Builds the table; when a pair occurs twice the later rule wins, as in Hugging Face's loader.</summary>
    public MergeTable(IReadOnlyList<MergeRule> rules)
    {
        int capacity = (int)BitOperations.RoundUpToPowerOf2((uint)Math.Max(16, rules.Count * 2));
        _slots = new Slot[capacity];
        _shift = 64 - BitOperations.Log2((uint)capacity);
        int distinct = 0;
        foreach (var rule in rules)
        {
            ulong key = Key(rule.Left, rule.Right);
            int slot = SlotOf(key);
            while (_slots[slot].Key != 0 && _slots[slot].Key != key)
                slot = (slot + 1) & (capacity - 1);
            if (_slots[slot].Key == 0)
                distinct++;
            _slots[slot].Key = key;
            _slots[slot].Value = Pack(rule.Priority, rule.Merged);
        }

        _rules = new MergeRule[distinct];
        int n = 0;
        foreach (var slot in _slots)
        {
            if (slot.Key == 0)
                continue;
            ulong pair = slot.Key - 1;
            _rules[n++] = new MergeRule((int)(pair >> 32), (int)(uint)pair, (int)(slot.Value >> 32), (int)(uint)slot.Value);
        }
        Array.Sort(_rules, (x, y) => x.Priority != y.Priority ? x.Priority.CompareTo(y.Priority)
            : x.Left != y.Left ? x.Left.CompareTo(y.Left) : x.Right.CompareTo(y.Right));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Pack(int priority, int merged) => ((ulong)(uint)priority << 32) | (uint)merged;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int MergedOf(ulong packed) => (int)(uint)packed;

    /// <summary>The packed (priority, merged id) of the pair, or <see cref="None"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ulong Find(int left, int right)
    {
        ulong key = Key(left, right);
        int slot = SlotOf(key);
        int mask = _slots.Length - 1;
        ref Slot slots = ref MemoryMarshal.GetArrayDataReference(_slots);
        while (true)
        {
            ref Slot s = ref Unsafe.Add(ref slots, slot);
            if (s.Key == key)
                return s.Value;
            if (s.Key == 0)
                return None;
            slot = (slot + 1) & mask;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Key(int left, int right) => (((ulong)(uint)left << 32) | (uint)right) + 1;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int SlotOf(ulong key) => (int)((key * 0x9E3779B97F4A7C15UL) >> _shift);
}
