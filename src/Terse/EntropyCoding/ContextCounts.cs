namespace Terse.EntropyCoding;

/// <summary>
/// An order-k token model of the mixer (container version 4): how often each token followed the
/// previous k tokens so far in the chunk. Only the tokens that did follow are stored (a list per
/// context), so a prediction costs the number of distinct followers, not the vocabulary. A context
/// is known by a 64-bit hash of its tokens (<see cref="TokenHash"/>), so any order and vocabulary
/// fit; two contexts that collide share their counts, in the encoder and the decoder alike.
/// </summary>
internal sealed class ContextCounts
{
    private readonly int order;
    /// <summary>Context hash → context number.</summary>
    private readonly Dictionary<ulong, int> contexts = [];

    // [contextCount] (capacity grows): per context its first follower entry and how often it was seen.
    private int[] heads = new int[256];
    private int[] totals = new int[256];

    // [entries] (capacity grows): per follower entry its token, count and the context's next entry (−1: last).
    private int[] entryToken = new int[1024];
    private int[] entryCount = new int[1024];
    private int[] entryNext = new int[1024];
    private int contextCount, entries;

    /// <summary>The context of the next token (−1: never seen in this chunk).</summary>
    private int current = -1;

    /// <param name="order">Tokens of context (1 or more; positions before the chunk's start count as one more symbol).</param>
    public ContextCounts(int order)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(order, 1);
        this.order = order;
    }

    public void Reset()
    {
        contexts.Clear();
        contextCount = 0;
        entries = 0;
        current = -1;
    }

    /// <summary>Times the current context was seen (0: never).</summary>
    public int Total => current < 0 ? 0 : totals[current];

    /// <summary>First entry of the current context's followers (−1: none); walk with <see cref="Next"/>.</summary>
    public int First => current < 0 ? -1 : heads[current];

    public int Next(int entry) => entryNext[entry];
    public int Token(int entry) => entryToken[entry];
    public int Count(int entry) => entryCount[entry];

    /// <summary>Finds the context of the token after <paramref name="history"/>.</summary>
    public void Find(ReadOnlySpan<int> history) => current = contexts.GetValueOrDefault(Key(history), -1);

    /// <summary>Counts <paramref name="token"/> after the context <see cref="Find"/> found (from the same history).</summary>
    public void Add(ReadOnlySpan<int> history, int token)
    {
        if (current < 0)
        {
            current = contextCount++;
            Grow(ref heads, contextCount);
            Grow(ref totals, contextCount);
            heads[current] = -1;
            totals[current] = 0;
            contexts.Add(Key(history), current);
        }
        totals[current]++;
        for (int e = heads[current]; e >= 0; e = entryNext[e])
        {
            if (entryToken[e] == token)
            {
                entryCount[e]++;
                return;
            }
        }
        int added = entries++;
        Grow(ref entryToken, entries);
        Grow(ref entryCount, entries);
        Grow(ref entryNext, entries);
        entryToken[added] = token;
        entryCount[added] = 1;
        entryNext[added] = heads[current];
        heads[current] = added;
    }

    private ulong Key(ReadOnlySpan<int> history)
    {
        ulong key = 0;
        for (int k = order; k >= 1; k--)
            key = TokenHash.Step(key, history.Length >= k ? history[^k] : -1);
        return key;
    }

    private static void Grow(ref int[] array, int length)
    {
        if (array.Length < length)
            Array.Resize(ref array, Math.Max(length, 2 * array.Length));
    }
}
