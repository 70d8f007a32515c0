using System.CommandLine;
using System.Text;
using Terse.Cli.Infrastructure;
using Terse.MetaTokens;
using Terse.Tokenization;

namespace Terse.Cli.Commands;

/// <summary>
/// A compression method behind <c>terse compress -m NAME</c> and <c>terse decompress</c>. To add one:
/// implement this interface and list an instance in <see cref="CompressCommands.Methods"/>.
/// The command does the shared part (input, output, <c>-t</c>, <c>--json</c>, the progress bar,
/// finding the method of a container by its magic); a method does the rest.
/// </summary>
internal interface ICompressionMethod
{
    /// <summary>The value of <c>-m</c>.</summary>
    string Name { get; }

    string Description { get; }

    /// <summary>
    /// Options only this method reads, added to <c>terse compress</c>. Names must not clash with
    /// another method's options unless it is the same instance (System.CommandLine rejects duplicates).
    /// </summary>
    IReadOnlyList<Option> CompressOptions { get; }

    /// <summary>Options only this method reads, added to <c>terse decompress</c>.</summary>
    IReadOnlyList<Option> DecompressOptions { get; }

    /// <summary>True when <paramref name="data"/> starts like this method's container (its magic).</summary>
    bool IsContainer(ReadOnlySpan<byte> data);

    CompressionOutcome Compress(byte[] input, MethodContext context);

    /// <summary>Restores the original bytes exactly, or throws (InvalidDataException, CliException) with a clear message.</summary>
    DecompressionOutcome Decompress(byte[] container, MethodContext context);

    /// <summary>Inputs (to compress or decompress) at least this long get a progress bar on a terminal; slow methods lower it.</summary>
    long ProgressThresholdBytes => 1 << 20;

    /// <summary>The longest input the method compresses, and why (null: <see cref="CliIO.MaxInputBytes"/>, the general limit).</summary>
    (long Bytes, string Why)? CompressLimit => null;
}

/// <param name="Parse">For the method's own options.</param>
/// <param name="Tokenizer">The <c>-t</c> value, or null when not given.</param>
/// <param name="Progress">Fraction done, 0..1 (a bar is shown on long inputs on a terminal).</param>
/// <param name="MaxOutputBytes">Decompression: the most bytes (and tokens) the container may expand to (<see cref="Terse.IO.DecodeLimits"/>).</param>
internal sealed record MethodContext(ParseResult Parse, string? Tokenizer, IProgress<double> Progress, long MaxOutputBytes = long.MaxValue);

/// <param name="Report">Printed with <c>--json</c> (property names in snake_case).</param>
/// <param name="Summary">One line for people, printed when the output is a file.</param>
internal sealed record CompressionOutcome(byte[] Container, object Report, string Summary);

internal sealed record DecompressionOutcome(byte[] Output, object Report, string Summary);

public static class CompressCommands
{
    /// <summary><c>--no-verify</c>, shared by the methods that decode their output again to check it (one option instance, so both can list it).</summary>
    internal static Option<bool> NoVerifyOption { get; } = new("--no-verify")
    {
        Description = "entropy, ztokens: skip decoding the result again to check it (then the report's exact is null)",
    };

    /// <summary>The methods <c>-m</c> can name; the first is the default. (After <see cref="NoVerifyOption"/>: static initialisers run in order.)</summary>
    internal static readonly ICompressionMethod[] Methods = [new MetaTokenMethod(), new EntropyCompressionMethod(), new ZTokenCompressionMethod()];

    public static void AddTo(RootCommand root)
    {
        root.Subcommands.Add(CompressCommand());
        root.Subcommands.Add(DecompressCommand());
    }

    private static Command CompressCommand()
    {
        var file = new Argument<string?>("file") { Arity = ArgumentArity.ZeroOrOne, Description = "input file (stdin when absent or '-')" };
        var method = new Option<string>("--method", "-m")
        {
            Description = "compression method: " + string.Join(", ", Methods.Select(m => $"{m.Name} ({m.Description})")),
            DefaultValueFactory = _ => Methods[0].Name,
        };
        method.AcceptOnlyFromAmong([.. Methods.Select(m => m.Name)]);
        var tokenizer = new Option<string?>("--tokenizer", "-t") { Description = $"tokenizer: a built-in name or a file (default {Tokenizers.DefaultName})" };
        var output = new Option<string?>("--output", "-o") { Description = "output file, written atomically (stdout when absent or '-')" };
        var json = new Option<bool>("--json") { Description = "print a JSON report on stdout (needs -o FILE)" };
        var command = new Command("compress", "Compress a text losslessly into a container that `terse decompress` restores byte for byte.");
        command.Arguments.Add(file);
        foreach (var option in new Option[] { method, tokenizer, output, json })
            command.Options.Add(option);
        foreach (var option in Methods.SelectMany(m => m.CompressOptions).Distinct())
            command.Options.Add(option);

        command.SetGuardedAction(parse =>
        {
            var chosen = Methods.Single(m => m.Name == parse.GetValue(method));
            RefuseOtherMethodsOptions(parse, chosen, m => m.CompressOptions, $"-m {chosen.Name}");
            string? outputPath = parse.GetValue(output);
            bool wantJson = parse.GetValue(json);
            if (wantJson && CliIO.IsStdout(outputPath))
                throw new CliException("--json prints the report on stdout, so the container needs a file: add -o FILE");
            var input = chosen.CompressLimit is { } limit
                ? CliIO.ReadAllBytes(parse.GetValue(file), limit.Bytes, limit.Why)
                : CliIO.ReadAllBytes(parse.GetValue(file));
            var outcome = WithProgress("compressing", input.Length, chosen.ProgressThresholdBytes, progress =>
                chosen.Compress(input, new MethodContext(parse, parse.GetValue(tokenizer), progress)));
            CliIO.WriteAllBytes(outputPath, outcome.Container);
            Report(outcome.Report, outcome.Summary, outputPath, wantJson);
            return ExitCodes.Success;
        });
        return command;
    }

    private static Command DecompressCommand()
    {
        var file = new Argument<string?>("file") { Arity = ArgumentArity.ZeroOrOne, Description = "container file (stdin when absent or '-')" };
        var tokenizer = new Option<string?>("--tokenizer", "-t") { Description = "tokenizer file, when the container names one that is not built in" };
        var output = new Option<string?>("--output", "-o") { Description = "output file, written atomically (stdout when absent or '-')" };
        var json = new Option<bool>("--json") { Description = "print a JSON report on stdout (needs -o FILE)" };
        var maxOutput = OptionRules.Size("--max-output",
            $"the most bytes the output may have (default: {Terse.IO.DecodeLimits.Ratio} × the container's size, at least {Terse.IO.DecodeLimits.FloorBytes >> 20} MiB); K, M, G suffixes");
        var command = new Command("decompress", "Restore the original bytes from a container made by `terse compress` (the method is read from the file).");
        command.Arguments.Add(file);
        foreach (var option in new Option[] { tokenizer, output, json, maxOutput })
            command.Options.Add(option);
        foreach (var option in Methods.SelectMany(m => m.DecompressOptions).Distinct())
            command.Options.Add(option);

        command.SetGuardedAction(parse =>
        {
            string? outputPath = parse.GetValue(output);
            bool wantJson = parse.GetValue(json);
            if (wantJson && CliIO.IsStdout(outputPath))
                throw new CliException("--json prints the report on stdout, so the output needs a file: add -o FILE");
            var container = CliIO.ReadAllBytes(parse.GetValue(file));
            var chosen = Methods.FirstOrDefault(m => m.IsContainer(container))
                ?? throw new InvalidDataException("not a Terse container: the file does not start with the magic of any method ("
                    + string.Join(", ", Methods.Select(m => m.Name)) + ")");
            RefuseOtherMethodsOptions(parse, chosen, m => m.DecompressOptions, $"this {chosen.Name} container");
            long limit = parse.GetValue(maxOutput) ?? Terse.IO.DecodeLimits.For(container.Length);
            DecompressionOutcome outcome;
            try
            {
                outcome = WithProgress("decompressing", container.Length, chosen.ProgressThresholdBytes, progress =>
                    chosen.Decompress(container, new MethodContext(parse, parse.GetValue(tokenizer), progress, limit)));
            }
            catch (InvalidDataException e) when (e.Data.Contains(Terse.IO.DecodeLimits.ExceededKey))
            {
                throw new CliException($"{e.Message}; if you trust this file, raise the limit with --max-output");
            }
            CliIO.WriteAllBytes(outputPath, outcome.Output);
            Report(outcome.Report, outcome.Summary, outputPath, wantJson);
            return ExitCodes.Success;
        });
        return command;
    }

    /// <summary>An option of another method would be ignored without a word: refuse it.</summary>
    private static void RefuseOtherMethodsOptions(ParseResult parse, ICompressionMethod chosen, Func<ICompressionMethod, IReadOnlyList<Option>> optionsOf, string what)
    {
        var own = optionsOf(chosen);
        foreach (var option in Methods.SelectMany(optionsOf).Distinct().Where(o => !own.Contains(o)))
            if (parse.GetResult(option) is { Implicit: false })
                throw new CliException($"{option.Name} does not apply to {what} (it is an option of -m {string.Join(", -m ", Methods.Where(m => optionsOf(m).Contains(option)).Select(m => m.Name))})");
    }

    private static T WithProgress<T>(string label, long inputBytes, long thresholdBytes, Func<IProgress<double>, T> work)
    {
        if (inputBytes < thresholdBytes)
            return work(new Progress<double>(_ => { }));
        const int Steps = 1000;
        return ProgressReporter.Run(label, Steps, progress => work(new FractionProgress(progress, Steps)));
    }

    private sealed class FractionProgress(IProgress<long> inner, int steps) : IProgress<double>
    {
        public void Report(double value) => inner.Report((long)(Math.Clamp(value, 0, 1) * steps));
    }

    private static void Report(object report, string summary, string? outputPath, bool json)
    {
        if (json)
            CliIO.WriteJson(report);
        else if (!CliIO.IsStdout(outputPath))
            Console.Out.WriteLine(summary);
    }

    /// <summary>
    /// Ids that decode back to exactly <paramref name="input"/>: valid UTF-8 is encoded as text
    /// (special-token spellings stay plain text), anything else through the tokenizer's byte
    /// fallback. The round trip is checked here, so a tokenizer that normalises text is refused
    /// instead of silently changing the data.
    /// </summary>
    internal static int[] TokenizeExactly(Tokenizer tokenizer, byte[] input)
    {
        var ids = new List<int>(input.Length / 3 + 16);
        string? text = TryDecodeUtf8(input);
        if (text is not null)
        {
            tokenizer.Encode(text.AsSpan(), ids, EncodeOptions.Default);
            if (tokenizer.DecodeToBytes(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(ids)).AsSpan().SequenceEqual(input))
                return [.. ids];
            ids.Clear();
        }
        if (!tokenizer.TryEncodeBytes(input, ids, EncodeOptions.Default))
            throw new CliException(text is null
                ? $"the input is not valid UTF-8 and tokenizer '{tokenizer.Name}' cannot encode arbitrary bytes; use a byte-level tokenizer (e.g. {Tokenizers.DefaultName})"
                : $"tokenizer '{tokenizer.Name}' does not reproduce this input exactly (it normalises text) and has no byte fallback; use a byte-level tokenizer (e.g. {Tokenizers.DefaultName})");
        if (!tokenizer.DecodeToBytes(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(ids)).AsSpan().SequenceEqual(input))
            throw new CliException($"tokenizer '{tokenizer.Name}' does not reproduce this input exactly; use a byte-level tokenizer (e.g. {Tokenizers.DefaultName})");
        return [.. ids];
    }

    private static string? TryDecodeUtf8(byte[] input)
    {
        try
        {
            return new UTF8Encoding(false, true).GetString(input);
        }
        catch (DecoderFallbackException)
        {
            return null;
        }
    }
}

/// <summary><c>-m metatoken</c>: meta-token compression, stored in the TMTK container.</summary>
internal sealed class MetaTokenMethod : ICompressionMethod
{
    private readonly Option<string> strategy = StrategyOption();
    private readonly Option<bool> hierarchical = new("--hierarchical") { Description = "metatoken: let definitions use earlier meta-tokens (fewer tokens; gain strategies only)" };

    public string Name => "metatoken";

    public string Description => "lossless meta-tokens over the tokenizer's ids";

    public IReadOnlyList<Option> CompressOptions => [strategy, hierarchical];

    public IReadOnlyList<Option> DecompressOptions => [];

    internal static Option<string> StrategyOption()
    {
        var option = new Option<string>("--strategy")
        {
            Description = "metatoken: which runs become meta-tokens — gain (default: most tokens saved, optimal parse, refinement), gain-fast (one pass, faster) or greedy (the paper's longest-first)",
            DefaultValueFactory = _ => "gain",
        };
        option.AcceptOnlyFromAmong("gain", "gain-fast", "greedy");
        return option;
    }

    internal static MetaTokenStrategy ParseStrategy(string value) => value switch
    {
        "greedy" => MetaTokenStrategy.Greedy,
        "gain-fast" => MetaTokenStrategy.GainFast,
        _ => MetaTokenStrategy.Gain,
    };

    internal static string StrategyName(MetaTokenStrategy strategy) => strategy switch
    {
        MetaTokenStrategy.Greedy => "greedy",
        MetaTokenStrategy.GainFast => "gain-fast",
        _ => "gain",
    };

    public bool IsContainer(ReadOnlySpan<byte> data) => MetaTokenContainer.HasMagic(data);

    /// <summary>Measured peak: 25–47 bytes of memory per input byte (ids, suffix array, candidates), so an input that cannot fit is refused before the work.</summary>
    internal const int MemoryPerInputByte = 48;

    public (long Bytes, string Why)? CompressLimit
    {
        get
        {
            long available = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
            long bytes = Math.Min(CliIO.MaxInputBytes, available / MemoryPerInputByte);
            return (bytes, $"the most meta-token compression can hold in the {available >> 20:N0} MiB of memory available " +
                $"(about {MemoryPerInputByte} bytes per input byte): split the input");
        }
    }

    public CompressionOutcome Compress(byte[] input, MethodContext context)
    {
        var tokenizer = Tokenizers.Resolve(context.Tokenizer ?? Tokenizers.DefaultName);
        var options = new MetaTokenOptions
        {
            Strategy = ParseStrategy(context.Parse.GetValue(strategy)!),
            Hierarchical = context.Parse.GetValue(hierarchical),
        };
        if (options.Hierarchical && options.Strategy == MetaTokenStrategy.Greedy)
            throw new CliException("--hierarchical works with the gain strategies only");
        var ids = CompressCommands.TokenizeExactly(tokenizer, input);
        context.Progress.Report(0.3);
        var compressed = MetaTokenCompressor.Compress(ids, tokenizer.VocabularySize, options,
            new Progress<double>(f => context.Progress.Report(0.3 + 0.65 * f)));
        var container = MetaTokenContainer.Write(compressed, TokenizerIdentity.Of(tokenizer));
        context.Progress.Report(1);
        var report = MetaTokenReport.Of(input.Length, ids.Length, compressed, options, tokenizer.Name, container.Length);
        return new CompressionOutcome(container, report, report.Summary);
    }

    public DecompressionOutcome Decompress(byte[] container, MethodContext context)
    {
        var file = MetaTokenContainer.Read(container, context.MaxOutputBytes);
        var tokenizer = Tokenizers.ResolveFor(file.Tokenizer, context.Tokenizer);
        context.Progress.Report(0.3);
        var ids = file.Sequence.Expand();
        var output = new BoundedBufferWriter(context.MaxOutputBytes, "meta-token container");
        tokenizer.DecodeToBytes(ids, output);
        var bytes = output.WrittenSpan.ToArray();
        context.Progress.Report(1);
        var report = new DecompressReport("metatoken", tokenizer.Name, container.Length, ids.Length, bytes.Length);
        return new DecompressionOutcome(bytes, report, $"metatoken: {container.Length} bytes → {ids.Length} tokens → {bytes.Length} bytes ({tokenizer.Name})");
    }
}

/// <summary>The <c>--json</c> report of <c>terse compress -m metatoken</c> (and of the demo).</summary>
internal sealed record MetaTokenReport(
    string Method, string Strategy, bool Hierarchical, string Tokenizer,
    long InputBytes, long InputTokens, long OutputTokens, long BodyTokens, long DictionaryTokens, int MetaTokens,
    double Ratio, double AttentionSaving, double FlopSavingLlama2_7b, long OutputBytes)
{
    public static MetaTokenReport Of(long inputBytes, long inputTokens, MetaTokenSequence compressed, MetaTokenOptions options, string tokenizer, long outputBytes)
    {
        var saving = new Terse.MetaTokens.AttentionSaving(inputTokens, compressed.OutputTokenCount);
        return new MetaTokenReport("metatoken", MetaTokenMethod.StrategyName(options.Strategy), options.Hierarchical, tokenizer,
            inputBytes, inputTokens, compressed.OutputTokenCount, compressed.Body.Length, compressed.OutputTokenCount - compressed.Body.Length,
            compressed.Definitions.Count,
            inputTokens == 0 ? 1 : (double)compressed.OutputTokenCount / inputTokens,
            saving.AttentionOnly, saving.FlopSaving(TransformerShape.Llama2_7B), outputBytes);
    }

    [System.Text.Json.Serialization.JsonIgnore]
    public string Summary =>
        $"metatoken ({Strategy}{(Hierarchical ? ", hierarchical" : "")}, {Tokenizer}): {InputTokens} → {OutputTokens} tokens " +
        $"({(1 - Ratio) * 100:F1}% fewer; {MetaTokens} meta-tokens), attention saving {AttentionSaving * 100:F1}%, {OutputBytes} bytes written";
}

internal sealed record DecompressReport(string Method, string Tokenizer, long InputBytes, long Tokens, long OutputBytes);

/// <summary>The tokenizer behind <c>-t</c>: a built-in name or a file, resolved by <see cref="TokenizerRegistry"/>.</summary>
internal static class Tokenizers
{
    public const string DefaultName = "cl100k_base";

    public static Tokenizer Resolve(string nameOrPath) => TokenizerRegistry.Load(nameOrPath);

    /// <summary>
    /// The tokenizer a container needs: the one given with -t, else the built-in of the recorded
    /// name. Either way its fingerprint must match the container's.
    /// </summary>
    public static Tokenizer ResolveFor(TokenizerIdentity needed, string? given)
    {
        Tokenizer tokenizer;
        if (given is not null)
        {
            tokenizer = Resolve(given);
        }
        else
        {
            try
            {
                tokenizer = Resolve(needed.Name);
            }
            catch (Exception e) when (e is IOException or NotSupportedException or InvalidDataException)
            {
                throw new CliException($"the container needs tokenizer '{needed.Name}' (fingerprint {needed.FingerprintHex}), which is not built in: give its file with -t");
            }
        }
        if (!needed.Matches(tokenizer))
            throw new CliException($"tokenizer '{tokenizer.Name}' has fingerprint {Convert.ToHexStringLower(tokenizer.Fingerprint)}, but the container was made with '{needed.Name}' (fingerprint {needed.FingerprintHex})");
        return tokenizer;
    }
}

/// <summary>A byte buffer that refuses to grow past a limit (an expanding container's output).</summary>
internal sealed class BoundedBufferWriter(long limit, string container) : System.Buffers.IBufferWriter<byte>
{
    private readonly System.Buffers.ArrayBufferWriter<byte> inner = new();

    public ReadOnlySpan<byte> WrittenSpan => inner.WrittenSpan;

    public void Advance(int count)
    {
        Terse.IO.DecodeLimits.Check(container, (long)inner.WrittenCount + count, limit);
        inner.Advance(count);
    }

    public Memory<byte> GetMemory(int sizeHint = 0) => inner.GetMemory(sizeHint);

    public Span<byte> GetSpan(int sizeHint = 0) => inner.GetSpan(sizeHint);
}
