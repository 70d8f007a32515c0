using System.Text;
using FsCheck;
using FsCheck.Fluent;
using Terse.Tests.Infrastructure;
using TestData = Terse.Tests.Infrastructure.TestData;
using Terse.Tokenization.PreTokenization;

namespace Terse.Tests.Tokenization;

/// <summary>
/// Each hand-written scanner splits exactly as its pattern does. The reference is the pattern itself,
/// run by .NET's regex engine after <see cref="CodePointRegex"/> has made it match code points.
/// </summary>
public class PreTokenizerTests
{
    public static TheoryData<string> Families() => [.. PreTokenizers.Known.Select(k => k.Name)];

    private static readonly Dictionary<string, RegexPreTokenizer> Oracles = new();

    private static RegexPreTokenizer OracleFor(string family)
    {
        lock (Oracles)
        {
            if (!Oracles.TryGetValue(family, out var oracle))
                Oracles[family] = oracle = new RegexPreTokenizer(PreTokenizers.Known.First(k => k.Name == family).Pattern);
            return oracle;
        }
    }

    private static (List<int> Scanner, List<int> Oracle) SplitBoth(string family, byte[] utf8)
    {
        var scanner = new List<int>();
        var oracle = new List<int>();
        PreTokenizers.ByName(family).Split(utf8, scanner);
        OracleFor(family).Split(utf8, oracle);
        return (scanner, oracle);
    }

    private static string Describe(byte[] utf8, List<int> ends)
    {
        var pieces = new List<string>();
        int start = 0;
        foreach (int end in ends)
        {
            pieces.Add(Encoding.UTF8.GetString(utf8, start, end - start));
            start = end;
        }
        return string.Join("|", pieces.Select(p => string.Concat(p.Select(c => c < 0x20 || c > 0x7E ? $"\\u{(int)c:X4}" : c.ToString()))));
    }

    [Theory]
    [MemberData(nameof(Families))]
    public void ScannerSplitsRandomUnicodeLikeThePattern(string family)
    {
        Prop.ForAll(TokenizerGenerators.PatternText, text =>
        {
            var utf8 = Encoding.UTF8.GetBytes(text);
            var (scanner, oracle) = SplitBoth(family, utf8);
            if (!scanner.SequenceEqual(oracle))
                throw new Exception($"{family}: scanner [{Describe(utf8, scanner)}] pattern [{Describe(utf8, oracle)}]");
        }).Check(TokenizerGenerators.Config(3000));
    }

    [Theory]
    [MemberData(nameof(Families))]
    public void ScannerSplitsEveryTextFileLikeThePattern(string family)
    {
        foreach (var file in TestData.TextFiles())
        {
            var utf8 = TestData.ReadBytes(file);
            var (scanner, oracle) = SplitBoth(family, utf8);
            if (scanner.SequenceEqual(oracle))
                continue;
            int at = 0;
            while (scanner[at] == oracle[at])
                at++;
            int from = at == 0 ? 0 : scanner[at - 1];
            Assert.Fail($"{family} {file}: piece {at} at byte {from}: scanner ends at {scanner[at]}, pattern at {oracle[at]}: " +
                Describe(utf8[from..Math.Min(utf8.Length, from + 40)], [Math.Min(40, scanner[at] - from)]));
        }
    }

    [Theory]
    [InlineData("gpt2", "Hello world's  end\n\n x", "Hello| world|'s| | end|\n\n| x")]
    [InlineData("cl100k", "I'M here:\r\n\r\n  12345 (word)", "I|'M| here|:\r\n\r\n| | |123|45| (|word|)")]
    [InlineData("qwen2", "x 2024", "x| |2|0|2|4")]
    [InlineData("o200k", "HTMLParser don'T \u0301AB", "HTMLParser| don'T| \u0301|AB")]
    public void KnownSplits(string family, string text, string expected)
    {
        var utf8 = Encoding.UTF8.GetBytes(text);
        var (scanner, oracle) = SplitBoth(family, utf8);
        Assert.Equal(expected.Replace("\r", "\\u000D").Replace("\n", "\\u000A").Replace("\u0301", "\\u0301"), Describe(utf8, scanner));
        Assert.Equal(oracle, scanner);
    }

    [Fact]
    public void TranslatedPatternMatchesLettersOutsideTheBmp()
    {
        var regex = CodePointRegex.Create(@"\p{L}+");
        Assert.Equal("\U0001D400\U0001D41Ax", regex.Match("1\U0001D400\U0001D41Ax!").Value);
        Assert.Equal("\U0001F600", CodePointRegex.Create(@"[^\s\p{L}\p{N}]").Match("a\U0001F600").Value);
        Assert.Matches(CodePointRegex.Create(@"^(?i:'s)$"), "'\u017F");
        Assert.Throws<NotSupportedException>(() => CodePointRegex.Translate(@"\p{Greek}"));
        Assert.Throws<NotSupportedException>(() => CodePointRegex.Translate(@"(a"));
        Assert.Throws<NotSupportedException>(() => CodePointRegex.Translate(@"(\1)"));
    }
}
