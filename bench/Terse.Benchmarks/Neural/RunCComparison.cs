using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using Terse.Neural;
using Terse.Neural.Checkpoints;
using Terse.Neural.Numerics;
using Terse.Tokenization.Llama2c;

namespace Terse.Benchmarks.Neural;

/// <summary>
/// Head-to-head with llama2.c's <c>run.c</c> (built by the caller, e.g. <c>gcc -Ofast -march=native -fopenmp</c>),
/// measured in the same run: greedy generation tok/s on stories260K and on a 15M-parameter Llama
/// with random weights, plus our prefill rate. run.c reports its own rate ("achieved tok/s", timed
/// from the second token); ours is timed the same way.
/// </summary>
internal static class RunCComparison
{
    public static LlamaConfig Model15M { get; } = new(Dim: 288, HiddenDim: 768, Layers: 6, Heads: 6, KvHeads: 6, VocabSize: 32000, MaxSequenceLength: 256);

    public static void Report(string dataRoot, string? runC, int repeats, TextWriter output)
    {
        string models = Path.Combine(dataRoot, "models");
        string random15M = Path.Combine(Path.GetTempPath(), "terse-bench-15M-random.bin");
        if (!File.Exists(random15M))
            Llama2cCheckpoint.Save(Random15M(), random15M);
        var cases = new (string Name, string Model, string Tokenizer, int Steps)[]
        {
            ("stories260K, 256 steps", Path.Combine(models, "stories260K.bin"), Path.Combine(models, "stories260K_tok512.bin"), 256),
            ("stories260K, 512 steps", Path.Combine(models, "stories260K.bin"), Path.Combine(models, "stories260K_tok512.bin"), 512),
            ("15M random, 256 steps", random15M, Path.Combine(dataRoot, "tokenizers", "llama2_tokenizer_llama2c.bin"), 256),
        };
        output.WriteLine($"machine: {Environment.ProcessorCount} cores, {System.Runtime.InteropServices.RuntimeInformation.OSArchitecture}, Vector512 {System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated}; median of {repeats} runs");
        output.WriteLine("| case | threads | terse decode tok/s | run.c tok/s | ratio | terse prefill tok/s |");
        output.WriteLine("|---|---:|---:|---:|---:|---:|");
        foreach (var (name, modelPath, tokenizerPath, steps) in cases)
        {
            var model = Llama2cCheckpoint.Load(modelPath);
            var tokenizer = Llama2cTokenizer.Load(tokenizerPath, model.Config.VocabSize);
            foreach (int threads in new[] { 1, 2 })
            {
                Compute.Threads = threads;
                double ours = Median(repeats, () => TerseRate(model, tokenizer, steps));
                double? theirs = runC is null ? null : Median(repeats, () => RunCRate(runC, modelPath, tokenizerPath, steps, threads));
                double prefill = Median(repeats, () => DecodeRate.Prefill(model, steps, seconds: 1));
                output.WriteLine($"| {name} | {threads} | {ours:F0} | {(theirs is null ? "—" : theirs.Value.ToString("F0"))} | " +
                    $"{(theirs is null ? "—" : (ours / theirs.Value).ToString("F2"))} | {prefill:F0} |");
            }
        }
    }

    /// <summary>
    /// Random weights (seeded), except that BOS's embedding row is zero: a tied random model predicts
    /// the token it was fed, so from BOS it would choose BOS and stop at once.
    /// </summary>
    public static LlamaModel Random15M()
    {
        var model = LlamaModel.CreateRandom(Model15M, seed: 15);
        model.Parameters[ParameterNames.Embedding].Value.Span.Slice(Llama2cTokenizer.BosToken * Model15M.Dim, Model15M.Dim).Clear();
        return model;
    }

    /// <summary>Our greedy generation from BOS, timed from the second token as run.c does.</summary>
    private static double TerseRate(LlamaModel model, Llama2cTokenizer tokenizer, int steps)
    {
        var clock = new Stopwatch();
        int printed = 0;
        TextGeneration.Generate(model, tokenizer, "", steps, new Sampler(0), _ =>
        {
            if (printed++ == 0)
                clock.Start();
        });
        clock.Stop();
        return (printed - 1) / clock.Elapsed.TotalSeconds;
    }

    private static double RunCRate(string runC, string model, string tokenizer, int steps, int threads)
    {
        var start = new ProcessStartInfo(runC) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in new[] { model, "-z", tokenizer, "-t", "0.0", "-n", steps.ToString(CultureInfo.InvariantCulture) })
            start.ArgumentList.Add(arg);
        start.Environment["OMP_NUM_THREADS"] = threads.ToString(CultureInfo.InvariantCulture);
        using var process = Process.Start(start)!;
        process.StandardOutput.ReadToEnd();
        string stderr = process.StandardError.ReadToEnd();
        process.WaitForExit();
        var match = Regex.Match(stderr, @"achieved tok/s: ([0-9.]+)");
        return match.Success ? double.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture) : throw new InvalidOperationException("run.c printed no rate: " + stderr);
    }

    private static double Median(int repeats, Func<double> measure)
    {
        var values = Enumerable.Range(0, repeats).Select(_ => measure()).Order().ToArray();
        return values[values.Length / 2];
    }
}
