using FsCheck;
using FsCheck.Fluent;
using Terse.MetaTokens;

namespace Terse.Tests.MetaTokens;

/// <summary>
/// The paper's Greedy, written out directly (every substring of each length enumerated, occurrences
/// counted leftmost first without overlap), against the suffix-tree implementation: the same
/// dictionary and body, exactly, whatever maximum length the shared candidates were collected with.
/// </summary>
public class GreedyReferenceTests
{
    private const int Vocabulary = 1000;

    [Theory]
    [InlineData(32, 32)]
    [InlineData(32, 256)]
    [InlineData(5, 5)]
    [InlineData(3, 7)]
    public void SuffixTreeGreedyIsThePapersProcedure(int maxLength, int candidateMaxLength)
    {
        Prop.ForAll(Generators.Sequences.ToArbitrary(), ids =>
        {
            var candidates = RepeatCandidates.Collect(new RepeatIndex(ids), candidateMaxLength);
            var (definitions, body) = GreedySelection.Compress(candidates, maxLength, Vocabulary);
            var (expectedDefinitions, expectedBody) = DirectGreedy(ids, maxLength, Vocabulary);
            Assert.Equal(expectedDefinitions.Count, definitions.Count);
            for (int k = 0; k < definitions.Count; k++)
                Assert.Equal(expectedDefinitions[k], definitions[k]);
            Assert.Equal(expectedBody, body);
        }).QuickCheckThrowOnFailure();
    }

    private static (List<int[]> Definitions, int[] Body) DirectGreedy(int[] ids, int maxLength, int metaBase)
    {
        int n = ids.Length;
        var runs = new List<(int Length, int First, List<int> Occurrences)>();
        for (int length = 2; length <= Math.Min(maxLength, n); length++)
        {
            var byContent = new Dictionary<string, List<int>>();
            for (int p = 0; p + length <= n; p++)
            {
                string key = string.Join(",", ids.Skip(p).Take(length));
                if (!byContent.TryGetValue(key, out var list))
                    byContent[key] = list = [];
                list.Add(p);
            }
            foreach (var positions in byContent.Values)
            {
                var occurrences = new List<int>();
                foreach (int p in positions)
                    if (occurrences.Count == 0 || p >= occurrences[^1] + length)
                        occurrences.Add(p);
                if (length * occurrences.Count > 1 + length + occurrences.Count)
                    runs.Add((length, positions[0], occurrences));
            }
        }
        runs.Sort((a, b) => a.Length != b.Length ? b.Length.CompareTo(a.Length) : a.First.CompareTo(b.First));

        var covered = new bool[n];
        var metaAt = new int[n];
        var definitions = new List<int[]>();
        foreach (var (length, _, occurrences) in runs)
        {
            var free = occurrences.Where(p => !covered.AsSpan(p, length).Contains(true)).ToList();
            if (length * free.Count <= 1 + length + free.Count)
                continue;
            definitions.Add(ids.AsSpan(free[0], length).ToArray());
            foreach (int p in free)
            {
                covered.AsSpan(p, length).Fill(true);
                metaAt[p] = definitions.Count;
            }
        }
        var body = new List<int>();
        for (int p = 0; p < n;)
        {
            if (metaAt[p] == 0)
            {
                body.Add(ids[p++]);
                continue;
            }
            body.Add(metaBase + metaAt[p] - 1);
            p += definitions[metaAt[p] - 1].Length;
        }
        return (definitions, [.. body]);
    }
}
