using BenchmarkDotNet.Running;

namespace Terse.Benchmarks;

public static class Program
{
    /// <summary>
    /// Head-to-head comparisons (plain timing against reference programs) and maintenance commands,
    /// run as <c>dotnet run -c Release --project bench/Terse.Benchmarks -- NAME ARGS…</c>; anything
    /// else goes to BenchmarkDotNet's switcher.
    /// </summary>
    private static readonly Dictionary<string, Func<string[], int>> Commands = new(StringComparer.Ordinal)
    {
        ["tokenizer-assets"] = Tokenization.TokenizerAssetsCommand.Run,
        ["tokenizer-speed"] = Tokenization.TokenizerSpeedCommand.Run,
        ["tokenizer-fuzz-parity"] = Tokenization.TokenizerFuzzParityCommand.Run,
        ["neural"] = Neural.NeuralComparison.Run,
        ["entropy"] = EntropyCoding.EntropyComparison.Run,
        ["metatokens-table"] = MetaTokens.MetaTokenTableCommand.Run,
        ["metatokens-speed"] = MetaTokens.MetaTokenSpeedCommand.Run,
        ["metatokens-fuzz"] = MetaTokens.MetaTokenFuzzCommand.Run,
        ["metatokens-phases"] = MetaTokens.MetaTokenPhasesCommand.Run,
        ["metatokens-guard"] = MetaTokens.MetaTokenGuardCommand.Run,
        ["corpus-split"] = Corpora.CorpusSplitCommand.Run,
        ["plot-training"] = Pretraining.PlotTrainingCommand.Run,
        ["plot-eval"] = Evaluation.PlotEvaluationCommand.Run,
        ["ztokens-speed"] = ZTokens.ZTokenSpeedCommand.Run,
        ["ztokens-search"] = ZTokens.ZTokenSearchCommand.Run,
        ["ztokens-container"] = ZTokens.ZTokenContainerCommand.Run,
        ["ztokens-generation"] = ZTokens.ZTokenGenerationCommand.Run,
    };

    public static int Main(string[] args)
    {
        if (args.Length > 0 && Commands.TryGetValue(args[0], out var command))
            return command(args[1..]);
        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
        return 0;
    }
}
