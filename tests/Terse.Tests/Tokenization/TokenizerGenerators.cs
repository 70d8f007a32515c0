using System.Text;
using FsCheck;
using FsCheck.Fluent;

namespace Terse.Tests.Tokenization;

/// <summary>Random inputs for tokenizer round-trip properties.</summary>
public static class TokenizerGenerators
{
    /// <summary>
    /// Strings of valid Unicode scalars weighted towards what trips tokenizers: spaces and runs of
    /// spaces (dummy prefix, ▁), newlines and tabs, ASCII, Latin/Cyrillic/CJK letters, emoji (surrogate
    /// pairs, byte fallback), control characters and NUL.
    /// </summary>
    /// <param name="withSpaceSymbol">
    /// Include U+2581 (▁). SentencePiece writes spaces as ▁ and decodes every ▁ as a space, so text
    /// containing a literal ▁ cannot round-trip through a SentencePiece vocabulary.
    /// </param>
    public static Arbitrary<string> UnicodeText(bool withSpaceSymbol = true)
    {
        var scalar = Gen.Frequency(
            (6, Gen.Choose(0x21, 0x7E)),
            (4, Gen.Elements(0x20, 0x20, 0x20, 0x0A, 0x09, 0x0D)),
            (2, Gen.Choose(0x00, 0x1F)),
            (2, Gen.Choose(0xA0, 0x2FF)),
            (2, Gen.Choose(0x400, 0x4FF)),
            (2, Gen.Choose(0x4E00, 0x9FFF)),
            (1, Gen.Choose(0xE000, 0xFFFD)),
            (2, Gen.Choose(0x1F300, 0x1FAFF)),
            (1, Gen.Choose(0x10000, 0x10FFFF)),
            (1, withSpaceSymbol ? Gen.Elements(0x2581, 0x2047, 0xFEFF, 0x200D, 0xFFFD) : Gen.Elements(0x2047, 0xFEFF, 0x200D, 0xFFFD)));
        return Gen.ArrayOf(scalar)
            .Select(codePoints =>
            {
                var builder = new StringBuilder(codePoints.Length * 2);
                foreach (int c in codePoints)
                    builder.Append(char.ConvertFromUtf32(c is >= 0xD800 and <= 0xDFFF || (c == 0x2581 && !withSpaceSymbol) ? 0xFFFD : c));
                return builder.ToString();
            })
            .ToArbitrary();
    }

    /// <summary>Byte strings mixing valid UTF-8 text with stray, truncated and overlong sequences.</summary>
    public static Arbitrary<byte[]> MixedBytes(bool withSpaceSymbol = true)
    {
        var chunk = Gen.Frequency(
            (3, UnicodeText(withSpaceSymbol).Generator.Select(s => Encoding.UTF8.GetBytes(s))),
            (2, Gen.ArrayOf(Gen.Choose(0, 255).Select(b => (byte)b))),
            (1, Gen.Elements(new byte[] { 0xC3 }, new byte[] { 0xE2, 0x96 }, new byte[] { 0x80, 0x80, 0x80, 0x80, 0x80 },
                new byte[] { 0xC0, 0xAF }, new byte[] { 0xED, 0xA0, 0x80 }, new byte[] { 0xF4, 0x90, 0x80, 0x80 }, new byte[] { 0xFF, 0xFE })));
        return Gen.ListOf(chunk).Select(chunks =>
        {
            var bytes = chunks.SelectMany(c => c).ToArray();
            // Random bytes can spell ▁ (E2 96 81) too; turn it into another valid character when excluded.
            for (int i = 2; i < bytes.Length && !withSpaceSymbol; i++)
                if (bytes[i - 2] == 0xE2 && bytes[i - 1] == 0x96 && bytes[i] == 0x81)
                    bytes[i] = 0x80;
            return bytes;
        }).ToArbitrary();
    }

    /// <summary>
    /// <paramref name="maxTest"/> cases, times TERSE_PROPERTY_SCALE when set (for long local campaigns).
    /// Quiet on success: FsCheck would otherwise print to the process-wide console, which in-process
    /// CLI tests capture.
    /// </summary>
    public static Config Config(int maxTest) => FsCheck.Config.QuickThrowOnFailure.WithEndSize(60).WithQuietOnSuccess(true)
        .WithMaxTest(maxTest * (int.TryParse(Environment.GetEnvironmentVariable("TERSE_PROPERTY_SCALE"), out int scale) && scale > 0 ? scale : 1));

    // ---- text that exercises pre-tokenizer patterns ----

    /// <summary>
    /// Fragments where the byte-level BPE pre-tokenizer patterns are subtle: white-space runs with
    /// \r\n mixes, digits of several scripts, apostrophe contractions in both cases (and ſ, which
    /// folds to s), combining marks, letters of every case category, non-BMP letters and digits,
    /// emoji, Unicode spaces, format characters.
    /// </summary>
    private static readonly string[] PatternFragments =
    [
        " ", " ", "  ", "\t", "\n", "\r\n", "\r", "\n\n", " \n", "\u00A0", "\u3000", "\u2028", "\u0085", "\u000B",
        "a", "b", "Z", "Q", "word", "Word", "WORD", "hello", "The", "x",
        "0", "7", "42", "12345", "\u0663", "\U0001D7CE", "\u00BD", "\u216B", "\u2460",
        "'", "'s", "'S", "'t", "'re", "'RE", "'Ve", "'m", "'ll", "'LL", "'d", "'D", "'\u017F", "'x", "''",
        ".", ",", "!", "?", "-", "/", "//", "(", ")", "\"", "<|", "|>", "@", "#", "$", "_", "\\", "*",
        "\u0301", "\u0300", "\u20DD", "\u0903",                 // Mn, Mn, Me, Mc
        "\u00E9", "\u00C9", "\u01C5", "\u02B0", "\u3005",         // Ll, Lu, Lt, Lm, Lm
        "\u4E2D", "\u6587", "\u3042", "\uAC00",                   // Lo
        "\u03A3", "\u03C3", "\u0416", "\u0436",                   // Greek, Cyrillic
        "\U0001D400", "\U0001D41A", "\U00020000", "\U0001044E",   // non-BMP Lu, Ll, Lo, Ll
        "\U0001F600", "\U0001F1EA\U0001F1F8", "\u2764\uFE0F",     // emoji, flag, variation selector
        "\u200D", "\uFEFF", "\u00AD",                             // format characters
    ];

    /// <summary>One fragment, or a random scalar value from the whole code space.</summary>
    public static Gen<string> PatternFragment { get; } = Gen.OneOf(
        Gen.Elements(PatternFragments),
        Gen.Choose(0, 0x10FFFF).Where(cp => cp is < 0xD800 or > 0xDFFF).Select(char.ConvertFromUtf32));

    /// <summary>Strings of 0–40 pattern fragments.</summary>
    public static Arbitrary<string> PatternText { get; } =
        Gen.Choose(0, 40).SelectMany(n => PatternFragment.ArrayOf(n)).Select(parts => string.Concat(parts)).ToArbitrary();
}
