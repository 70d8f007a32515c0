namespace Terse.EntropyCoding;

/// <summary>
/// Cuts an input into the chunks the codec codes independently (in parallel, each from a fresh
/// context, each stored verbatim when coding does not pay). Where exactly a chunk ends is the
/// encoder's choice — the container records each chunk's payload, not the rule — so the rule only
/// aims at cheap cuts: after a line break, else after a space, else at a UTF-8 character boundary,
/// never below half the size asked for.
/// </summary>
internal static class InputChunker
{
    public static List<Range> Cut(ReadOnlySpan<byte> input, int maxBytes)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxBytes, 1);
        var chunks = new List<Range>(input.Length / maxBytes + 1);
        for (int start = 0; start < input.Length;)
        {
            int end = End(input, start, maxBytes);
            chunks.Add(start..end);
            start = end;
        }
        return chunks;
    }

    private static int End(ReadOnlySpan<byte> input, int start, int maxBytes)
    {
        int limit = start + maxBytes;
        if (limit >= input.Length)
            return input.Length;
        // Candidate ends lie in [lowest, limit]: the chunk keeps at least half its size.
        int lowest = start + Math.Max(1, maxBytes / 2);
        int newline = input[(lowest - 1)..limit].LastIndexOf((byte)'\n');
        if (newline >= 0)
            return lowest + newline;
        int space = input[(lowest - 1)..limit].LastIndexOf((byte)' ');
        if (space >= 0)
            return lowest + space;
        // Not inside a multi-byte character (continuation bytes are 10xxxxxx).
        for (int end = limit; end >= lowest && end > limit - 4; end--)
            if ((input[end] & 0xC0) != 0x80)
                return end;
        return limit;
    }
}
