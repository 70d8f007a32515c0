using System.Globalization;
using System.Runtime.CompilerServices;

namespace Terse.Tokenization.PreTokenization;

/// <summary>The character classes the tiktoken / Hugging Face pre-tokenizer patterns are written in.</summary>
[Flags]
internal enum CharClass : byte
{
    None = 0,
    /// <summary><c>\p{L}</c></summary>
    Letter = 1,
    /// <summary><c>\p{N}</c></summary>
    Number = 2,
    /// <summary><c>\s</c>: the Unicode White_Space property (the same set in Rust's regex and .NET's).</summary>
    Space = 4,
    /// <summary><c>\p{M}</c></summary>
    Mark = 8,
    /// <summary><c>[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]</c>, o200k's "upper-case-like" class.</summary>
    UpperLike = 16,
    /// <summary><c>[\p{Ll}\p{Lm}\p{Lo}\p{M}]</c>, o200k's "lower-case-like" class.</summary>
    LowerLike = 32,
    /// <summary><c>[\r\n]</c></summary>
    LineBreak = 64,
}

/// <summary>
/// Class of a code point, from .NET's Unicode data (the same data <see cref="System.Text.RegularExpressions.Regex"/>
/// uses, so the hand-written scanners and the regex oracle in the tests agree by construction).
/// </summary>
internal static class CodePointClasses
{
    // The whole BMP in one 64 KiB table: the scanners look a class up per code point, so this must be
    // a single load; supplementary code points (rare) go through CharUnicodeInfo.
    private static readonly byte[] Bmp = BuildBmp();

    public static CharClass Of(int codePoint) =>
        (uint)codePoint < 0x10000 ? (CharClass)Bmp[codePoint] : Compute(codePoint);

    /// <summary>Decodes the code point at <paramref name="index"/> of valid UTF-8 and returns its class.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static CharClass At(ReadOnlySpan<byte> utf8, int index, out int length)
    {
        uint b = utf8[index];
        if (b < 0x80)
        {
            length = 1;
            return (CharClass)Bmp[b];
        }
        return NonAscii(utf8, index, out length);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static CharClass NonAscii(ReadOnlySpan<byte> utf8, int index, out int length) =>
        Of(Utf8CodePoint.Decode(utf8, index, out length));

    internal static CharClass Compute(int codePoint)
    {
        if (codePoint is >= 0xD800 and <= 0xDFFF)
            return CharClass.None;
        var category = CharUnicodeInfo.GetUnicodeCategory(codePoint);
        var result = category switch
        {
            UnicodeCategory.UppercaseLetter or UnicodeCategory.TitlecaseLetter => CharClass.Letter | CharClass.UpperLike,
            UnicodeCategory.LowercaseLetter => CharClass.Letter | CharClass.LowerLike,
            UnicodeCategory.ModifierLetter or UnicodeCategory.OtherLetter => CharClass.Letter | CharClass.UpperLike | CharClass.LowerLike,
            UnicodeCategory.NonSpacingMark or UnicodeCategory.SpacingCombiningMark or UnicodeCategory.EnclosingMark
                => CharClass.Mark | CharClass.UpperLike | CharClass.LowerLike,
            UnicodeCategory.DecimalDigitNumber or UnicodeCategory.LetterNumber or UnicodeCategory.OtherNumber => CharClass.Number,
            _ => CharClass.None,
        };
        if (IsWhiteSpace(codePoint))
            result |= CharClass.Space;
        if (codePoint is '\r' or '\n')
            result |= CharClass.LineBreak;
        return result;
    }

    /// <summary>Unicode White_Space: what <c>\s</c> means in Rust's regex crate and in .NET.</summary>
    internal static bool IsWhiteSpace(int codePoint) =>
        codePoint < 0x10000 && char.IsWhiteSpace((char)codePoint);

    private static byte[] BuildBmp()
    {
        var table = new byte[0x10000];
        for (int c = 0; c < table.Length; c++)
            table[c] = (byte)Compute(c);
        return table;
    }
}

/// <summary>Decoding of code points from UTF-8 that is already known to be valid.</summary>
internal static class Utf8CodePoint
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int Decode(ReadOnlySpan<byte> utf8, int index, out int length)
    {
        int b = utf8[index];
        if (b < 0x80)
        {
            length = 1;
            return b;
        }
        if (b < 0xE0)
        {
            length = 2;
            return ((b & 0x1F) << 6) | (utf8[index + 1] & 0x3F);
        }
        if (b < 0xF0)
        {
            length = 3;
            return ((b & 0x0F) << 12) | ((utf8[index + 1] & 0x3F) << 6) | (utf8[index + 2] & 0x3F);
        }
        length = 4;
        return ((b & 0x07) << 18) | ((utf8[index + 1] & 0x3F) << 12) | ((utf8[index + 2] & 0x3F) << 6) | (utf8[index + 3] & 0x3F);
    }

    /// <summary>
    /// Length of the valid UTF-8 prefix of <paramref name="bytes"/>. The rest, if any, starts with an
    /// invalid sequence of <paramref name="invalidLength"/> bytes (the maximal invalid subpart, as the
    /// Unicode standard's replacement practice counts it).
    /// </summary>
    public static int ValidPrefixLength(ReadOnlySpan<byte> bytes, out int invalidLength)
    {
        int i = 0;
        invalidLength = 0;
        while (i < bytes.Length)
        {
            int nonAscii = bytes[i..].IndexOfAnyInRange((byte)0x80, (byte)0xFF);
            if (nonAscii < 0)
                return bytes.Length;
            i += nonAscii;
            var status = System.Text.Rune.DecodeFromUtf8(bytes[i..], out _, out int consumed);
            if (status != System.Buffers.OperationStatus.Done)
            {
                invalidLength = consumed;
                return i;
            }
            i += consumed;
        }
        return i;
    }
}
