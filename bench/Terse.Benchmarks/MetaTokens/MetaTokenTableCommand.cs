using System.Text;
using System.Text.Json;
using Terse.MetaTokens;
using Terse.Tokenization;

namespace Terse.Benchmarks.MetaTokens;

/// <summary>
/// <c>metatokens-table [TOKENIZER…]</c>: the results table of docs/results.md. For each shared
/// text (whole file), for HumanEval code compressed one problem at a time, and for the generated
/// tree task (100 prompts compressed one at a time): tokens in, out and saved with the paper's
/// Greedy, Terse's gain (with and without its Greedy guard), gain-fast and hierarchical gain.
/// </summary>
internal static class MetaTokenTableCommand
{
    public const int TreeSamples = 100;

    public static int Run(string[] args)
    {
        var tokenizers = args.Length > 0 ? args : ["cl100k_base", "o200k_base"];
        foreach (var name in tokenizers)
        {
            var tokenizer = TokenizerRegistry.Load(name);
            Console.WriteLine($"### {name}");
            Console.WriteLine();
            Console.WriteLine("| text | tokens in | Greedy out | Greedy saved | gain out | gain saved | gain guard used | gain-fast saved | hierarchical saved |");
            Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
            var total = new Row("total (all rows)");
            foreach (var file in MetaTokenData.TextFiles())
            {
                var row = Measure(Path.GetFileName(file), [tokenizer.Encode(MetaTokenData.ReadText(file))], tokenizer.VocabularySize);
                Print(row);
                total.Add(row);
            }
            var humanEval = Measure($"HumanEval code, per problem (164 prompts + solutions)", HumanEvalPrograms().Select(p => tokenizer.Encode(p)).ToList(), tokenizer.VocabularySize);
            Print(humanEval);
            total.Add(humanEval);
            var trees = Measure($"tree task, per prompt ({TreeSamples} prompts, seeds 0–{TreeSamples - 1})",
                TreePrompts().Select(p => tokenizer.Encode(p)).ToList(), tokenizer.VocabularySize);
            Print(trees);
            total.Add(trees);
            Print(total);
            Console.WriteLine();
        }
        return 0;
    }

    /// <summary>The tree-task prompts of the table: sizes and depth limits vary with the seed.</summary>
    public static IEnumerable<string> TreePrompts() =>
        Enumerable.Range(0, TreeSamples).Select(seed => TreeTask.Generate(seed, nodeCount: 30 + seed * 7 % 91, maxDepth: 4 + seed % 5).Prompt);

    /// <summary>Each HumanEval problem as a program: its prompt (signature and docstring) followed by the canonical solution.</summary>
    public static IEnumerable<string> HumanEvalPrograms()
    {
        var path = Path.Combine(MetaTokenData.SharedData, "text", "humaneval.jsonl.gz");
        foreach (var line in MetaTokenData.ReadText(path).Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            using var json = JsonDocument.Parse(line);
            yield return json.RootElement.GetProperty("prompt").GetString() + json.RootElement.GetProperty("canonical_solution").GetString();
        }
    }

    private sealed class Row(string name)
    {
        public string Name = name;
        public long In, Greedy, Gain, Unguarded, Fast, Hierarchical;
        public int Items, GuardUsed;

        public void Add(Row other)
        {
            In += other.In; Greedy += other.Greedy; Gain += other.Gain; Unguarded += other.Unguarded;
            Fast += other.Fast; Hierarchical += other.Hierarchical; Items += other.Items; GuardUsed += other.GuardUsed;
        }
    }

    /// <summary>Each sequence is compressed on its own; the row sums them.</summary>
    private static Row Measure(string name, IReadOnlyList<int[]> sequences, int vocabulary)
    {
        var row = new Row(name);
        foreach (var ids in sequences)
        {
            int greedy = MetaTokenCompressor.Compress(ids, vocabulary, new MetaTokenOptions { Strategy = MetaTokenStrategy.Greedy }).OutputTokenCount;
            int gain = MetaTokenCompressor.Compress(ids, vocabulary).OutputTokenCount;
            int fast = MetaTokenCompressor.Compress(ids, vocabulary, new MetaTokenOptions { Strategy = MetaTokenStrategy.GainFast }).OutputTokenCount;
            int hierarchical = MetaTokenCompressor.Compress(ids, vocabulary, new MetaTokenOptions { Hierarchical = true }).OutputTokenCount;
            // What gain gives before its guard compares it with Greedy.
            int unguarded = Math.Min(ids.Length, MetaTokenCompressor.CompressGain(RepeatCandidates.Collect(new RepeatIndex(ids), MetaTokenOptions.DefaultGainMaxRunLength), vocabulary).OutputTokenCount);
            if (gain > greedy)
                throw new InvalidOperationException($"{name}: gain {gain} > greedy {greedy}");
            row.In += ids.Length;
            row.Greedy += greedy;
            row.Gain += gain;
            row.Unguarded += unguarded;
            row.Fast += fast;
            row.Hierarchical += hierarchical;
            row.Items++;
            row.GuardUsed += greedy < unguarded ? 1 : 0;
        }
        return row;
    }

    private static void Print(Row r)
    {
        static string Saved(long inTokens, long outTokens) => inTokens == 0 ? "—" : $"{100.0 * (inTokens - outTokens) / inTokens:F1}%";
        string guard = r.Items == 1 ? (r.GuardUsed == 1 ? "yes" : "no") : $"{r.GuardUsed} of {r.Items}";
        Console.WriteLine(new StringBuilder()
            .Append($"| {r.Name} | {r.In:N0} | {r.Greedy:N0} | {Saved(r.In, r.Greedy)} | {r.Gain:N0} | {Saved(r.In, r.Gain)} | {guard} ")
            .Append($"| {Saved(r.In, r.Fast)} | {Saved(r.In, r.Hierarchical)} |"));
    }
}
