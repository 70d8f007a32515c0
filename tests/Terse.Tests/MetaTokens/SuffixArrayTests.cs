using Terse.MetaTokens;

namespace Terse.Tests.MetaTokens;

public class SuffixArrayTests
{
    private static int[] NaiveSuffixArray(int[] text)
    {
        var sa = Enumerable.Range(0, text.Length).ToArray();
        Array.Sort(sa, (a, b) => text.AsSpan(a).SequenceCompareTo(text.AsSpan(b)));
        return sa;
    }

    private static int NaiveLcp(int[] text, int a, int b)
    {
        int h = 0;
        while (a + h < text.Length && b + h < text.Length && text[a + h] == text[b + h])
            h++;
        return h;
    }

    [Theory]
    [InlineData(1, 2)]
    [InlineData(2, 3)]
    [InlineData(3, 50)]
    [InlineData(4, 100_000)]   // sparse alphabet: ids are renamed to dense ranks
    [InlineData(5, int.MaxValue)]
    public void MatchesNaiveSortOnRandomSequences(int seed, int alphabet)
    {
        var random = new Random(seed);
        for (int trial = 0; trial < 300; trial++)
        {
            int n = random.Next(0, 200);
            var text = new int[n];
            for (int i = 0; i < n; i++)
                text[i] = random.Next(alphabet);
            var sa = SuffixArray.Build(text);
            Assert.Equal(NaiveSuffixArray(text), sa);
            var lcp = SuffixArray.BuildLcp(text, sa);
            for (int i = 1; i < n; i++)
                Assert.Equal(NaiveLcp(text, sa[i - 1], sa[i]), lcp[i]);
        }
    }

    [Fact]
    public void HandlesPeriodicAndConstantSequences()
    {
        foreach (var text in new[]
        {
            Enumerable.Repeat(7, 1000).ToArray(),
            Enumerable.Range(0, 1000).Select(i => i % 3).ToArray(),
            Enumerable.Range(0, 999).Select(i => i % 2 == 0 ? 5 : 1).ToArray(),
            Enumerable.Range(0, 1000).Select(i => 1000 - i).ToArray(),
        })
        {
            Assert.Equal(NaiveSuffixArray(text), SuffixArray.Build(text));
        }
    }
}
