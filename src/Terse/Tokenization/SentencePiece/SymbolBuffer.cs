namespace Terse.Tokenization.SentencePiece;

/// <summary>The initial symbols of one encode call, with a flag for those that must never merge.</summary>
internal struct SymbolBuffer(int capacity)
{
    public int[] Ids = new int[Math.Max(capacity, 4)];
    public bool[] Frozen = new bool[Math.Max(capacity, 4)];
    public int Count;
    public bool AnyFrozen;

    public void Add(int id, bool frozen)
    {
        if (Count == Ids.Length)
        {
            Array.Resize(ref Ids, Ids.Length * 2);
            Array.Resize(ref Frozen, Ids.Length);
        }
        Ids[Count] = id;
        Frozen[Count] = frozen;
        AnyFrozen |= frozen;
        Count++;
    }
}
