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
        output.WriteLine("Wall-clock rates as run.c reports them (timed from the second token); per CPU-second rates divide by the");
        output.WriteLine("process's CPU time instead, which a shared machine disturbs less (one thread only).");
        output.WriteLine("| case | threads | terse tok/s | run.c tok/s | ratio | terse tok/CPU-s | run.c tok/CPU-s | ratio | terse prefill tok/s |");
        output.WriteLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var (name, modelPath, tokenizerPath, steps) in cases)
        {
            var model = Llama2cCheckpoint.Load(modelPath);
            var tokenizer = Llama2cTokenizer.Load(tokenizerPath, model.Config.VocabSize);
            foreach (int threads in new[] { 1, 2 })
            {
                Compute.Threads = threads;
                // Tiered JIT: run for a few seconds first so that only fully optimised code is measured.
                for (var warm = Stopwatch.StartNew(); warm.Elapsed.TotalSeconds < 3;)
                    TerseRate(model, tokenizer, steps);
                var ours = Median(repeats, () => TerseRate(model, tokenizer, steps));
                var theirs = runC is null ? default : Median(repeats, () => RunCRate(runC, modelPath, tokenizerPath, steps, threads));
                double prefill = Median(repeats, () => (DecodeRate.Prefill(model, steps, seconds: 1), 0)).Wall;
                string Cell(double value) => runC is null ? "—" : value.ToString("F0");
                string Ratio(double a, double b) => runC is null ? "—" : (a / b).ToString("F2");
                output.WriteLine($"| {name} | {threads} | {ours.Wall:F0} | {Cell(theirs.Wall)} | {Ratio(ours.Wall, theirs.Wall)} | " +
                    (threads == 1 ? $"{ours.Cpu:F0} | {Cell(theirs.Cpu)} | {Ratio(ours.Cpu, theirs.Cpu)}" : "— | — | —") + $" | {prefill:F0} |");
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
        model.Parameters[Terse.Neural.Checkpoints.HuggingFaceLlamaNames.Embedding].Value.Span.Slice(Llama2cTokenizer.BosToken * Model15M.Dim, Model15M.Dim).Clear();
        return model;
    }

    /// <summary>Our greedy generation from BOS, timed from the second token as run.c does: (wall, per CPU-second) rates.</summary>
    private static (double Wall, double Cpu) TerseRate(LlamaModel model, Llama2cTokenizer tokenizer, int steps)
    {
        var clock = new Stopwatch();
        var process = Process.GetCurrentProcess();
        TimeSpan cpuStart = default;
        int printed = 0;
        TextGeneration.Generate(model, tokenizer, "", steps, new Sampler(0), _ =>
        {
            if (printed++ == 0)
            {
                clock.Start();
                process.Refresh();
                cpuStart = process.TotalProcessorTime;
            }
        });
        clock.Stop();
        process.Refresh();
        double cpu = (process.TotalProcessorTime - cpuStart).TotalSeconds;
        return ((printed - 1) / clock.Elapsed.TotalSeconds, (printed - 1) / cpu);
    }

    /// <summary>run.c's own "achieved tok/s", and tokens per CPU-second of the whole process (bash's time builtin).</summary>
    private static (double Wall, double Cpu) RunCRate(string runC, string model, string tokenizer, int steps, int threads)
    {
        var start = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add("TIMEFORMAT='cpu %U %S'; time \"$0\" \"$@\" > /dev/null");
        foreach (var arg in new[] { runC, model, "-z", tokenizer, "-t", "0.0", "-n", steps.ToString(CultureInfo.InvariantCulture) })
            start.ArgumentList.Add(arg);
        start.Environment["OMP_NUM_THREADS"] = threads.ToString(CultureInfo.InvariantCulture);
        using var process = Process.Start(start)!;
        process.StandardOutput.ReadToEnd();
        string stderr = process.StandardError.ReadToEnd();
        process.WaitForExit();
        var rate = Regex.Match(stderr, @"achieved tok/s: ([0-9.]+)");
        var cpu = Regex.Match(stderr, @"cpu ([0-9.]+) ([0-9.]+)");
        if (!rate.Success || !cpu.Success)
            throw new InvalidOperationException("run.c printed no rate: " + stderr);
        double seconds = double.Parse(cpu.Groups[1].Value, CultureInfo.InvariantCulture) + double.Parse(cpu.Groups[2].Value, CultureInfo.InvariantCulture);
        return (double.Parse(rate.Groups[1].Value, CultureInfo.InvariantCulture), (steps - 1) / Math.Max(seconds, 1e-3));
    }

    private static (double Wall, double Cpu) Median(int repeats, Func<(double Wall, double Cpu)> measure)
    {
        var values = Enumerable.Range(0, repeats).Select(_ => measure()).ToArray();
        return (values.Select(v => v.Wall).Order().ElementAt(repeats / 2), values.Select(v => v.Cpu).Order().ElementAt(repeats / 2));
    }
}
