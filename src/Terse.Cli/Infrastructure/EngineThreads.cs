using Terse.Neural.Numerics;

namespace Terse.Cli.Infrastructure;

/// <summary>The engine's <c>--threads</c> option, shared by every command that runs a model.</summary>
public static class EngineThreads
{
    public static System.CommandLine.Option<int?> CreateOption() => new System.CommandLine.Option<int?>("--threads") { Description = "Threads for the engine (default: all cores)." }.AtLeast(1);

    /// <summary>Sets <see cref="Compute.Threads"/> when the option was given (null: all cores).</summary>
    public static void Apply(int? threads)
    {
        if (threads is null)
            return;
        if (threads < 1)
            throw new CliException($"--threads must be ≥ 1, got {threads}");
        Compute.Threads = threads.Value;
    }
}
