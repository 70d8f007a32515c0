using Terse.MetaTokens;

namespace Terse.Benchmarks.MetaTokens;

/// <summary>
/// <c>metatokens-phases [--tokens N] [--runs R] [--only PHASE-PREFIX]</c>: thread CPU time of each phase of meta-token
/// compression on real-text ids (median of R runs), to see where the time goes.
/// </summary>
internal static class MetaTokenPhasesCommand
{
    public static int Run(string[] args)
    {
        long tokens = 1_000_000;
        int repeats = 5;
        string? only = null;
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--tokens": tokens = long.Parse(args[++i]); break;
                case "--runs": repeats = int.Parse(args[++i]); break;
                case "--only": only = args[++i]; break;
                default: throw new ArgumentException($"unknown argument {args[i]}; use --tokens N, --runs R, --only PHASE-PREFIX");
            }
        }
        var ids = MetaTokenData.CorpusIds(tokens, ["cl100k_base"], out int vocabulary);
        var index = new RepeatIndex(ids);
        var candidates = RepeatCandidates.Collect(index, MetaTokenOptions.DefaultGainMaxRunLength);
        var runs = GainSelection.Select(candidates);
        var phases = new (string Name, Func<object> Action)[]
        {
            ("suffix array (SA-IS)", () => SuffixArray.Build(ids)),
            ("LCP (Φ)", () => SuffixArray.BuildLcp(ids, index.Sa)),
            ("candidates (suffix-tree nodes, shared)", () => RepeatCandidates.Collect(index, MetaTokenOptions.DefaultGainMaxRunLength)),
            ("gain selection", () => GainSelection.Select(candidates)),
            ("optimal parse with pruning", () => new OptimalParse(index, runs).ParseAndPrune(vocabulary, AllActive(runs.Count))),
            ("gain selection + parse + numbering", () => MetaTokenCompressor.CompressGain(candidates, vocabulary)),
            ("Greedy selection", () => GreedySelection.Compress(candidates, MetaTokenOptions.DefaultGreedyMaxRunLength, vocabulary)),
            ("compress, gain (default)", () => MetaTokenCompressor.Compress(ids, vocabulary)),
            ("compress, gain-fast", () => MetaTokenCompressor.Compress(ids, vocabulary, new MetaTokenOptions { Strategy = MetaTokenStrategy.GainFast })),
            ("compress, Greedy", () => MetaTokenCompressor.Compress(ids, vocabulary, new MetaTokenOptions { Strategy = MetaTokenStrategy.Greedy })),
        };
        Console.WriteLine($"| phase ({ids.Length:N0} ids) | median thread CPU | fastest run |");
        Console.WriteLine("|---|---:|---:|");
        foreach (var (name, action) in phases)
        {
            if (only is not null && !name.StartsWith(only, StringComparison.OrdinalIgnoreCase))
                continue;
            action();
            var times = new double[repeats];
            for (int r = 0; r < repeats; r++)
            {
                GC.Collect();
                double t0 = ThreadCpu.Seconds();
                action();
                times[r] = ThreadCpu.Seconds() - t0;
            }
            Array.Sort(times);
            Console.WriteLine($"| {name} | {times[repeats / 2] * 1000:F0} ms | {times[0] * 1000:F0} ms |");
        }
        return 0;
    }

    private static bool[] AllActive(int count)
    {
        var active = new bool[count];
        Array.Fill(active, true);
        return active;
    }
}
