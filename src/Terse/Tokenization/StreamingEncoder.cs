namespace Terse.Tokenization;

/// <summary>
/// Encodes a stream of any length in bounded memory, block by block, for the tokenizers whose ids do
/// not depend on where the text is cut at certain places (<see cref="Tokenizer.CutsBeforeWords"/>:
/// byte-level BPE with a tiktoken-family pre-tokenizer, no normalization, no prefix space). The ids
/// are exactly those of the whole text given at once: a block ends just before an ASCII letter that
/// follows a space or a line break that itself follows a visible ASCII character, where every such
/// pre-tokenizer ends a piece whatever comes next, and pieces are encoded independently.
/// </summary>
public static class StreamingEncoder
{
    public const int DefaultBlockBytes = 1 << 20;

    /// <summary>The most bytes held while looking for a place to cut (a text with no space or line break before a letter for this long is refused).</summary>
    public const int DefaultMaxPendingBytes = 16 << 20;

    public static bool Supports(Tokenizer tokenizer, EncodeOptions options) => tokenizer.CutsBeforeWords(options);

    /// <summary>
    /// Reads <paramref name="input"/> to its end and passes the ids of each block to <paramref name="sink"/>
    /// (the list is reused: copy what you keep). Invalid UTF-8 goes through the byte fallback, as in
    /// <see cref="Tokenizer.TryEncodeBytes"/>. Returns the number of bytes read. Throws
    /// <see cref="InvalidDataException"/> when <paramref name="maxPendingBytes"/> pass without a place to cut.
    /// </summary>
    public static long Encode(Tokenizer tokenizer, Stream input, EncodeOptions options, Action<List<int>> sink,
        int blockBytes = DefaultBlockBytes, int maxPendingBytes = DefaultMaxPendingBytes)
    {
        if (!Supports(tokenizer, options))
            throw new NotSupportedException($"tokenizer '{tokenizer.Name}' cannot encode a stream block by block");
        ArgumentOutOfRangeException.ThrowIfLessThan(blockBytes, 1);
        var buffer = new byte[Math.Min(blockBytes, maxPendingBytes) + blockBytes];
        var ids = new List<int>();
        var inner = options with { AddBos = false, AddEos = false };
        int pending = 0;
        long total = 0;
        bool first = true;
        while (true)
        {
            if (buffer.Length - pending < blockBytes)
                Array.Resize(ref buffer, Math.Max(buffer.Length * 2, pending + blockBytes));
            int read = input.ReadAtLeast(buffer.AsSpan(pending, blockBytes), blockBytes, throwOnEndOfStream: false);
            total += read;
            pending += read;
            bool end = read < blockBytes;
            int cut = end ? pending : LastCut(buffer.AsSpan(0, pending));
            if (cut <= 0)
            {
                if (pending > maxPendingBytes)
                    throw new InvalidDataException($"the input has {pending:N0} bytes without a space or line break before a letter, where it could be cut; " +
                        $"a stream is encoded in pieces of at most {maxPendingBytes >> 20} MiB");
                continue;
            }
            ids.Clear();
            if (first && options.AddBos && tokenizer.BosId is int bos)
                ids.Add(bos);
            first = false;
            tokenizer.TryEncodeBytes(buffer.AsSpan(0, cut), ids, inner);
            if (end && options.AddEos && tokenizer.EosId is int eos)
                ids.Add(eos);
            sink(ids);
            if (end)
                return total;
            buffer.AsSpan(cut, pending - cut).CopyTo(buffer);
            pending -= cut;
        }
    }

    /// <summary>The last place in <paramref name="text"/> where it may be cut, or 0.</summary>
    internal static int LastCut(ReadOnlySpan<byte> text)
    {
        for (int p = text.Length - 1; p >= 2; p--)
        {
            if (!IsAsciiLetter(text[p]))
                continue;
            if (text[p - 1] == (byte)' ' && IsVisibleAscii(text[p - 2]))
                return p - 1;
            if (text[p - 1] == (byte)'\n' && IsVisibleAscii(text[p - 2]))
                return p;
        }
        return 0;
    }

    private static bool IsAsciiLetter(byte b) => (uint)((b | 0x20) - 'a') <= 'z' - 'a';

    private static bool IsVisibleAscii(byte b) => b is > 0x20 and < 0x7F;
}
