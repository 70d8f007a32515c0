using Terse.MetaTokens;
using Terse.Tests.Infrastructure;
using Terse.Tokenization;

namespace Terse.Tests.Docs;

/// <summary>The library example in README.md, run as written, so the README cannot drift from the API.</summary>
public class ReadmeExampleTests
{
    [Fact]
    public void LibraryExampleRoundTripsAndShortens()
    {
        var readme = File.ReadAllText(Path.Combine(TestData.RepositoryRoot, "README.md"));
        Assert.Contains("MetaTokenCompressor.Compress(ids, tokenizer.VocabularySize)", readme);
        Assert.Contains("InContextFormat.ForVocabulary(tokenizer.VocabularySize).Encode(compressed)", readme);

        string text = TestData.ReadText("text/loghub_HDFS_2k.log")[..20_000];
        Tokenizer tokenizer = TokenizerRegistry.Load("cl100k_base");
        int[] ids = tokenizer.Encode(text);
        MetaTokenSequence compressed = MetaTokenCompressor.Compress(ids, tokenizer.VocabularySize);
        int[] forTheModel = InContextFormat.ForVocabulary(tokenizer.VocabularySize).Encode(compressed);
        int[] restored = compressed.Expand();
        string back = tokenizer.Decode(restored);

        Assert.Equal(ids, restored);
        Assert.Equal(text, back);
        Assert.True(forTheModel.Length < ids.Length, $"{forTheModel.Length} ≥ {ids.Length}: a 2,000-line log must shrink");
    }
}
