using BenchmarkDotNet.Running;

namespace Terse.Benchmarks;

public static class Program
{
    public static int Main(string[] args)
    {
        // Head-to-head comparison commands (plain timing against reference programs) come before
        // BenchmarkDotNet's own switcher: `dotnet run -c Release --project bench/Terse.Benchmarks -- neural …`.
        if (args.Length > 0 && args[0] == "neural")
            return Neural.NeuralComparison.Run(args[1..]);
        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
        return 0;
    }
}
