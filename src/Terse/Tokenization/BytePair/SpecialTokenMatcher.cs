using System.Buffers;
using System.Text;
using Terse.Tokenization.PreTokenization;

namespace Terse.Tokenization.BytePair;

/// <summary>
/// A special (control) or added token. <paramref name="LStrip"/>/<paramref name="RStrip"/> are Hugging
/// Face's added-token flags: the match absorbs the white space before/after it.
/// </summary>
internal sealed record SpecialToken(string Text, int Id, bool LStrip = false, bool RStrip = false);

/// <summary>Finds special tokens in UTF-8 text: the leftmost occurrence, the longest one at that position.</summary>
internal sealed class SpecialTokenMatcher
{
    private readonly SearchValues<byte> _firstBytes;
    private readonly (byte[] Bytes, SpecialToken Token)[][] _byFirstByte;

    public SpecialTokenMatcher(IEnumerable<SpecialToken> specials)
    {
        var lists = new List<(byte[], SpecialToken)>?[256];
        foreach (var special in specials)
        {
            var bytes = Encoding.UTF8.GetBytes(special.Text);
            if (bytes.Length == 0)
                throw new InvalidDataException("a special token has empty text");
            (lists[bytes[0]] ??= []).Add((bytes, special));
        }
        _byFirstByte = new (byte[], SpecialToken)[256][];
        var first = new List<byte>();
        for (int b = 0; b < 256; b++)
        {
            var list = lists[b];
            _byFirstByte[b] = list is null ? [] : [.. list.OrderByDescending(t => t.Item1.Length)];
            if (list is not null)
                first.Add((byte)b);
        }
        _firstBytes = SearchValues.Create(first.ToArray());
    }

    /// <summary>
    /// The next special token in <paramref name="text"/> at or after <paramref name="from"/>:
    /// <paramref name="start"/>..<paramref name="end"/> is the text it replaces (white space included
    /// for stripping tokens, never reaching back before <paramref name="from"/>).
    /// </summary>
    public bool FindNext(ReadOnlySpan<byte> text, int from, out int start, out int end, out int id)
    {
        int position = from;
        while (position < text.Length)
        {
            int found = text[position..].IndexOfAny(_firstBytes);
            if (found < 0)
                break;
            position += found;
            foreach (var (bytes, token) in _byFirstByte[text[position]])
            {
                if (!text[position..].StartsWith(bytes))
                    continue;
                start = position;
                end = position + bytes.Length;
                if (token.LStrip)
                    start = WhitespaceStartBefore(text, from, start);
                if (token.RStrip)
                    end = WhitespaceEndAfter(text, end);
                id = token.Id;
                return true;
            }
            position++;
        }
        start = end = id = 0;
        return false;
    }

    private static int WhitespaceEndAfter(ReadOnlySpan<byte> text, int i)
    {
        while (i < text.Length && (CodePointClasses.At(text, i, out int length) & CharClass.Space) != 0)
            i += length;
        return i;
    }

    private static int WhitespaceStartBefore(ReadOnlySpan<byte> text, int limit, int i)
    {
        while (i > limit)
        {
            int j = i - 1;
            while (j > limit && (text[j] & 0xC0) == 0x80)
                j--;
            if ((CodePointClasses.At(text, j, out _) & CharClass.Space) == 0)
                break;
            i = j;
        }
        return i;
    }
}
