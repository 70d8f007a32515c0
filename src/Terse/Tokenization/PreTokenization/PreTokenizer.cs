using Terse.Tokenization.BytePair;

namespace Terse.Tokenization.PreTokenization;

/// <summary>
/// Splits text into pieces that are byte-pair encoded independently, as a tokenizer's pre-tokenizer
/// pattern (tiktoken's <c>pat_str</c>, a Hugging Face <c>Split</c>/<c>ByteLevel</c> regex) does.
/// Works on valid UTF-8 so that piece boundaries are byte offsets and no piece needs converting.
/// </summary>
internal abstract class PreTokenizer
{
    /// <summary>A stable identifier of the splitting rule; part of a tokenizer's fingerprint.</summary>
    public abstract string Id { get; }

    /// <summary>Byte-pair encodes each piece of <paramref name="utf8"/> (valid UTF-8) with <paramref name="model"/>.</summary>
    public abstract void Encode(ReadOnlySpan<byte> utf8, BytePairModel model, List<int> ids);

    /// <summary>Appends the end offset of every piece of <paramref name="utf8"/>, in order (for tests and diagnostics).</summary>
    public abstract void Split(ReadOnlySpan<byte> utf8, List<int> pieceEnds);
}

/// <summary>A hand-written scanner that finds each piece's end from its start, with no allocation.</summary>
internal abstract class ScanningPreTokenizer : PreTokenizer
{
    /// <summary>End (exclusive) of the piece that starts at <paramref name="start"/> (&lt; length).</summary>
    public abstract int PieceEnd(ReadOnlySpan<byte> utf8, int start);

    public sealed override void Encode(ReadOnlySpan<byte> utf8, BytePairModel model, List<int> ids)
    {
        for (int start = 0; start < utf8.Length;)
        {
            int end = PieceEnd(utf8, start);
            model.EncodePiece(utf8[start..end], ids);
            start = end;
        }
    }

    public sealed override void Split(ReadOnlySpan<byte> utf8, List<int> pieceEnds)
    {
        for (int start = 0; start < utf8.Length;)
        {
            start = PieceEnd(utf8, start);
            pieceEnds.Add(start);
        }
    }

    // ---- shared pieces of the pattern families ----

    protected static int ClassRunEnd(ReadOnlySpan<byte> s, int i, CharClass cls)
    {
        while (i < s.Length)
        {
            if ((CodePointClasses.At(s, i, out int len) & cls) == 0)
                break;
            i += len;
        }
        return i;
    }

    /// <summary>End of a run of <c>[^\s\p{L}\p{N}]</c> starting at <paramref name="i"/>.</summary>
    protected static int OtherRunEnd(ReadOnlySpan<byte> s, int i)
    {
        while (i < s.Length)
        {
            if ((CodePointClasses.At(s, i, out int len) & (CharClass.Space | CharClass.Letter | CharClass.Number)) != 0)
                break;
            i += len;
        }
        return i;
    }

    protected static bool IsOther(CharClass c) => (c & (CharClass.Space | CharClass.Letter | CharClass.Number)) == 0;

    /// <summary>
    /// The whitespace alternatives, with <paramref name="i"/> at a white-space character:
    /// <c>\s*[\r\n]+</c> (when <paramref name="lineBreakRule"/>), then <c>\s+(?!\S)</c>, then <c>\s+</c>.
    /// </summary>
    protected static int WhitespaceEnd(ReadOnlySpan<byte> s, int i, bool lineBreakRule)
    {
        int j = i, lastStart = i, lastLineBreakEnd = -1;
        while (j < s.Length)
        {
            var c = CodePointClasses.At(s, j, out int len);
            if ((c & CharClass.Space) == 0)
                break;
            lastStart = j;
            j += len;
            if ((c & CharClass.LineBreak) != 0)
                lastLineBreakEnd = j;
        }
        // \s*[\r\n]+ : \s* backtracks to the last line break of the run; [\r\n]+ then ends right after it.
        if (lineBreakRule && lastLineBreakEnd >= 0)
            return lastLineBreakEnd;
        // \s+(?!\S) : the whole run at the end of the text, otherwise all but its last character,
        // which is left to prefix the next piece; a run of one falls through to \s+.
        if (j == s.Length || lastStart == i)
            return j;
        return lastStart;
    }

    /// <summary>
    /// Length of a contraction <c>'s|'t|'re|'ve|'m|'ll|'d</c> at <paramref name="i"/> (0 if none).
    /// Case-insensitive matching follows Rust's regex crate (Unicode simple case folding), under which
    /// <c>s</c> also matches U+017F LATIN SMALL LETTER LONG S; none of the other letters has a third form.
    /// </summary>
    protected static int ContractionLength(ReadOnlySpan<byte> s, int i, bool ignoreCase)
    {
        if (i + 1 >= s.Length || s[i] != (byte)'\'')
            return 0;
        int c1 = s[i + 1];
        if (ignoreCase)
        {
            if (c1 == 0xC5 && i + 2 < s.Length && s[i + 2] == 0xBF)
                return 3; // 'ſ
            c1 |= 0x20;
        }
        switch (c1)
        {
            case 's' or 't' or 'm' or 'd':
                return 2;
            case 'r' or 'v' or 'l':
                if (i + 2 >= s.Length)
                    return 0;
                int c2 = ignoreCase ? s[i + 2] | 0x20 : s[i + 2];
                return (c1 == 'l' ? c2 == 'l' : c2 == 'e') ? 3 : 0;
            default:
                return 0;
        }
    }
}
