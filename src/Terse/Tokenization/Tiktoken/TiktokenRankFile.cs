using System.Buffers.Text;
using System.Text;

namespace Terse.Tokenization.Tiktoken;

/// <summary>
/// The tiktoken rank file format (<c>.tiktoken</c>): one <c>base64(token bytes) SP rank</c> per line.
/// </summary>
internal static class TiktokenRankFile
{
    /// <summary>
    /// Ranks may leave gaps (p50k_base's 50256 is the special token), but not absurdly large ones: a
    /// rank beyond the line count plus this would make the id tables huge for a tiny file.
    /// </summary>
    internal const int MaxRankSlack = 1 << 20;

    /// <summary>Token bytes by rank; null where a rank is unassigned. Throws <see cref="InvalidDataException"/> naming <paramref name="source"/>.</summary>
    public static byte[]?[] Parse(ReadOnlySpan<byte> content, string source)
    {
        var entries = new List<(byte[] Token, int Rank, int Line)>();
        int maxRank = -1;
        int lineNumber = 0;
        while (!content.IsEmpty)
        {
            lineNumber++;
            int newline = content.IndexOf((byte)'\n');
            var line = newline < 0 ? content : content[..newline];
            content = newline < 0 ? default : content[(newline + 1)..];
            if (!line.IsEmpty && line[^1] == (byte)'\r')
                line = line[..^1];
            if (line.IsEmpty)
                continue;

            int space = line.IndexOf((byte)' ');
            if (space <= 0 || line[(space + 1)..].IndexOf((byte)' ') >= 0)
                throw Error(source, lineNumber, "expected 'base64-token rank'");
            var encoded = line[..space];
            var token = new byte[Base64.GetMaxDecodedFromUtf8Length(encoded.Length)];
            if (Base64.DecodeFromUtf8(encoded, token, out _, out int length) != System.Buffers.OperationStatus.Done || length == 0)
                throw Error(source, lineNumber, $"'{Encoding.ASCII.GetString(encoded[..Math.Min(encoded.Length, 40)])}' is not valid non-empty base64");
            var rankText = line[(space + 1)..];
            if (!int.TryParse(rankText, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int rank))
                throw Error(source, lineNumber, $"rank '{Encoding.ASCII.GetString(rankText[..Math.Min(rankText.Length, 20)])}' is not an integer in 0..{int.MaxValue}");
            entries.Add((token[..length], rank, lineNumber));
            maxRank = Math.Max(maxRank, rank);
        }
        if (entries.Count == 0)
            throw new InvalidDataException($"{source}: no tokens");
        if (maxRank >= entries.Count + MaxRankSlack)
            throw new InvalidDataException($"{source}: rank {maxRank} is implausibly large for {entries.Count} tokens");

        var tokens = new byte[]?[maxRank + 1];
        var lineOfRank = new int[maxRank + 1];
        foreach (var (token, rank, line) in entries)
        {
            if (tokens[rank] is not null)
                throw Error(source, line, $"rank {rank} is also given on line {lineOfRank[rank]}");
            tokens[rank] = token;
            lineOfRank[rank] = line;
        }
        return tokens;
    }

    /// <summary>
    /// Whether a file starts like a rank file (first line <c>base64 SP digits</c>): Meta ships Llama 3's
    /// rank file as <c>tokenizer.model</c>, the name SentencePiece models have, so a <c>.model</c>
    /// loader can hand such a file to <see cref="TiktokenFileLoader.Load"/>.
    /// </summary>
    public static bool LooksLikeRankFile(ReadOnlySpan<byte> start)
    {
        int newline = start.IndexOf((byte)'\n');
        var line = newline < 0 ? start : start[..newline];
        int space = line.IndexOf((byte)' ');
        if (space <= 0 || space == line.Length - 1)
            return false;
        foreach (byte b in line[..space])
            if (!(char.IsAsciiLetterOrDigit((char)b) || b is (byte)'+' or (byte)'/' or (byte)'='))
                return false;
        foreach (byte b in line[(space + 1)..].TrimEnd((byte)'\r'))
            if (!char.IsAsciiDigit((char)b))
                return false;
        return true;
    }

    public static void Write(IReadOnlyList<byte[]?> tokensByRank, TextWriter writer)
    {
        for (int rank = 0; rank < tokensByRank.Count; rank++)
        {
            if (tokensByRank[rank] is { } token)
                writer.Write($"{Convert.ToBase64String(token)} {rank}\n");
        }
    }

    private static InvalidDataException Error(string source, int line, string message) =>
        new($"{source}, line {line}: {message}");
}
