using Terse.Tests.Infrastructure;
using Terse.Tokenization;

namespace Terse.Tests.Tokenization;

public class TokenizerRegistryTests
{
    [Theory]
    [InlineData("r50k_base", "r50k_base")]
    [InlineData("gpt2", "r50k_base")]
    [InlineData("GPT2", "r50k_base")]
    [InlineData("CL100K_BASE", "cl100k_base")]
    public void NamesAndAliasesResolveToBuiltIns(string name, string expected)
    {
        var tokenizer = TokenizerRegistry.Load(name);
        Assert.Equal(expected, tokenizer.Name);
        Assert.Same(tokenizer, TokenizerRegistry.Load(expected));
    }

    [Fact]
    public void BuiltInsListTheShippedEncodings()
    {
        Assert.Equal(["r50k_base", "p50k_base", "p50k_edit", "cl100k_base", "o200k_base"], TokenizerRegistry.BuiltIns.Select(b => b.Name).Take(5));
        foreach (var builtIn in TokenizerRegistry.BuiltIns)
            Assert.Equal(builtIn.VocabularySize, TokenizerRegistry.Load(builtIn.Name).VocabularySize);
    }

    [Fact]
    public void UnknownNameIsAClearError()
    {
        var e = Assert.Throws<FileNotFoundException>(() => TokenizerRegistry.Load("no_such_tokenizer"));
        Assert.Contains("no_such_tokenizer", e.Message);
        Assert.Contains("cl100k_base", e.Message);
    }

    [Fact]
    public void UnknownFileTypeListsTheKnownTypes()
    {
        var path = Path.Combine(Path.GetTempPath(), $"terse-{Guid.NewGuid():N}.xyz");
        File.WriteAllText(path, "hello");
        try
        {
            var e = Assert.Throws<NotSupportedException>(() => TokenizerRegistry.Load(path));
            Assert.Contains(path, e.Message);
            foreach (var type in TokenizerRegistry.FileTypes)
                Assert.Contains(type.Suffix, e.Message);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Theory]
    [InlineData("r50k_base")]
    [InlineData("p50k_base")]
    [InlineData("cl100k_base")]
    [InlineData("o200k_base")]
    public void BuiltInRankFileLoadedFromPathEncodesLikeTheBuiltIn(string name)
    {
        var fromFile = TokenizerRegistry.Load(TestData.Path($"tokenizers/{name}.tiktoken"));
        var builtIn = TokenizerRegistry.Load(name);
        var text = TestData.ReadText("text/tinystories_sample_cs336.txt");
        Assert.Equal(builtIn.Encode(text, new EncodeOptions(AllowSpecialTokens: true)), fromFile.Encode(text, new EncodeOptions(AllowSpecialTokens: true)));
        Assert.Equal(builtIn.SpecialTokens.OrderBy(p => p.Value), fromFile.SpecialTokens.OrderBy(p => p.Value));
    }

    [Theory]
    [InlineData("tokenizers/llama2_tokenizer.model", "SentencePieceTokenizer")]
    [InlineData("tokenizers/mistral_v1_tokenizer.model", "SentencePieceTokenizer")]
    [InlineData("tokenizers/llama2_tokenizer_llama2c.bin", "Llama2cTokenizer")]
    [InlineData("models/stories260K_tok512.bin", "Llama2cTokenizer")]
    [InlineData("tokenizers/ggml-vocab-llama-spm.gguf", "SentencePieceTokenizer")]
    [InlineData("tokenizers/ggml-vocab-gpt-2.gguf", "BytePairTokenizer")]
    public void SentencePieceFamilyFilesAreLoadedByType(string file, string expectedType)
    {
        var tokenizer = TokenizerRegistry.Load(TestData.Path(file));
        Assert.Equal(expectedType, tokenizer.GetType().Name);
        const string text = "Hello world, once upon a time.";
        Assert.Equal(text, tokenizer.Decode(tokenizer.Encode(text)));
    }

    [Fact]
    public void Llama2cAndSentencePieceFilesOfLlama2AgreeThroughTheRegistry()
    {
        var text = TestData.ReadText("text/tinystories_sample_cs336.txt");
        Assert.Equal(TokenizerRegistry.Load(TestData.Path("tokenizers/llama2_tokenizer.model")).Encode(text),
            TokenizerRegistry.Load(TestData.Path("tokenizers/llama2_tokenizer_llama2c.bin")).Encode(text));
    }

    [Fact]
    public void Stories260KIsBuiltInAndEqualsItsFile()
    {
        var builtIn = TokenizerRegistry.Load("stories260K");
        var fromFile = TokenizerRegistry.Load(TestData.Path("models/stories260K_tok512.bin"));
        Assert.Equal(512, builtIn.VocabularySize);
        Assert.True(builtIn.Fingerprint.SequenceEqual(fromFile.Fingerprint));
    }

    [Fact]
    public void Llama3TokenizerModelIsRecognisedAsARankFileByContent()
    {
        var directory = Directory.CreateTempSubdirectory("terse-");
        try
        {
            // Meta ships Llama 3's rank file as "tokenizer.model"; the .model loader must not read it as protobuf.
            var path = Path.Combine(directory.FullName, "tokenizer.model");
            File.Copy(TestData.Path("tokenizers/llama3_tokenizer.model.tiktoken"), path);
            var tokenizer = TokenizerRegistry.Load(path, new TokenizerLoadOptions { PreTokenizer = "llama3" });
            var reference = TokenizerRegistry.Load(TestData.Path("tokenizers/llama3_tokenizer.model.tiktoken"));
            Assert.Equal(reference.Encode("Hello world 12345"), tokenizer.Encode("Hello world 12345"));
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    [Fact]
    public void Llama3GetsItsSpecialTokensFromTheSiblingConfig()
    {
        var llama3 = TokenizerRegistry.Load(TestData.Path("tokenizers/llama3_tokenizer.model.tiktoken"));
        Assert.Equal(128256, llama3.VocabularySize);
        Assert.Equal(256, llama3.SpecialTokens.Count);
        Assert.Equal(128000, llama3.SpecialTokens["<|begin_of_text|>"]);
        Assert.Equal(128009, llama3.SpecialTokens["<|eot_id|>"]);
        Assert.Equal(128000, llama3.BosId);
        Assert.Equal(128001, llama3.EosId);
        Assert.Equal([128006, 882, 128007, 271, 13347, 128009],
            llama3.Encode("<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>", new EncodeOptions(AllowSpecialTokens: true)));
    }

    [Theory]
    [InlineData("{\"added_tokens_decoder\": {\"2000000000\": {\"content\": \"<x>\"}}}", "implausible id 2000000000")]
    [InlineData("{\"added_tokens_decoder\": {\"-1\": {\"content\": \"<x>\"}}}", "not an integer")]
    [InlineData("{\"added_tokens_decoder\": {\"300\": {\"content\": 5}}}", "'content'")]
    [InlineData("{\"added_tokens_decoder\": {\"300\": {\"content\": \"<x>\"}}, \"bos_token\": \"<y>\"}", "bos_token '<y>' is not one of its added tokens")]
    [InlineData("{\"added_tokens_decoder\": [", "malformed JSON")]
    public void MalformedSiblingConfigIsAClearError(string config, string message)
    {
        var directory = Directory.CreateTempSubdirectory("terse-");
        try
        {
            var path = Path.Combine(directory.FullName, "custom_tokenizer.model.tiktoken");
            File.WriteAllLines(path, Enumerable.Range(0, 256).Select(b => $"{Convert.ToBase64String([(byte)b])} {b}"));
            File.WriteAllText(Path.Combine(directory.FullName, "custom_tokenizer_config.json"), config);
            var e = Assert.Throws<InvalidDataException>(() => TokenizerRegistry.Load(path, new TokenizerLoadOptions { PreTokenizer = "llama3" }));
            Assert.Contains(message, e.Message);
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    [Fact]
    public void AModelDirectoryResolvesToItsTokenizerFile()
    {
        var directory = Directory.CreateTempSubdirectory("terse-");
        try
        {
            File.Copy(TestData.Path("tokenizers/gpt2_vocab.json"), Path.Combine(directory.FullName, "vocab.json"));
            File.Copy(TestData.Path("tokenizers/gpt2_merges.txt"), Path.Combine(directory.FullName, "merges.txt"));
            var tokenizer = TokenizerRegistry.Load(directory.FullName);
            Assert.Equal("vocab.json", tokenizer.Name);
            Assert.Equal([15496, 995], tokenizer.Encode("Hello world"));
            var empty = Directory.CreateDirectory(Path.Combine(directory.FullName, "empty"));
            Assert.Contains("tokenizer.json", Assert.Throws<NotSupportedException>(() => TokenizerRegistry.Load(empty.FullName)).Message);
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    [Fact]
    public void UnknownRankFileNeedsAPreTokenizer()
    {
        var directory = Directory.CreateTempSubdirectory("terse-");
        try
        {
            var path = Path.Combine(directory.FullName, "custom.tiktoken");
            // The 256 single bytes and one merge: a minimal valid rank file.
            File.WriteAllLines(path, Enumerable.Range(0, 256).Select(b => $"{Convert.ToBase64String([(byte)b])} {b}").Append($"{Convert.ToBase64String("ab"u8.ToArray())} 256"));
            var e = Assert.Throws<InvalidDataException>(() => TokenizerRegistry.Load(path));
            Assert.Contains("pre-tokenizer", e.Message);
            var tokenizer = TokenizerRegistry.Load(path, new TokenizerLoadOptions { PreTokenizer = "cl100k" });
            Assert.Equal([256, 99], tokenizer.Encode("abc"));
            Assert.Throws<ArgumentException>(() => TokenizerRegistry.Load(path, new TokenizerLoadOptions { PreTokenizer = "nope" }));
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }
}
