using System.Text;
using System.Text.Json;
using Terse.Tokenization;
using Terse.Tokenization.HuggingFace;

namespace Terse.Tests.Tokenization;

public class HuggingFaceFuzzTests
{
    private static readonly string[] MergeLines = ["h e", "l l", "he ll", "hell o", "Ġ w", "o r", "Ġw or", "Ġwor l", "Ġworl d"];

    private static string VocabJson() => Terse.Fuzz.FuzzTargets.ByteLevelVocabJson(MergeLines, "<|endoftext|>");

    private static readonly byte[] Vocab = Encoding.UTF8.GetBytes(VocabJson());
    private static readonly byte[] Merges = Encoding.UTF8.GetBytes("#version: 0.2\n" + string.Join("\n", MergeLines) + "\n");

    private static readonly byte[] TokenizerJson = HuggingFaceTests.BuildTokenizerJson("", mergesAsArrays: true, w =>
    {
        w.WriteStartObject();
        w.WriteString("type", "ByteLevel");
        w.WriteEndObject();
    }, normalizerNfc: false, added: [("<|endoftext|>", 265)], vocabJson: VocabJson(), mergeLines: MergeLines);

    private static void Check(Tokenizer tokenizer) =>
        Assert.Equal("hello world", tokenizer.Decode(tokenizer.Encode("hello world")));

    [Fact]
    public void SmallFilesLoad()
    {
        var fromText = HuggingFaceLoader.FromVocabAndMerges("v", Vocab, Merges, null, TokenizerLoadOptions.Default, "vocab.json", "merges.txt");
        Assert.Equal([259, 264], fromText.Encode("hello world"));
        var fromJson = HuggingFaceLoader.FromTokenizerJson("t", TokenizerJson, null, TokenizerLoadOptions.Default, "tokenizer.json");
        Assert.Equal([259, 264], fromJson.Encode("hello world"));
    }

    [Theory]
    [InlineData("[1, 2]", "not a JSON object")]
    [InlineData("{\"a\": \"x\"}", "not a non-negative integer")]
    [InlineData("{\"a\": -1}", "not a non-negative integer")]
    [InlineData("{\"a\": 1e3}", "not a non-negative integer")]
    [InlineData("{\"a\": 99999999999}", "not a non-negative integer")]
    [InlineData("{\"a\": 2000000000}", "implausibly large")]
    [InlineData("{\"a\": 0, \"a\": 1}", "appears twice")]
    [InlineData("{\"a\": 0, \"b\": 0}", "same id 0")]
    [InlineData("{\"a\": 0", "malformed JSON")]
    [InlineData("{}", "empty")]
    [InlineData("{\"a\": 0}", "no token for the byte 0x00")]
    public void MalformedVocabIsRejectedClearly(string vocab, string message)
    {
        var e = Assert.Throws<InvalidDataException>(() =>
            HuggingFaceLoader.FromVocabAndMerges("v", Encoding.UTF8.GetBytes(vocab), Merges, null, TokenizerLoadOptions.Default, "bad/vocab.json", "merges.txt"));
        Assert.Contains(message, e.Message);
        Assert.Contains("bad/vocab.json", e.Message);
    }

    [Theory]
    [InlineData("h e x\n", "line 1: expected two tokens")]
    [InlineData("#version: 0.2\nh\n", "line 2: expected two tokens")]
    [InlineData("h  e\n", "expected two tokens")]
    [InlineData("h zz\n", "not in the vocabulary")]
    [InlineData("h d\n", "makes 'hd', which is not in the vocabulary")]
    public void MalformedMergesAreRejectedClearly(string merges, string message)
    {
        var e = Assert.Throws<InvalidDataException>(() =>
            HuggingFaceLoader.FromVocabAndMerges("v", Vocab, Encoding.UTF8.GetBytes(merges), null, TokenizerLoadOptions.Default, "vocab.json", "bad/merges.txt"));
        Assert.Contains(message, e.Message);
        Assert.Contains("bad/merges.txt", e.Message);
    }

    [Theory]
    [InlineData("\"dropout\":null", "\"dropout\":0.1", typeof(NotSupportedException), "dropout")]
    [InlineData("\"type\":\"BPE\"", "\"type\":\"Unigram\"", typeof(NotSupportedException), "Unigram")]
    [InlineData("\"byte_fallback\":false", "\"byte_fallback\":true", typeof(NotSupportedException), "byte_fallback")]
    [InlineData("\"merges\":[", "\"merges\":[[\"h\"],", typeof(InvalidDataException), "model.merges[0]")]
    [InlineData("\"merges\":[", "\"merges\":[\"q z\",", typeof(InvalidDataException), "merge 1")]
    [InlineData("\"merges\":[", "\"merges\":[7,", typeof(InvalidDataException), "model.merges[0]")]
    [InlineData("\"type\":\"ByteLevel\"", "\"type\":\"Metaspace\"", typeof(NotSupportedException), "Metaspace")]
    [InlineData("\"single_word\":false", "\"single_word\":true", typeof(NotSupportedException), "single_word")]
    [InlineData("\"id\":265", "\"id\":\"x\"", typeof(InvalidDataException), "added_tokens[0]")]
    [InlineData("\"normalizer\":null", "\"normalizer\":{\"type\":\"NFKC\"}", typeof(NotSupportedException), "NFKC")]
    public void UnsupportedOrMalformedTokenizerJsonIsRejectedClearly(string find, string replace, Type exception, string message)
    {
        var json = Encoding.UTF8.GetString(TokenizerJson);
        Assert.Contains(find, json);
        var e = Assert.Throws(exception, () => HuggingFaceLoader.FromTokenizerJson("t",
            Encoding.UTF8.GetBytes(json.Replace(find, replace)), null, TokenizerLoadOptions.Default, "bad/tokenizer.json"));
        Assert.Contains(message, e.Message);
        Assert.Contains("bad/tokenizer.json", e.Message);
    }

    private static readonly string[] JsonJunk = ["{", "}", "[", "]", "\"", ",", ":", "null", "true", "-1", "99999999999", "1e308", "\"Ġ\"", "\\u0000", "\\ud800"];

    [Fact]
    public void RandomAndMutatedVocabAndMergesFailCleanly()
    {
        var vocab = FormatFuzzer.Run(Vocab,
            bytes => Check(HuggingFaceLoader.FromVocabAndMerges("v", bytes, Merges, null, TokenizerLoadOptions.Default, "vocab.json", "merges.txt")),
            2000, seed: 6, allowNotSupported: false, JsonJunk);
        Assert.True(vocab.Rejected > 1000, vocab.ToString());
        var merges = FormatFuzzer.Run(Merges,
            bytes => Check(HuggingFaceLoader.FromVocabAndMerges("v", Vocab, bytes, null, TokenizerLoadOptions.Default, "vocab.json", "merges.txt")),
            2000, seed: 8, allowNotSupported: false, " ", "\n", "Ġ", "#version", "Ġ Ġ", "zz qq");
        Assert.True(merges.Rejected > 500, merges.ToString());
    }

    [Fact]
    public void RandomAndMutatedTokenizerJsonFailsCleanly()
    {
        var outcome = FormatFuzzer.Run(TokenizerJson,
            json => Check(HuggingFaceLoader.FromTokenizerJson("t", json, null, TokenizerLoadOptions.Default, "tokenizer.json")),
            2500, seed: 10, allowNotSupported: true, JsonJunk);
        Assert.True(outcome.Rejected > 1000, outcome.ToString());
    }
}
