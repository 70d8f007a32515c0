using System.Diagnostics;
using Terse.Tests.MetaTokens;

namespace Terse.Benchmarks.MetaTokens;

/// <summary>
/// <c>metatokens-fuzz [--cases N] [--seed S]</c>: the long fuzz run of both meta-token decoders
/// (the container and the in-context form), with the same fuzzer the test suite runs 10^5 times.
/// Exits non-zero on the first input that crashes, hangs the run or is accepted inconsistently.
/// </summary>
internal static class MetaTokenFuzzCommand
{
    public static int Run(string[] args)
    {
        long cases = 10_000_000;
        int seed = Environment.TickCount;
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--cases": cases = long.Parse(args[++i]); break;
                case "--seed": seed = int.Parse(args[++i]); break;
                default: throw new ArgumentException($"unknown argument {args[i]}; use --cases N, --seed S");
            }
        }
        try
        {
            var watch = Stopwatch.StartNew();
            var container = MetaTokenFuzzer.FuzzContainer(cases, seed);
            Console.WriteLine($"container:  {container.Cases:N0} cases (seed {seed}): {container.Accepted:N0} accepted, {container.Rejected:N0} rejected with InvalidDataException, 0 failures, {watch.Elapsed.TotalSeconds:F0} s");
            watch.Restart();
            var inContext = MetaTokenFuzzer.FuzzInContext(cases, seed + 1);
            Console.WriteLine($"in-context: {inContext.Cases:N0} cases (seed {seed + 1}): {inContext.Accepted:N0} accepted, {inContext.Rejected:N0} rejected with InvalidDataException, 0 failures, {watch.Elapsed.TotalSeconds:F0} s");
            return 0;
        }
        catch (MetaTokenFuzzer.FuzzFailure e)
        {
            Console.Error.WriteLine("FAILURE: " + e.Message);
            return 1;
        }
    }
}
