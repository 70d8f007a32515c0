using System.CommandLine;
using System.Text;
using Terse.Cli.Infrastructure;
using Terse.MetaTokens;

namespace Terse.Cli.Commands;

/// <summary>
/// <c>terse demo</c>, the main job on the embedded defaults: tokenize the bundled sample, compress
/// it with meta-tokens, print the token counts before and after, and prove the round trip through
/// both the container and the in-context form. Exits non-zero unless the round trip is exact.
/// </summary>
public static class DemoCommand
{
    public static void AddTo(RootCommand root)
    {
        var tokenizerOption = new Option<string?>("--tokenizer", "-t") { Description = $"tokenizer: a built-in name or a file (default {Tokenizers.DefaultName})" };
        var json = new Option<bool>("--json") { Description = "print the result as JSON" };
        var command = new Command("demo", "Compress the bundled sample document losslessly and check the round trip.");
        command.Options.Add(tokenizerOption);
        command.Options.Add(json);
        command.SetGuardedAction(parse =>
        {
            var result = Run(Tokenizers.Resolve(parse.GetValue(tokenizerOption) ?? Tokenizers.DefaultName));
            if (parse.GetValue(json))
                CliIO.WriteJson(result.Report);
            else
                Console.Out.Write(result.Text);
            if (!result.Report.RoundTripExact)
            {
                Console.Error.WriteLine("terse: error: the round trip did not restore the sample exactly");
                return ExitCodes.Failure;
            }
            return ExitCodes.Success;
        });
        root.Subcommands.Add(command);
    }

    internal sealed record DemoReport(
        string Sample, long SampleBytes, string Tokenizer, string Strategy,
        long InputTokens, long OutputTokens, long BodyTokens, long DictionaryTokens, int MetaTokens,
        double Ratio, double AttentionSaving, double FlopSavingLlama2_7b,
        long GreedyOutputTokens, long ContainerBytes, bool RoundTripExact);

    internal static (DemoReport Report, string Text) Run(Terse.Tokenization.Tokenizer tokenizer)
    {
        var sample = Encoding.UTF8.GetBytes(SampleDocument.Text);
        var ids = CompressCommands.TokenizeExactly(tokenizer, sample);
        int vocabulary = tokenizer.VocabularySize;
        var compressed = MetaTokenCompressor.Compress(ids, vocabulary);
        var greedy = MetaTokenCompressor.Compress(ids, vocabulary, new MetaTokenOptions { Strategy = MetaTokenStrategy.Greedy });

        // The round trip a user relies on: container bytes back to the exact sample bytes, and the
        // in-context form a model reads back to the exact ids.
        var container = MetaTokenContainer.Write(compressed, TokenizerIdentity.Of(tokenizer));
        var restored = tokenizer.DecodeToBytes(MetaTokenContainer.Read(container).Sequence.Expand());
        var format = InContextFormat.ForVocabulary(vocabulary);
        var fromContext = format.DecodeToIds(format.Encode(compressed));
        bool exact = restored.AsSpan().SequenceEqual(sample) && fromContext.AsSpan().SequenceEqual(ids);

        var saving = new Terse.MetaTokens.AttentionSaving(ids.Length, compressed.OutputTokenCount);
        var report = new DemoReport(SampleDocument.Name, sample.Length, tokenizer.Name, "gain",
            ids.Length, compressed.OutputTokenCount, compressed.Body.Length, compressed.OutputTokenCount - compressed.Body.Length,
            compressed.Definitions.Count, ids.Length == 0 ? 1 : (double)compressed.OutputTokenCount / ids.Length,
            saving.AttentionOnly, saving.FlopSaving(TransformerShape.Llama2_7B), greedy.OutputTokenCount, container.Length, exact);

        var text = new StringBuilder();
        text.AppendLine("terse demo: lossless meta-token compression of a bundled sample document");
        text.AppendLine($"  sample            {SampleDocument.Name} ({sample.Length} bytes: prose, JSON, logs, Python, a table)");
        text.AppendLine($"  tokenizer         {tokenizer.Name}");
        text.AppendLine($"  tokens before     {ids.Length}");
        text.AppendLine($"  tokens after      {compressed.OutputTokenCount}  ({Percent(1 - report.Ratio)} fewer: {report.MetaTokens} meta-tokens, dictionary {report.DictionaryTokens} + body {report.BodyTokens} tokens)");
        text.AppendLine($"  paper's greedy    {greedy.OutputTokenCount}  ({Percent(1 - (double)greedy.OutputTokenCount / Math.Max(1, ids.Length))} fewer), for comparison");
        text.AppendLine($"  attention saving  {Percent(report.AttentionSaving)} (1 - (after/before)^2); whole forward pass of a Llama-2-7B-shaped model: {Percent(report.FlopSavingLlama2_7b)}");
        text.AppendLine($"  round trip        {(exact ? "exact" : "FAILED")} (container {container.Length} bytes back to {restored.Length} bytes; in-context form back to {fromContext.Length} ids)");
        var top = TopMetaTokens(compressed, tokenizer, 5);
        if (top.Count > 0)
        {
            text.AppendLine("  most used meta-tokens:");
            foreach (var (uses, shown) in top)
                text.AppendLine($"    x{uses,-3} {shown}");
        }
        return (report, text.ToString());
    }

    private static string Percent(double fraction) => $"{fraction * 100:F1}%";

    private static List<(int Uses, string Shown)> TopMetaTokens(MetaTokenSequence compressed, Terse.Tokenization.Tokenizer tokenizer, int count)
    {
        int baseSize = compressed.BaseVocabularySize;
        var uses = new int[compressed.Definitions.Count];
        foreach (int id in compressed.Body)
            if (id >= baseSize)
                uses[id - baseSize]++;
        return Enumerable.Range(0, uses.Length)
            .OrderByDescending(k => (long)uses[k] * compressed.Definitions[k].Length)
            .Take(count)
            .Select(k => (uses[k], Quote(tokenizer.Decode(compressed.Definitions[k]))))
            .ToList();
    }

    private static string Quote(string text)
    {
        var escaped = text.Replace("\\", "\\\\").Replace("\n", "\\n").Replace("\t", "\\t").Replace("\"", "\\\"");
        return "\"" + (escaped.Length > 70 ? escaped[..67] + "..." : escaped) + "\"";
    }
}
