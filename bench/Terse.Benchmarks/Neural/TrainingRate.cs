using System.Diagnostics;
using Terse.Neural;
using Terse.Neural.Numerics;
using Terse.Neural.Training;

namespace Terse.Benchmarks.Neural;

/// <summary>
/// Training throughput of a 15M-parameter Llama (random weights and data) in model FLOP/s —
/// 6·parameters·tokens/s plus attention (6·layers·T·dim per token: QKᵀ and PV, forward and backward,
/// causal half) — against the sgemm rate of the same backend measured in the same run.
/// </summary>
internal static class TrainingRate
{
    public static void Report(TextWriter output, int batch = 4, int sequence = 256, double seconds = 20)
    {
        var config = RunCComparison.Model15M;
        var model = LlamaModel.CreateRandom(config, seed: 1);
        var random = new Random(2);
        var corpus = Enumerable.Range(0, 200_000).Select(_ => random.Next(config.VocabSize)).ToArray();
        var trainer = new Trainer(model, new TrainingSettings { BatchSize = batch, SequenceLength = sequence, TotalSteps = 1000, WarmupSteps = 10, LearningRate = 1e-4f });
        trainer.TrainStep(corpus); // warm-up: JIT, buffers
        long tokens = 0;
        int steps = 0;
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed.TotalSeconds < seconds)
        {
            tokens += trainer.TrainStep(corpus).Tokens;
            steps++;
        }
        double tokensPerSecond = tokens / clock.Elapsed.TotalSeconds;
        double flopsPerToken = 6.0 * config.ParameterCount + 6.0 * config.Layers * sequence * config.Dim;
        double modelGflops = tokensPerSecond * flopsPerToken / 1e9;
        // The reference is the best sgemm rate among a square product and the run's own largest shapes.
        int rows = batch * sequence;
        double gemm = new[]
        {
            GemmRate.Measure(model.Gemm, false, false, 1024, 1024, 1024, seconds: 2),
            GemmRate.Measure(model.Gemm, false, true, rows, config.HiddenDim, config.Dim, seconds: 2),
            GemmRate.Measure(model.Gemm, false, true, rows, config.VocabSize, config.Dim, seconds: 2),
        }.Max();
        output.WriteLine($"model: {config.ParameterCount / 1e6:F1}M parameters, batch {batch}×{sequence}, backend {model.Gemm.Name}, threads {Compute.Threads}");
        output.WriteLine($"| steps | tokens/s | model GFLOP/s | best sgemm GFLOP/s | ratio |");
        output.WriteLine("|---:|---:|---:|---:|---:|");
        output.WriteLine($"| {steps} | {tokensPerSecond:F0} | {modelGflops:F1} | {gemm:F1} | {modelGflops / gemm:F2} |");
    }
}
