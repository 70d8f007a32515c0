using Terse.Neural.Numerics;

namespace Terse.Benchmarks.Neural;

/// <summary>Entry point of <c>-- neural &lt;what&gt; [--threads N]</c>.</summary>
internal static class NeuralComparison
{
    public static int Run(string[] args)
    {
        int threadsAt = Array.IndexOf(args, "--threads");
        if (threadsAt >= 0)
            Compute.Threads = int.Parse(args[threadsAt + 1]);
        string what = args.Length > 0 ? args[0] : "gemm";
        switch (what)
        {
            case "gemm":
                GemmRate.Report(Console.Out);
                return 0;
            case "decode":
            {
                var model = Terse.Neural.Checkpoints.Llama2cCheckpoint.Load(args[1]);
                int steps = args.Length > 2 && int.TryParse(args[2], out int n) ? n : model.Config.MaxSequenceLength;
                Console.WriteLine($"{Path.GetFileName(args[1])}: decode {DecodeRate.Generate(model, steps):F0} tok/s, prefill {DecodeRate.Prefill(model, steps):F0} tok/s (threads {Compute.Threads})");
                return 0;
            }
            default:
                Console.Error.WriteLine($"unknown neural benchmark '{what}' (gemm)");
                return 1;
        }
    }
}
