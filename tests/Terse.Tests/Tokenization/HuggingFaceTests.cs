using System.IO.Compression;
using System.Text;
using System.Text.Json;
using Terse.Tests.Infrastructure;
using Terse.Tokenization;
using Terse.Tokenization.HuggingFace;
using Terse.Tokenization.Normalization;
using Terse.Tokenization.PreTokenization;

namespace Terse.Tests.Tokenization;

public class HuggingFaceTests
{
    private static readonly Lazy<Tokenizer> Gpt2 = new(() => TokenizerRegistry.Load(TestData.Path("tokenizers/gpt2_vocab.json")));
    private static readonly Lazy<Tokenizer> Qwen2 = new(() => TokenizerRegistry.Load(TestData.Path("tokenizers/qwen2_vocab.json")));

    /// <summary>llama.cpp's tokenizer test vectors (see <see cref="LlamaCppVocabTests"/>) for the GPT-2 and Qwen2 vocabularies.</summary>
    [Theory]
    [InlineData("ggml-vocab-gpt-2.gguf.out", "gpt2")]
    [InlineData("ggml-vocab-qwen2.gguf.out", "qwen2")]
    public void LlamaCppVocabTests(string expectedFile, string tokenizerName) =>
        Tokenization.LlamaCppVocabTests.AssertAllCasesMatch(tokenizerName == "gpt2" ? Gpt2.Value : Qwen2.Value, expectedFile);

    [Fact]
    public void Qwen2IsDetectedFromItsConfig()
    {
        var qwen2 = Qwen2.Value;
        Assert.Equal(151646, qwen2.VocabularySize);
        Assert.Equal(151645, qwen2.EosId);
        Assert.Null(qwen2.BosId);
        Assert.Equal([9707, 4337], qwen2.Encode("Hello World"));
        Assert.Equal([151644, 872, 198, 13048, 151645], qwen2.Encode("<|im_start|>user\nHi<|im_end|>", new EncodeOptions(AllowSpecialTokens: true)));
        // Single digits, and NFC: a decomposed é is encoded as the composed one.
        Assert.Equal(5, qwen2.Encode("12345").Length);
        Assert.Equal(qwen2.Encode("caf\u00E9"), qwen2.Encode("cafe\u0301"));
        // Without the config the same files read as GPT-2-style; an explicit pre-tokenizer overrides.
        var gpt2Style = HuggingFaceLoader.FromVocabAndMerges("q", File.ReadAllBytes(TestData.Path("tokenizers/qwen2_vocab.json")),
            File.ReadAllBytes(TestData.Path("tokenizers/qwen2_merges.txt")), null, TokenizerLoadOptions.Default, "v", "m");
        Assert.Equal("gpt2", gpt2Style.PreTokenizer.Id);
        Assert.Equal("qwen2", ((Terse.Tokenization.BytePair.BytePairTokenizer)qwen2).PreTokenizer.Id);
    }

    /// <summary>tokenizer.json built from GPT-2's vocab.json and merges.txt, merges in both JSON forms, encodes identically.</summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Gpt2TokenizerJsonEncodesLikeVocabAndMerges(bool mergesAsArrays)
    {
        var json = BuildTokenizerJson("gpt2", mergesAsArrays, preTokenizer: w =>
        {
            w.WriteStartObject();
            w.WriteString("type", "ByteLevel");
            w.WriteBoolean("add_prefix_space", false);
            w.WriteBoolean("trim_offsets", true);
            w.WriteBoolean("use_regex", true);
            w.WriteEndObject();
        }, normalizerNfc: false, added: [("<|endoftext|>", 50256)]);
        var fromJson = HuggingFaceLoader.FromTokenizerJson("tokenizer.json", json, null, TokenizerLoadOptions.Default, "tokenizer.json");
        Assert.IsType<Gpt2Scanner>(fromJson.PreTokenizer);
        AssertSameIds(Gpt2.Value, fromJson);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Qwen2TokenizerJsonEncodesLikeVocabAndMerges(bool customPattern)
    {
        // A pattern no scanner knows (the same rule spelled differently) goes through the regex pre-tokenizer.
        var pattern = customPattern ? PreTokenizers.Qwen2Pattern.Replace(@"|\p{N}|", @"|[\p{N}]|") : PreTokenizers.Qwen2Pattern;
        var json = BuildTokenizerJson("qwen2", mergesAsArrays: false, preTokenizer: w =>
        {
            w.WriteStartObject();
            w.WriteString("type", "Sequence");
            w.WriteStartArray("pretokenizers");
            w.WriteStartObject();
            w.WriteString("type", "Split");
            w.WriteStartObject("pattern");
            w.WriteString("Regex", pattern);
            w.WriteEndObject();
            w.WriteString("behavior", "Isolated");
            w.WriteBoolean("invert", false);
            w.WriteEndObject();
            w.WriteStartObject();
            w.WriteString("type", "ByteLevel");
            w.WriteBoolean("add_prefix_space", false);
            w.WriteBoolean("use_regex", false);
            w.WriteEndObject();
            w.WriteEndArray();
            w.WriteEndObject();
        }, normalizerNfc: true, added: [("<|endoftext|>", 151643), ("<|im_start|>", 151644), ("<|im_end|>", 151645)]);
        var fromJson = HuggingFaceLoader.FromTokenizerJson("tokenizer.json", json, null, TokenizerLoadOptions.Default, "tokenizer.json");
        Assert.Equal(customPattern ? typeof(RegexPreTokenizer) : typeof(Cl100kScanner), fromJson.PreTokenizer.GetType());
        AssertSameIds(Qwen2.Value, fromJson, fileLimit: customPattern ? 2 : int.MaxValue);
        Assert.Equal(Qwen2.Value.Encode("cafe\u0301 2024"), fromJson.Encode("cafe\u0301 2024"));
    }

    [Fact]
    public void NfcMatchesPythonUnicodedata()
    {
        using var gzip = new GZipStream(File.OpenRead(Path.Combine(TestData.RepositoryRoot, "tests/Terse.Tests/Tokenization/Golden/nfc-vectors.txt.gz")), CompressionMode.Decompress);
        using var reader = new StreamReader(gzip);
        int count = 0;
        while (reader.ReadLine() is { Length: > 0 } line)
        {
            var halves = line.Split(';');
            string Text(string hex) => string.Concat(hex.Split(' ').Select(h => char.ConvertFromUtf32(Convert.ToInt32(h, 16))));
            var input = Encoding.UTF8.GetBytes(Text(halves[0]));
            var expected = Text(halves[1]);
            var actual = Nfc.MayChange(input) ? Encoding.UTF8.GetString(Nfc.Normalize(input)) : Encoding.UTF8.GetString(input);
            Assert.True(expected == actual, $"NFC({halves[0]}): expected {halves[1]}, got {string.Join(' ', actual.EnumerateRunes().Select(r => r.Value.ToString("X")))}");
            count++;
        }
        Assert.True(count > 9000);
        Assert.Equal("14.0.0", Nfc.UnicodeVersion);
    }

    [Fact]
    public void AddedTokensCanStripSpacesAndPrefixSpaceIsAdded()
    {
        var json = BuildTokenizerJson("gpt2", false, w =>
        {
            w.WriteStartObject();
            w.WriteString("type", "ByteLevel");
            w.WriteBoolean("add_prefix_space", true);
            w.WriteEndObject();
        }, normalizerNfc: false, added: [("<|endoftext|>", 50256)], lstrip: true);
        var tokenizer = HuggingFaceLoader.FromTokenizerJson("t", json, null, TokenizerLoadOptions.Default, "t");
        var plain = Gpt2.Value;
        // "Hello" gets a prefix space; the spaces before <|endoftext|> are absorbed by it.
        Assert.Equal(plain.Encode(" Hello").Append(50256).Concat(plain.Encode(" x")), tokenizer.Encode("Hello   <|endoftext|>x", new EncodeOptions(AllowSpecialTokens: true)));
    }

    /// <summary>ignore_merges (Llama 3's tokenizer.json): a piece that is a vocabulary entry is that entry, merges or not.</summary>
    [Fact]
    public void IgnoreMergesTakesWholePiecesFromTheVocabulary()
    {
        var vocab = Enumerable.Range(0, 256).ToDictionary(b => ByteLevelAlphabet.CharOf((byte)b).ToString(), b => b);
        vocab["ab"] = 256;
        vocab["abc"] = 257; // no merge makes it
        var json = Encoding.UTF8.GetString(BuildTokenizerJson("", false, w =>
        {
            w.WriteStartObject();
            w.WriteString("type", "ByteLevel");
            w.WriteEndObject();
        }, normalizerNfc: false, added: [], vocabJson: JsonSerializer.Serialize(vocab), mergeLines: ["a b"]));
        var merging = HuggingFaceLoader.FromTokenizerJson("t", Encoding.UTF8.GetBytes(json), null, TokenizerLoadOptions.Default, "t");
        Assert.Equal([256, 99], merging.Encode("abc"));
        var ignoring = HuggingFaceLoader.FromTokenizerJson("t", Encoding.UTF8.GetBytes(json.Replace("\"byte_fallback\":false", "\"byte_fallback\":false,\"ignore_merges\":true")),
            null, TokenizerLoadOptions.Default, "t");
        Assert.Equal([257], ignoring.Encode("abc"));
        Assert.Equal([256, 100], ignoring.Encode("abd"));
    }

    private static void AssertSameIds(Tokenizer expected, Tokenizer actual, int fileLimit = int.MaxValue)
    {
        foreach (var file in TestData.TextFiles().Take(fileLimit))
        {
            var text = TestData.ReadText(file);
            if (text.Length > 400_000)
                text = text[..400_000];
            foreach (bool allow in new[] { false, true })
            {
                var options = new EncodeOptions(AllowSpecialTokens: allow);
                Assert.True(expected.Encode(text, options).SequenceEqual(actual.Encode(text, options)), $"{file} (special tokens allowed: {allow})");
            }
        }
    }

    internal static byte[] BuildTokenizerJson(string prefix, bool mergesAsArrays, Action<Utf8JsonWriter> preTokenizer, bool normalizerNfc,
        (string Text, int Id)[] added, bool lstrip = false, string? vocabJson = null, string[]? mergeLines = null)
    {
        vocabJson ??= File.ReadAllText(TestData.Path($"tokenizers/{prefix}_vocab.json"));
        mergeLines ??= File.ReadAllLines(TestData.Path($"tokenizers/{prefix}_merges.txt")).Where(l => l.Length > 0 && !l.StartsWith("#version")).ToArray();
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream))
        {
            w.WriteStartObject();
            w.WriteString("version", "1.0");
            w.WriteNull("truncation");
            w.WriteStartArray("added_tokens");
            foreach (var (text, id) in added)
            {
                w.WriteStartObject();
                w.WriteNumber("id", id);
                w.WriteString("content", text);
                w.WriteBoolean("single_word", false);
                w.WriteBoolean("lstrip", lstrip);
                w.WriteBoolean("rstrip", false);
                w.WriteBoolean("normalized", false);
                w.WriteBoolean("special", true);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            if (normalizerNfc)
            {
                w.WriteStartObject("normalizer");
                w.WriteString("type", "NFC");
                w.WriteEndObject();
            }
            else
                w.WriteNull("normalizer");
            w.WritePropertyName("pre_tokenizer");
            preTokenizer(w);
            w.WriteStartObject("decoder");
            w.WriteString("type", "ByteLevel");
            w.WriteEndObject();
            w.WriteStartObject("model");
            w.WriteString("type", "BPE");
            w.WriteNull("dropout");
            w.WriteNull("unk_token");
            w.WriteString("continuing_subword_prefix", "");
            w.WriteString("end_of_word_suffix", "");
            w.WriteBoolean("fuse_unk", false);
            w.WriteBoolean("byte_fallback", false);
            w.WritePropertyName("vocab");
            w.WriteRawValue(vocabJson);
            w.WriteStartArray("merges");
            foreach (var line in mergeLines)
            {
                if (mergesAsArrays)
                {
                    var parts = line.Split(' ');
                    w.WriteStartArray();
                    w.WriteStringValue(parts[0]);
                    w.WriteStringValue(parts[1]);
                    w.WriteEndArray();
                }
                else
                    w.WriteStringValue(line);
            }
            w.WriteEndArray();
            w.WriteEndObject();
            w.WriteEndObject();
        }
        return stream.ToArray();
    }
}
