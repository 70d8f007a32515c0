using System.Text;
using Terse.MetaTokens;
using Terse.Tests.Infrastructure;
using Terse.Tokenization;

namespace Terse.Tests.MetaTokens;

/// <summary>
/// Every text in shared/data/text (whole files), tokenized with cl100k_base and o200k_base:
/// compressed with each strategy, the ids and the original bytes come back exactly through the
/// container and the in-context form, and gain is never longer than Greedy.
/// </summary>
public class RealTextTests
{
    public static TheoryData<string, string> Cases()
    {
        var data = new TheoryData<string, string>();
        foreach (var tokenizer in new[] { "cl100k_base", "o200k_base" })
            foreach (var file in TestData.TextFiles())
                data.Add(tokenizer, file);
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void RoundTripsExactlyAndGainBeatsGreedy(string tokenizerName, string file)
    {
        var tokenizer = TokenizerRegistry.Load(tokenizerName);
        var bytes = TestData.ReadBytes(file);
        var ids = tokenizer.Encode(Encoding.UTF8.GetString(bytes));
        Assert.Equal(bytes, tokenizer.DecodeToBytes(ids));
        int vocabulary = tokenizer.VocabularySize;
        var identity = TokenizerIdentity.Of(tokenizer);
        var format = InContextFormat.ForVocabulary(vocabulary);

        var gain = MetaTokenCompressor.Compress(ids, vocabulary);
        var greedy = MetaTokenCompressor.Compress(ids, vocabulary, new MetaTokenOptions { Strategy = MetaTokenStrategy.Greedy });
        foreach (var compressed in new[] { gain, greedy })
        {
            var file_ = MetaTokenContainer.Read(MetaTokenContainer.Write(compressed, identity));
            Assert.True(file_.Tokenizer.Matches(tokenizer));
            Assert.Equal(bytes, tokenizer.DecodeToBytes(file_.Sequence.Expand()));
            Assert.Equal(ids, format.DecodeToIds(format.Encode(compressed)));
        }
        Assert.True(gain.OutputTokenCount <= greedy.OutputTokenCount, $"{file}: gain {gain.OutputTokenCount} > greedy {greedy.OutputTokenCount}");
        Assert.True(gain.OutputTokenCount < ids.Length || ids.Length < 10_000, $"{file}: nothing saved on {ids.Length} tokens");
    }

    [Theory]
    [InlineData("text/loghub_HDFS_2k.log")]
    [InlineData("text/humaneval.jsonl.gz")]
    [InlineData("text/squad_v2_sample.json")]
    public void HierarchicalRoundTripsAndSavesMore(string file)
    {
        var tokenizer = TokenizerRegistry.Load("cl100k_base");
        var bytes = TestData.ReadBytes(file);
        var ids = tokenizer.Encode(Encoding.UTF8.GetString(bytes));
        var flat = MetaTokenCompressor.Compress(ids, tokenizer.VocabularySize);
        var deep = MetaTokenCompressor.Compress(ids, tokenizer.VocabularySize, new MetaTokenOptions { Hierarchical = true });
        Assert.True(deep.IsHierarchical);
        Assert.True(deep.OutputTokenCount < flat.OutputTokenCount);
        var format = InContextFormat.ForVocabulary(tokenizer.VocabularySize);
        Assert.Equal(bytes, tokenizer.DecodeToBytes(format.DecodeToIds(format.Encode(deep))));
    }
}
