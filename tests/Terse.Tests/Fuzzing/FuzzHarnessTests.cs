using Terse.Fuzz;
using Terse.Tests.Infrastructure;
using Terse.Tests.Tokenization;

namespace Terse.Tests.Fuzzing;

/// <summary>
/// The coverage-guided fuzzer's harnesses (bench/Terse.Fuzz, docs/fuzzing.md), run briefly in the
/// suite: every committed corpus input (the seeds, the corpus a campaign grew, and the inputs of any
/// crash it found) and a few thousand mutations of them must be accepted or rejected as documented.
/// </summary>
public class FuzzHarnessTests
{
    public static TheoryData<string> Targets() => [.. FuzzTargets.All.Select(t => t.Name)];

    private static string CorpusOf(string target) => Path.Combine(TestData.RepositoryRoot, "bench", "Terse.Fuzz", "corpus", target);

    [Theory]
    [MemberData(nameof(Targets))]
    public void TheCorpusAndItsMutationsAreAcceptedOrRejectedAsDocumented(string name)
    {
        var target = FuzzTargets.Named(name);
        var files = Directory.GetFiles(CorpusOf(name)).Order().ToArray();
        // The seeds are valid files; what AFL++ grew (afl-*) and past crashes (crash-*) may be rejected.
        var seeds = files.Where(f => !Path.GetFileName(f).StartsWith("afl-") && !Path.GetFileName(f).StartsWith("crash-")).ToArray();
        Assert.NotEmpty(seeds);
        foreach (var seed in seeds)
            Assert.True(FuzzTargets.Run(target, File.ReadAllBytes(seed)), $"the seed {Path.GetFileName(seed)} of {name} is not accepted");
        var corpus = files.Select(File.ReadAllBytes).ToArray();
        var random = new Random(name.Sum(c => (int)c));
        int accepted = 0;
        for (int i = 0; i < corpus.Length + 2000; i++)
        {
            var input = i < corpus.Length ? corpus[i] : FormatFuzzer.Mutate(corpus[random.Next(corpus.Length)], random);
            try
            {
                if (FuzzTargets.Run(target, input))
                    accepted++;
            }
            catch (Exception e)
            {
                Assert.Fail($"{name}, input {i} ({input.Length} bytes): {e.GetType().Name}: {e.Message}\n{e.StackTrace}");
            }
        }
        Assert.True(accepted > 0);
    }

    [Fact]
    public void TheGeneratedSeedsAreTheCommittedOnes()
    {
        foreach (var (target, name, bytes) in FuzzTargets.GeneratedSeeds())
            Assert.True(File.Exists(Path.Combine(CorpusOf(target), name)), $"{target}/{name} is not in the corpus: run Terse.Fuzz seeds bench/Terse.Fuzz/corpus");
    }
}
