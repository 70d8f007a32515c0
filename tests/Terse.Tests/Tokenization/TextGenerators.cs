using System.Text;
using FsCheck;
using FsCheck.Fluent;

namespace Terse.Tests.Tokenization;

/// <summary>
/// Random Unicode text that exercises pre-tokenizer patterns where they are subtle: white-space runs
/// with \r\n mixes, digits of several scripts, apostrophe contractions in both cases (and ſ, which
/// folds to s), combining marks, letters of every case category, non-BMP letters and digits,
/// emoji, Unicode spaces, and random scalar values from the whole code space.
/// </summary>
public static class TextGenerators
{
    private static readonly string[] Fragments =
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

    public static Gen<string> Fragment { get; } = Gen.OneOf(
        Gen.Elements(Fragments),
        Gen.Choose(0, 0x10FFFF).Where(cp => cp is < 0xD800 or > 0xDFFF).Select(char.ConvertFromUtf32));

    /// <summary>Strings of 0–40 fragments.</summary>
    public static Gen<string> Text { get; } =
        Gen.Choose(0, 40).SelectMany(n => Fragment.ArrayOf(n)).Select(parts => string.Concat(parts));

    public static Arbitrary<string> TextArbitrary { get; } = Arb.From(Text);

    /// <summary>Random bytes, often valid UTF-8 with invalid sequences mixed in.</summary>
    public static Gen<byte[]> Bytes { get; } = Gen.OneOf(
        Gen.Choose(0, 255).Select(b => (byte)b).ArrayOf(),
        Text.Select(Encoding.UTF8.GetBytes),
        Text.SelectMany(before => Gen.Choose(0, 255).Select(b => (byte)b).ArrayOf().SelectMany(noise => Text.Select(after =>
            Encoding.UTF8.GetBytes(before).Concat(noise).Concat(Encoding.UTF8.GetBytes(after)).ToArray()))));

    public static Config Config(int tests) => FsCheck.Config.QuickThrowOnFailure.WithMaxTest(tests);
}
