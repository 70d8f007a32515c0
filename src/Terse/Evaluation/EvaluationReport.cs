using System.Globalization;
using System.Text;

namespace Terse.Evaluation;

/// <summary>The harness's records as Markdown tables, in the shape the seeds' tables have.</summary>
public static class EvaluationReport
{
    /// <summary>
    /// GMSA's Table 1 (Tang et al. 2025; LLaMA-2-7B, 4×, HotpotQA exact match) where one of our
    /// methods is of the same kind: the original prompt for full text, ICAE for memory tokens,
    /// LLMLingua-2 (question-agnostic token dropping) for surprisal pruning, GMSA for GMSA.
    /// </summary>
    private static readonly Dictionary<(string Method, double? Rate), string> s_paperHotpotQa = new()
    {
        [("full-text", null)] = "34.4 (original prompt)",
        [("prune", 4)] = "28.8 (LLMLingua-2)",
        [("memory-tokens", 4)] = "13.0 (ICAE)",
        [("gmsa", 4)] = "44.6 (GMSA)",
        [("gmsa+keft", 4)] = "44.6 (GMSA)",
    };

    private sealed record Column(string Header, Func<EvaluationRecord, string> Cell);

    public static string Markdown(IReadOnlyList<EvaluationRecord> records, string model, EvaluationSuite suite)
    {
        var items = suite.Items;
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture,
            $"Base model `{model}`, suite `{suite.Name}`, held-out items only. The bound row is the most an exact code could reach on the same contexts: log2|V| over the base model's bits/token.\n");
        Table(text, records, EvaluationTasks.Reconstruction,
            $"Reconstruction of the first {items.ReconstructionTokens} tokens of each context (greedy; %)",
            [
                new("token accuracy", r => F(r.Scores[EvaluationTasks.TokenAccuracy], "0.0")),
                new("prefix match", r => F(r.Scores[EvaluationTasks.PrefixMatch], "0.0")),
                new("exact", r => F(r.Scores[EvaluationTasks.SegmentExact], "0.0")),
                new("BLEU-4", r => F(r.Scores[EvaluationTasks.Bleu4], "0.0")),
            ]);
        Table(text, records, EvaluationTasks.Continuation,
            $"Continuation: bits/token of the next {items.TargetTokens} tokens after {items.ContextTokens} tokens of context",
            [new("", r => F(r.Scores[EvaluationTasks.BitsPerToken], "0.000"))]);
        Table(text, records, EvaluationTasks.QuestionAnswering,
            "Question answering from the compressed context: exact match / F1 (%)",
            [new("", r => $"{F(r.Scores[EvaluationTasks.ExactMatch], "0.0")} / {F(r.Scores[EvaluationTasks.F1], "0.0")}")],
            paper: s_paperHotpotQa, paperHeader: "paper, HotpotQA EM at 4× (GMSA Table 1)");
        Table(text, records, EvaluationTasks.Summary,
            $"Summary: bits/token of the reference summary (at most {items.TargetTokens} tokens) after the compressed document and \"{EvaluationItems.SummaryLead.Trim()}\"",
            [new("", r => F(r.Scores[EvaluationTasks.BitsPerToken], "0.000"))]);
        return text.ToString();
    }

    /// <summary>One task's table: a row per method × rate, columns per source (× <paramref name="cells"/>), then the costs.</summary>
    private static void Table(StringBuilder text, IReadOnlyList<EvaluationRecord> all, string task, string title, IReadOnlyList<Column> cells,
        Dictionary<(string, double?), string>? paper = null, string? paperHeader = null)
    {
        var records = all.Where(r => r.Task == task).ToList();
        if (records.Count == 0)
            return;
        var sources = records.Select(r => r.Source).Distinct().ToList();
        string Header(string source, Column cell) =>
            cell.Header.Length == 0 ? $"{ShortName(source)} ({records.First(r => r.Source == source).Items})"
            : sources.Count == 1 ? cell.Header : $"{ShortName(source)} {cell.Header}";
        bool withPaper = paper is not null && sources.Contains("hotpotqa");
        text.Append(CultureInfo.InvariantCulture, $"\n### {title}\n\n");
        text.Append("| method | rate | achieved | ").AppendJoin(" | ", sources.SelectMany(s => cells.Select(c => Header(s, c))))
            .Append(withPaper ? $" | {paperHeader}" : "").Append(" | reader tokens | GFLOPs | latency ms |\n");
        text.Append("|---|---:|---:|").Append(string.Concat(sources.SelectMany(_ => cells).Select(_ => "---:|"))).Append(withPaper ? "---|" : "").Append("---:|---:|---:|\n");
        text.Append("| *lossless bound on the rate* | | ").Append(F(records.Min(r => r.BoundRate), "0.00×")).Append(sources.Count > 1 ? "–" + F(records.Max(r => r.BoundRate), "0.00×") : "").Append(" | ")
            .AppendJoin(" | ", sources.SelectMany(s => cells.Select((_, i) => i == 0 && sources.Count > 1 ? F(records.First(r => r.Source == s).BoundRate, "0.00×") : "")))
            .Append(withPaper ? " |" : "").Append(" | | | |\n");
        foreach (var (method, rate) in records.Select(r => (r.Method, r.Rate)).Distinct())
        {
            var rows = sources.Select(s => records.First(r => r.Source == s && r.Method == method && r.Rate == rate)).ToList();
            text.Append(CultureInfo.InvariantCulture, $"| {method} | {Rate(rate)} | {Achieved(rows)} | ")
                .AppendJoin(" | ", rows.SelectMany(r => cells.Select(c => c.Cell(r))));
            if (withPaper)
                text.Append(" | ").Append(paper!.GetValueOrDefault((method, rate), ""));
            text.Append(CultureInfo.InvariantCulture,
                $" | {rows.Average(r => r.ReaderTokens):0} | {rows.Average(r => r.ForwardGflops):0.000} | {rows.Average(r => r.LatencyMilliseconds):0.0} |\n");
        }
    }

    /// <summary>A short name for a source file in headers and plots.</summary>
    public static string ShortName(string file) => file switch
    {
        "tinystories_valid_head.txt" => "TinyStories",
        "wikitext2_raw_test.txt" => "WikiText-2",
        "cnndm_test100.source" => "CNN/DM",
        "hotpotqa_dev_subsampled500.jsonl" => "HotpotQA",
        "xsum_sample.json" => "XSum",
        _ => file,
    };

    private static string Rate(double? rate) => rate is { } r ? string.Create(CultureInfo.InvariantCulture, $"{r:0.#}×") : "—";

    /// <summary>Σ context tokens over Σ code length, across the sources of one run.</summary>
    private static string Achieved(List<EvaluationRecord> rows)
    {
        double context = rows.Sum(r => r.ContextTokens * r.Items);
        double code = rows.Sum(r => r.AchievedRate is { } a ? r.ContextTokens * r.Items / a : 0);
        return code == 0 ? "∞" : string.Create(CultureInfo.InvariantCulture, $"{context / code:0.00}×");
    }

    private static string F(double? value, string format) =>
        value is { } v && double.IsFinite(v) ? v.ToString(format, CultureInfo.InvariantCulture) : "—";
}
