using System.Diagnostics;
using Terse.MetaTokens;

namespace Terse.Benchmarks.MetaTokens;

/// <summary>
/// <c>metatokens-speed [--tokens N] [--runs R] [--scaling]</c>: compress and decompress speed on
/// real-text ids, one thread. Default: the first 1,000,000 cl100k_base ids of the shared texts.
/// <c>--scaling</c>: 10^4 … 10^7 ids: the texts tokenized with cl100k_base, o200k_base, r50k_base
/// and Llama 2's SentencePiece model in turn (four different vocabularies, so the 10^7 stream is
/// real text that does not repeat itself; p50k_base is left out because it tokenizes like r50k_base).
/// Each figure is the median of R runs after one warm-up run, as wall time and as the thread's
/// CPU time (the latter is robust to other processes sharing the cores); an operation shorter than
/// 50 ms is repeated within a run and averaged, as the CPU clock ticks in milliseconds.
/// </summary>
internal static class MetaTokenSpeedCommand
{
    private static readonly string[] ScalingTokenizers = ["cl100k_base", "o200k_base", "r50k_base", "tokenizers/llama2_tokenizer.model"];

    public static int Run(string[] args)
    {
        long tokens = 1_000_000;
        int runs = 5;
        bool scaling = false;
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--tokens": tokens = long.Parse(args[++i]); break;
                case "--runs": runs = int.Parse(args[++i]); break;
                case "--scaling": scaling = true; break;
                default: throw new ArgumentException($"unknown argument {args[i]}; use --tokens N, --runs R, --scaling");
            }
        }
        Console.WriteLine($"machine: {Environment.ProcessorCount} logical cores, {System.Runtime.InteropServices.RuntimeInformation.OSDescription}, .NET {Environment.Version}; load average {LoadAverage()}");
        Console.WriteLine();
        Console.WriteLine("| ids | operation | median wall | ids/s (wall) | median thread CPU | ids/s (CPU) | output tokens |");
        Console.WriteLine("|---:|---|---:|---:|---:|---:|---:|");
        if (!scaling)
        {
            var ids = MetaTokenData.CorpusIds(tokens, ["cl100k_base"], out int vocabulary);
            Measure(ids, vocabulary, runs, decompress: true);
        }
        else
        {
            var all = MetaTokenData.CorpusIds(10_000_000, ScalingTokenizers, out int vocabulary);
            foreach (int size in new[] { 10_000, 100_000, 1_000_000, 10_000_000 })
                Measure(all[..size], vocabulary, size >= 10_000_000 ? 1 : size >= 1_000_000 ? Math.Min(runs, 3) : runs * 4, decompress: true);
        }
        return 0;
    }

    private static void Measure(int[] ids, int vocabulary, int runs, bool decompress)
    {
        MetaTokenSequence? gain = null;
        foreach (var (name, strategy) in new[] { ("compress gain", MetaTokenStrategy.Gain), ("compress gain-fast", MetaTokenStrategy.GainFast), ("compress greedy", MetaTokenStrategy.Greedy) })
        {
            var options = new MetaTokenOptions { Strategy = strategy };
            MetaTokenSequence result = null!;
            var (wall, cpu) = Time(() => result = MetaTokenCompressor.Compress(ids, vocabulary, options), runs);
            Row(ids.Length, name, wall, cpu, result.OutputTokenCount);
            if (strategy == MetaTokenStrategy.Gain)
                gain = result;
        }
        if (!decompress || gain is null)
            return;
        int decompressRuns = Math.Max(runs * 4, 5);
        var (w1, c1) = Time(() => gain.Expand(), decompressRuns);
        Row(ids.Length, "decompress (expand)", w1, c1, ids.Length);
        var container = MetaTokenContainer.Write(gain, new TokenizerIdentity("bench", [1]));
        var (w2, c2) = Time(() => MetaTokenContainer.Read(container).Sequence.Expand(), decompressRuns);
        Row(ids.Length, $"decompress container ({container.Length:N0} bytes: read, check, expand)", w2, c2, ids.Length);
        var format = InContextFormat.ForVocabulary(vocabulary);
        var inContext = format.Encode(gain);
        var (w3, c3) = Time(() => format.DecodeToIds(inContext), decompressRuns);
        Row(ids.Length, "decompress in-context form", w3, c3, ids.Length);
    }

    private static (double Wall, double Cpu) Time(Action action, int runs)
    {
        long w = Stopwatch.GetTimestamp();
        action(); // warm-up: JIT tiers, caches
        double once = Stopwatch.GetElapsedTime(w).TotalSeconds;
        int repeat = once >= 0.05 ? 1 : (int)Math.Min(10_000, Math.Ceiling(0.05 / Math.Max(once, 1e-6)));
        var walls = new double[runs];
        var cpus = new double[runs];
        for (int r = 0; r < runs; r++)
        {
            GC.Collect();
            double cpu0 = ThreadCpu.Seconds();
            long t0 = Stopwatch.GetTimestamp();
            for (int k = 0; k < repeat; k++)
                action();
            walls[r] = Stopwatch.GetElapsedTime(t0).TotalSeconds / repeat;
            cpus[r] = (ThreadCpu.Seconds() - cpu0) / repeat;
        }
        Array.Sort(walls);
        Array.Sort(cpus);
        return (walls[runs / 2], cpus[runs / 2]);
    }

    private static void Row(int ids, string operation, double wall, double cpu, long outputTokens) =>
        Console.WriteLine($"| {ids:N0} | {operation} | {Ms(wall)} | {Rate(ids, wall)} | {Ms(cpu)} | {Rate(ids, cpu)} | {outputTokens:N0} |");

    private static string Ms(double seconds) => double.IsNaN(seconds) ? "—" : seconds < 0.01 ? $"{seconds * 1000:F2} ms" : $"{seconds * 1000:F0} ms";

    private static string Rate(long ids, double seconds) =>
        double.IsNaN(seconds) || seconds <= 0 ? "—" : ids / seconds >= 1e8 ? $"{ids / seconds / 1e6:F0} M" : $"{ids / seconds / 1e6:F2} M";

    private static string LoadAverage()
    {
        try
        {
            return File.ReadAllText("/proc/loadavg").Split(' ')[0];
        }
        catch (IOException)
        {
            return "?";
        }
    }
}
