using System.Text;
using Terse.Tokenization;

namespace Terse.EntropyCoding;

internal enum SegmentKind : byte
{
    /// <summary>Bytes given as tokens (decoded on their own with the tokenizer); Length counts tokens.</summary>
    Tokens = 0,
    /// <summary>Bytes the tokenizer cannot reproduce (coded as an escape); Length counts bytes.</summary>
    Raw = 1,
}

internal readonly record struct Segment(SegmentKind Kind, int Length);

/// <summary>An input split into token segments (whose ids, concatenated, are what the model codes) and raw segments.</summary>
internal sealed class SegmentedInput
{
    public required Segment[] Segments { get; init; }
    public required int[] Tokens { get; init; }
    public required byte[] RawBytes { get; init; }
    public required int ByteLength { get; init; }
}

/// <summary>
/// Turns arbitrary bytes into token segments and raw segments such that decoding each token
/// segment alone and concatenating everything gives the input back exactly. Every token segment
/// is verified by decoding it, so nothing is lost even if a tokenizer does not round-trip some text.
/// </summary>
internal static class InputSegmenter
{
    public static SegmentedInput Split(Tokenizer tokenizer, ReadOnlySpan<byte> input)
    {
        var builder = new Builder();
        if (input.IsEmpty)
            return builder.Build(0);

        var ids = new List<int>(input.Length / 3 + 4);
        if (tokenizer.TryEncodeBytes(input, ids, EncodeOptions.Default) && RoundTrips(tokenizer, ids, input))
        {
            builder.AddTokens(ids);
            return builder.Build(input.Length);
        }

        // The tokenizer cannot represent everything: runs of characters that may be representable
        // become token segments (each verified), everything else (characters the tokenizer cannot
        // reproduce, invalid UTF-8) raw bytes.
        var candidates = new Dictionary<Rune, bool>();
        int position = 0;
        while (position < input.Length)
        {
            int start = position;
            while (position < input.Length && TryReadCandidate(tokenizer, input, ref position, candidates)) { }
            if (position > start)
                AddText(tokenizer, input[start..position], builder);
            if (position < input.Length)
            {
                int rawStart = position;
                position += Rune.DecodeFromUtf8(input[position..], out _, out int consumed) == System.Buffers.OperationStatus.Done ? consumed : 1;
                builder.AddRaw(input[rawStart..position]);
            }
        }
        return builder.Build(input.Length);
    }

    /// <summary>
    /// Advances past one character if it is valid UTF-8 and either the tokenizer round-trips it alone
    /// or it is whitespace (which a tokenizer may reproduce only between other characters, as
    /// SentencePiece does, stripping it at the ends).
    /// </summary>
    private static bool TryReadCandidate(Tokenizer tokenizer, ReadOnlySpan<byte> input, ref int position, Dictionary<Rune, bool> cache)
    {
        if (Rune.DecodeFromUtf8(input[position..], out var rune, out int consumed) != System.Buffers.OperationStatus.Done)
            return false;
        if (!cache.TryGetValue(rune, out bool ok))
        {
            ok = Rune.IsWhiteSpace(rune) || EncodesExactly(tokenizer, input.Slice(position, consumed), out _);
            cache[rune] = ok;
        }
        if (ok)
            position += consumed;
        return ok;
    }

    /// <summary>
    /// Adds valid UTF-8 of candidate characters as token segments, each the longest prefix found that
    /// round-trips: prefixes of doubling length are tried until one fails, then the boundary is
    /// bisected (O(n log n) encoding in all). A character that fails even alone is stored raw.
    /// </summary>
    private static void AddText(Tokenizer tokenizer, ReadOnlySpan<byte> text, Builder builder)
    {
        const int FirstProbe = 256;
        while (!text.IsEmpty)
        {
            List<int>? goodIds = null;
            int good = 0, bad = text.Length + 1;
            for (int probe = FirstProbe; good < text.Length; probe *= 2)
            {
                int length = CutPoint(text, Math.Min(probe, text.Length), good);
                if (length <= good)
                    break;
                if (!EncodesExactly(tokenizer, text[..length], out var ids))
                {
                    bad = length;
                    break;
                }
                (good, goodIds) = (length, ids);
            }
            while (bad - good > 1 && good < text.Length)
            {
                int length = CutPoint(text, good + (bad - good) / 2, good);
                if (length <= good || length >= bad)
                    break;
                if (EncodesExactly(tokenizer, text[..length], out var ids))
                    (good, goodIds) = (length, ids);
                else
                    bad = length;
            }
            if (goodIds is null)
            {
                Rune.DecodeFromUtf8(text, out _, out int consumed);
                builder.AddRaw(text[..consumed]);
                text = text[consumed..];
            }
            else
            {
                builder.AddTokens(goodIds);
                text = text[good..];
            }
        }
    }

    /// <summary>
    /// A cut at or before <paramref name="length"/> on a character boundary, moved before trailing
    /// whitespace (which tokenizers may strip at the end of a piece); at least one character past
    /// <paramref name="floor"/> when possible.
    /// </summary>
    private static int CutPoint(ReadOnlySpan<byte> text, int length, int floor)
    {
        if (length >= text.Length)
            return text.Length;
        while (length > floor && (text[length] & 0xC0) == 0x80)
            length--;
        int trimmed = length;
        while (trimmed > floor && text[trimmed - 1] is (byte)' ' or (byte)'\t' or (byte)'\n' or (byte)'\r')
            trimmed--;
        if (trimmed > floor)
            return trimmed;
        if (length > floor)
            return length;
        // Nothing between floor and length: take the first whole character after floor.
        Rune.DecodeFromUtf8(text[floor..], out _, out int consumed);
        return floor + Math.Max(1, consumed);
    }

    private static bool EncodesExactly(Tokenizer tokenizer, ReadOnlySpan<byte> utf8, out List<int> ids)
    {
        ids = new List<int>(utf8.Length / 3 + 4);
        tokenizer.Encode(Encoding.UTF8.GetString(utf8).AsSpan(), ids, EncodeOptions.Default);
        return ids.Count > 0 && RoundTrips(tokenizer, ids, utf8);
    }

    private static bool RoundTrips(Tokenizer tokenizer, List<int> ids, ReadOnlySpan<byte> expected)
    {
        if (ids.Count == 0)
            return false;
        var decoded = new System.Buffers.ArrayBufferWriter<byte>(expected.Length + 16);
        tokenizer.DecodeToBytes(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(ids), decoded);
        return decoded.WrittenSpan.SequenceEqual(expected);
    }

    private sealed class Builder
    {
        private readonly List<Segment> segments = [];
        private readonly List<int> tokens = [];
        private readonly List<byte> raw = [];

        public void AddTokens(List<int> ids)
        {
            segments.Add(new Segment(SegmentKind.Tokens, ids.Count));
            tokens.AddRange(ids);
        }

        public void AddRaw(ReadOnlySpan<byte> bytes)
        {
            // Neighbouring raw pieces merge: one header instead of several.
            if (segments.Count > 0 && segments[^1].Kind == SegmentKind.Raw)
                segments[^1] = segments[^1] with { Length = segments[^1].Length + bytes.Length };
            else
                segments.Add(new Segment(SegmentKind.Raw, bytes.Length));
            foreach (var b in bytes)
                raw.Add(b);
        }

        public SegmentedInput Build(int byteLength) => new()
        {
            Segments = [.. segments],
            Tokens = [.. tokens],
            RawBytes = [.. raw],
            ByteLength = byteLength,
        };
    }
}
