using Terse.MetaTokens;

namespace Terse.Tests.MetaTokens;

public class InContextFormatTests
{
    private const int V = 100;

    private static readonly int[] Repetitive = Enumerable.Range(0, 12).SelectMany(i => new[] { 5, 6, 7, 8, i }).ToArray();

    [Fact]
    public void DefaultLayoutPutsDelimitersAndMetaTokensAboveTheVocabulary()
    {
        var compressed = MetaTokenCompressor.Compress(Repetitive, V);
        var ids = InContextFormat.ForVocabulary(V).Encode(compressed);
        Assert.Equal(V, ids[0]);
        Assert.Equal(V + 2, ids[1]);
        int end = Array.IndexOf(ids, V + 1);
        Assert.True(end > 2);
        Assert.Equal(compressed.Body.Length, ids.Length - end - 1);
        // Dictionary entry 0 is its id then the run it stands for.
        Assert.Equal(compressed.Definitions[0], ids[2..(2 + compressed.Definitions[0].Length)]);
    }

    [Fact]
    public void SpecialTokensOfTheVocabularyCanBeTheDelimiters()
    {
        var format = new InContextFormat(V, V - 2, V - 1, V);
        var compressed = MetaTokenCompressor.Compress(Repetitive, V, new MetaTokenOptions { Hierarchical = true });
        var ids = format.Encode(compressed);
        Assert.Equal(V - 2, ids[0]);
        Assert.Equal(Repetitive, format.DecodeToIds(ids));
        // A text containing a delimiter token cannot be rendered unambiguously.
        var withDelimiter = MetaTokenCompressor.Compress([1, V - 1, 2], V);
        Assert.Throws<ArgumentException>(() => format.Encode(withDelimiter));
    }

    [Fact]
    public void NoDictionaryMeansTheBodyAlone()
    {
        var format = InContextFormat.ForVocabulary(V);
        var compressed = MetaTokenCompressor.Compress([1, 2, 3], V);
        Assert.Equal([1, 2, 3], format.Encode(compressed));
        Assert.Equal([1, 2, 3], format.DecodeToIds([1, 2, 3]));
        Assert.Empty(format.DecodeToIds([]));
        Assert.Equal([4, 4], format.DecodeToIds([V, V + 1, 4, 4])); // an empty dictionary is legal
    }

    [Theory]
    [InlineData(new[] { V, V + 2, 1, 2 }, "never closed")]
    [InlineData(new[] { V, V + 3, 1, 2, V + 1 }, "should start dictionary entry 0")]
    [InlineData(new[] { V, V + 2, 1, V + 1, 5 }, "at least 2")]
    [InlineData(new[] { V, V + 2, 1, V + 2, V + 1 }, "not defined before it is used")]
    [InlineData(new[] { V, V + 2, 1, 2, V + 1, V + 3 }, "not defined before it is used")]
    [InlineData(new[] { 1, V + 2 }, "not defined before it is used")]
    [InlineData(new[] { 1, V + 1, 2 }, "unexpected dictionary delimiter")]
    [InlineData(new[] { 1, -3 }, "neither a base token")]
    public void RejectsMalformedSequences(int[] ids, string message)
    {
        var e = Assert.Throws<InvalidDataException>(() => InContextFormat.ForVocabulary(V).Decode(ids));
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void RejectsIdsInTheGapBelowTheMetaTokens()
    {
        var format = new InContextFormat(V, V, V + 1, V + 10);
        Assert.Contains("neither a base token", Assert.Throws<InvalidDataException>(() => format.Decode([1, V + 5])).Message);
    }

    [Fact]
    public void RejectsInconsistentLayouts()
    {
        var compressed = MetaTokenCompressor.Compress(Repetitive, V);
        Assert.Throws<ArgumentException>(() => new InContextFormat(V, V, V, V + 2).Encode(compressed));
        Assert.Throws<ArgumentException>(() => new InContextFormat(V, V, V + 1, V - 1).Encode(compressed));
        Assert.Throws<ArgumentException>(() => new InContextFormat(V, V + 5, V + 1, V + 2).Encode(compressed));
        Assert.Throws<ArgumentException>(() => InContextFormat.ForVocabulary(V + 1).Encode(compressed));
    }
}
