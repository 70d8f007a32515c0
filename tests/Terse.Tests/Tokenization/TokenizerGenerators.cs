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
    public static Arbitrary<string> UnicodeText()
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
            (1, Gen.Elements(0x2581, 0x2047, 0xFEFF, 0x200D, 0xFFFD)));
        return Gen.ArrayOf(scalar)
            .Select(codePoints =>
            {
                var builder = new StringBuilder(codePoints.Length * 2);
                foreach (int c in codePoints)
                    builder.Append(char.ConvertFromUtf32(c is >= 0xD800 and <= 0xDFFF ? 0xFFFD : c));
                return builder.ToString();
            })
            .ToArbitrary();
    }

    /// <summary>Byte strings mixing valid UTF-8 text with stray, truncated and overlong sequences.</summary>
    public static Arbitrary<byte[]> MixedBytes()
    {
        var chunk = Gen.Frequency(
            (3, UnicodeText().Generator.Select(s => Encoding.UTF8.GetBytes(s))),
            (2, Gen.ArrayOf(Gen.Choose(0, 255).Select(b => (byte)b))),
            (1, Gen.Elements(new byte[] { 0xC3 }, new byte[] { 0xE2, 0x96 }, new byte[] { 0x80, 0x80, 0x80, 0x80, 0x80 },
                new byte[] { 0xC0, 0xAF }, new byte[] { 0xED, 0xA0, 0x80 }, new byte[] { 0xF4, 0x90, 0x80, 0x80 }, new byte[] { 0xFF, 0xFE })));
        return Gen.ListOf(chunk).Select(chunks => chunks.SelectMany(c => c).ToArray()).ToArbitrary();
    }

    public static Config Config(int maxTest) => FsCheck.Config.QuickThrowOnFailure.WithMaxTest(maxTest).WithEndSize(60);
}
