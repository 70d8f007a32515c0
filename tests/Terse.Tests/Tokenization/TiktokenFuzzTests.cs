using System.Text;
using Terse.Tokenization.BytePair;
using Terse.Tokenization.PreTokenization;
using Terse.Tokenization.Tiktoken;

namespace Terse.Tests.Tokenization;

public class TiktokenFuzzTests
{
    /// <summary>A small valid rank file: the 256 single bytes and a few merges.</summary>
    private static byte[] SmallRankFile()
    {
        var text = new StringBuilder();
        for (int b = 0; b < 256; b++)
            text.Append($"{Convert.ToBase64String([(byte)b])} {b}\n");
        string[] merges = ["he", "ll", "hell", "hello", " w", "or", " wor", " world", "in", "ing"];
        for (int i = 0; i < merges.Length; i++)
            text.Append($"{Convert.ToBase64String(Encoding.UTF8.GetBytes(merges[i]))} {256 + i}\n");
        return Encoding.UTF8.GetBytes(text.ToString());
    }

    private static void ParseAndBuild(byte[] content)
    {
        var ranks = TiktokenRankFile.Parse(content, "fuzz.tiktoken");
        var tokenizer = TiktokenEncodings.Create("fuzz", ranks, [new SpecialToken("<|end|>", ranks.Length)], Cl100kScanner.Cl100k, "fuzz.tiktoken");
        // A tokenizer that loads must work.
        Assert.Equal("hello world", tokenizer.Decode(tokenizer.Encode("hello world")));
    }

    [Fact]
    public void SmallRankFileLoads()
    {
        var ranks = TiktokenRankFile.Parse(SmallRankFile(), "small");
        var tokenizer = TiktokenEncodings.Create("small", ranks, [], Cl100kScanner.Cl100k, "small");
        Assert.Equal([259, 263], tokenizer.Encode("hello world"));
    }

    [Theory]
    [InlineData("", "no tokens")]
    [InlineData("QQ==\n", "expected 'base64-token rank'")]
    [InlineData("QQ== 1 2\n", "expected 'base64-token rank'")]
    [InlineData("Q!Q= 0\n", "not valid non-empty base64")]
    [InlineData("QQ== -1\n", "not an integer")]
    [InlineData("QQ== 99999999999\n", "not an integer")]
    [InlineData("QQ== 2000000000\n", "implausibly large")]
    [InlineData("QQ== 0\nQg== 0\n", "rank 0 is also given on line 1")]
    public void MalformedRankFilesAreRejectedClearly(string content, string message)
    {
        var e = Assert.Throws<InvalidDataException>(() => TiktokenRankFile.Parse(Encoding.UTF8.GetBytes(content), "bad.tiktoken"));
        Assert.Contains(message, e.Message);
        Assert.Contains("bad.tiktoken", e.Message);
    }

    [Fact]
    public void RankFilesAreRecognisedByTheirFirstLine()
    {
        Assert.True(TiktokenRankFile.LooksLikeRankFile(File.ReadAllBytes(Infrastructure.TestData.Path("tokenizers/llama3_tokenizer.model.tiktoken")).AsSpan(0, 100)));
        Assert.True(TiktokenRankFile.LooksLikeRankFile("IQ== 0\r\n"u8));
        Assert.False(TiktokenRankFile.LooksLikeRankFile(File.ReadAllBytes(Infrastructure.TestData.Path("tokenizers/llama2_tokenizer.model")).AsSpan(0, 100)));
        Assert.False(TiktokenRankFile.LooksLikeRankFile("IQ== x\n"u8));
        Assert.False(TiktokenRankFile.LooksLikeRankFile(""u8));
    }

    [Fact]
    public void DuplicateTokensAndMissingBytesAreRejected()
    {
        var duplicate = Encoding.UTF8.GetString(SmallRankFile()) + "aGU= 300\n";
        var e = Assert.Throws<InvalidDataException>(() => ParseAndBuild(Encoding.UTF8.GetBytes(duplicate)));
        Assert.Contains("same token", e.Message);
        var missing = string.Join("\n", Encoding.UTF8.GetString(SmallRankFile()).Split('\n').Skip(1));
        e = Assert.Throws<InvalidDataException>(() => ParseAndBuild(Encoding.UTF8.GetBytes(missing)));
        Assert.Contains("single byte 0x00", e.Message);
    }

    [Fact]
    public void RandomAndMutatedRankFilesFailCleanly()
    {
        var valid = SmallRankFile();
        var outcome = FormatFuzzer.Run(valid, ParseAndBuild, 4000, seed: 2, allowNotSupported: false,
            " 4294967296", " -3", "====", " 1e9", "\r\n", "  ", " 999999999");
        Assert.True(outcome.Rejected > 1500 && outcome.Loaded > 0, $"{outcome}: the mutations are too gentle or too harsh");
    }

    [Fact]
    public void RandomAndMutatedCompactAssetsFailCleanly()
    {
        using var stream = new MemoryStream();
        CompactRanks.Write(TiktokenRankFile.Parse(SmallRankFile(), "small"), stream);
        var valid = stream.ToArray();
        var outcome = FormatFuzzer.Run(valid, bytes => CompactRanks.Read(new MemoryStream(bytes), "fuzz.ranks.br"), 2000, seed: 4);
        Assert.True(outcome.Rejected > 1000, outcome.ToString());
    }
}
