using System.Text;
using Terse.Tokenization;

namespace Terse.EntropyCoding;

internal enum SegmentKind : byte
{
    /// <summary>Bytes given as tokens (decoded on their own with the tokenizer); Length counts tokens.</summary>
    Tokens = 0,
    /// <summary>Bytes the tokenizer cannot reproduce, stored verbatim; Length counts bytes.</summary>
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

        // The tokenizer cannot represent everything: runs of characters that it can represent one
        // by one become token segments, everything else (unknown characters, invalid UTF-8) raw bytes.
        var representable = new Dictionary<Rune, bool>();
        int position = 0;
        while (position < input.Length)
        {
            int start = position;
            while (position < input.Length && TryReadRepresentable(tokenizer, input, ref position, representable)) { }
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

    /// <summary>Advances past one character if it is valid UTF-8 and the tokenizer round-trips it alone.</summary>
    private static bool TryReadRepresentable(Tokenizer tokenizer, ReadOnlySpan<byte> input, ref int position, Dictionary<Rune, bool> cache)
    {
        if (Rune.DecodeFromUtf8(input[position..], out var rune, out int consumed) != System.Buffers.OperationStatus.Done)
            return false;
        if (!cache.TryGetValue(rune, out bool ok))
        {
            ok = EncodesExactly(tokenizer, input.Slice(position, consumed), out _);
            cache[rune] = ok;
        }
        if (ok)
            position += consumed;
        return ok;
    }

    /// <summary>
    /// Adds valid UTF-8 made of representable characters. If the whole run does not round-trip (a
    /// tokenizer may normalise some combinations), it is halved at a character boundary until the
    /// pieces do; a single character that still fails is stored raw.
    /// </summary>
    private static void AddText(Tokenizer tokenizer, ReadOnlySpan<byte> text, Builder builder)
    {
        if (EncodesExactly(tokenizer, text, out var ids))
        {
            builder.AddTokens(ids);
            return;
        }
        int middle = text.Length / 2;
        while (middle > 0 && (text[middle] & 0xC0) == 0x80)
            middle--;
        if (middle == 0)
        {
            builder.AddRaw(text);
            return;
        }
        AddText(tokenizer, text[..middle], builder);
        AddText(tokenizer, text[middle..], builder);
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
