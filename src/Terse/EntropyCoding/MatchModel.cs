namespace Terse.EntropyCoding;

/// <summary>
/// The token-level match model of the mixer (container version 4): it predicts that the token which
/// followed an earlier occurrence of the chunk's most recent tokens comes again. It sees the whole
/// chunk, so it copies from far beyond the language model's window, which is where small models
/// lose to dictionary compressors (repeated log lines, JSON keys, code).
/// </summary>
/// <remarks>
/// Two hash tables remember, for the last few tokens (a long and a short context), the position
/// after their latest occurrence. When no match is running, both candidates are checked against
/// the history (hash collisions cost nothing but a look) and the longer verified one is followed:
/// the latest occurrence of the longer context, which predicts better than the latest of a short one. While the prediction keeps coming true the match extends by one token a step; the
/// first miss ends it and a new one is looked up at once. Everything is integers and depends only on
/// the tokens, so encoder and decoder agree on every machine.
/// </remarks>
internal sealed class MatchModel
{
    private readonly int shortOrder;
    private readonly int longOrder;

    /// <param name="shortOrder">Tokens the short context holds; also the shortest match followed.</param>
    /// <param name="longOrder">Tokens the long context holds.</param>
    public MatchModel(int shortOrder, int longOrder)
    {
        if (shortOrder < 1 || longOrder < shortOrder)
            throw new ArgumentOutOfRangeException(nameof(shortOrder), $"orders {shortOrder}, {longOrder}: need 1 ≤ short ≤ long");
        this.shortOrder = shortOrder;
        this.longOrder = longOrder;
    }

    /// <summary>How far back a candidate is verified; a longer match just grows as it is followed.</summary>
    private const int MaxVerified = 64;

    private const int HashBits = 16;

    // [2^HashBits]: per context hash, the position after its latest occurrence + 1 (0: empty).
    private readonly int[] shortTable = new int[1 << HashBits];
    private readonly int[] longTable = new int[1 << HashBits];

    /// <summary>Index into the history of the token the running match predicts.</summary>
    private int pointer;

    /// <summary>Tokens of the current match (0: none), capped at <see cref="MaxLength"/>.</summary>
    public int Length { get; private set; }

    public const int MaxLength = 65_535;

    /// <summary>Forgets the chunk.</summary>
    public void Reset()
    {
        Array.Clear(shortTable);
        Array.Clear(longTable);
        pointer = 0;
        Length = 0;
    }

    /// <summary>The token the match predicts next, or −1 without a match.</summary>
    public int Predicted(ReadOnlySpan<int> history) => Length > 0 ? history[pointer] : -1;

    /// <summary>Takes in the newest token, <c>history[^1]</c> (history holds the chunk's tokens so far).</summary>
    public void Update(ReadOnlySpan<int> history)
    {
        int last = history.Length - 1;
        if (Length > 0 && history[pointer] == history[last])
        {
            pointer++;
            if (Length < MaxLength)
                Length++;
        }
        else
        {
            Length = 0;
        }

        // The position after the newest token; tables store it + 1 so that 0 means empty.
        int next = history.Length;
        int shortSlot = -1, longSlot = -1;
        if (history.Length >= shortOrder)
            shortSlot = Slot(history[^shortOrder..]);
        if (history.Length >= longOrder)
            longSlot = Slot(history[^longOrder..]);
        if (Length < shortOrder)
        {
            // Look up before storing, so the newest occurrence does not find itself.
            var (best, bestLength) = Longer(Candidate(history, longTable, longSlot), Candidate(history, shortTable, shortSlot));
            if (bestLength >= shortOrder && bestLength > Length)
            {
                pointer = best;
                Length = bestLength;
            }
        }
        if (shortSlot >= 0)
            shortTable[shortSlot] = next + 1;
        if (longSlot >= 0)
            longTable[longSlot] = next + 1;
    }

    private static (int Position, int Length) Candidate(ReadOnlySpan<int> history, int[] table, int slot)
    {
        int candidate = slot < 0 ? -1 : table[slot] - 1;
        return candidate < 0 ? (0, 0) : (candidate, Verified(history, candidate));
    }

    // Ties go to the first (the long context's candidate).
    private static (int, int) Longer((int Position, int Length) a, (int Position, int Length) b) => b.Length > a.Length ? b : a;

    /// <summary>How many tokens before <paramref name="candidate"/> equal the newest ones (at most <see cref="MaxVerified"/>).</summary>
    private static int Verified(ReadOnlySpan<int> history, int candidate)
    {
        int length = 0;
        int last = history.Length - 1;
        while (length < MaxVerified && candidate - 1 - length >= 0 && history[candidate - 1 - length] == history[last - length])
            length++;
        return length;
    }

    private static int Slot(ReadOnlySpan<int> tokens)
    {
        ulong hash = 0;
        foreach (int token in tokens)
            hash = TokenHash.Step(hash, token);
        return (int)(hash >> (64 - HashBits));
    }
}

/// <summary>The hash of token contexts in the mixer (part of container version 4: it decides which contexts share a slot).</summary>
internal static class TokenHash
{
    /// <summary>Takes in the next token (−1: a position before the chunk's start), oldest first from 0.</summary>
    public static ulong Step(ulong hash, int token) => (hash + (ulong)(uint)(token + 1)) * 0x9E3779B97F4A7C15UL;
}
