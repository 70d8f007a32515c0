using Terse.Tests.Infrastructure;
using System.Text.Json;
using Terse.Corpora;
using Terse.Evaluation;
using Terse.Gmsa;
using Terse.Models;
using Terse.Tests.Neural;
using Terse.Tokenization;
using Terse.ZTokens;

namespace Terse.Tests.Evaluation;

/// <summary>The quick suite on the shipped default base model: the shape of the output and what must hold on any sane run.</summary>
public class EvaluationHarnessTests
{
    private static readonly string TextFolder = Path.Combine(TestData.SharedDataRoot, "text");

    /// <summary>
    /// The quick suite with every kind of method: the base methods, and an untrained GMSA
    /// compressor and Z-token model on the same base (their figures mean nothing; their records,
    /// rates and costs must be there).
    /// </summary>
    private static readonly Lazy<(EvaluationPlan Plan, IReadOnlyList<EvaluationRecord> Records)> Quick = new(() =>
    {
        string name = ModelResolver.DefaultFor("eval");
        var model = ModelResolver.Load(name);
        var tokenizer = ModelResolver.LoadTokenizer(null, name, model.Config.VocabSize);
        var gmsa = new GmsaModel(ModelResolver.Load(name), new GmsaSettings(EncoderLayers: 2, Rates: [2, 4, 8], SegmentLength: 32));
        var z = ZTokenModel.Create(ModelResolver.Load(name), name, new ZTokenShape(Codes: 16, SegmentLength: 16, MaxCodeLength: 4), tokenizer.BosId!.Value);
        var codec = new ZTokenCodec(z);
        List<IContextMethod> methods = [.. EvaluationHarness.BaseMethods(model, tokenizer), new SoftTokenMethod(gmsa), new ZTokenDecoding(codec, model), new ZTokenReading(codec)];
        methods.AddRange(EvaluationHarness.TuneReaders(methods, tokenizer, TextFolder, EvaluationSuite.Quick));
        var plan = EvaluationHarness.Plan(model, tokenizer, TextFolder, EvaluationSuite.Quick, methods);
        return (plan, EvaluationHarness.Run(model, tokenizer, plan));
    });

    private static EvaluationRecord Find(string task, string source, string method) =>
        Quick.Value.Records.Single(r => r.Task == task && r.Source == source && r.Method == method);

    [Fact]
    public void Every_item_comes_from_held_out_text()
    {
        var (plan, _) = Quick.Value;
        var tokenizer = TokenizerRegistry.Load("stories260K");
        foreach (var item in plan.Continuations.Concat(plan.Summaries.Where(s => s.Source != "xsum_sample.json")))
        {
            var documents = TextCorpus.Documents(TextFolder, TextCorpus.Source(item.Source), Split.HeldOut);
            var document = Assert.Single(documents, d => d.Index == item.Document);
            Assert.Contains(tokenizer.Decode(item.Context).Trim()[..40], document.Text);
        }
        foreach (var item in plan.Questions.Where(q => q.Kind != "squad"))
            Assert.Contains(TextCorpus.Documents(TextFolder, TextCorpus.Source(item.Source), Split.HeldOut), d => d.Index == item.Document);
        // SQuAD and XSum are read by no split that trains.
        Assert.All(TextCorpus.Sources.Where(s => s.FileName is "squad_v2_sample.json" or "xsum_sample.json"), s => Assert.Equal(0, s.TrainEnd));
        // Reconstructed contexts are the first tokens of continuation contexts.
        Assert.All(plan.Reconstructions, r => Assert.Contains(plan.Continuations, c => c.Context.AsSpan().StartsWith(r)));
    }

    [Fact]
    public void Facts_are_answerable_from_their_context()
    {
        var (plan, _) = Quick.Value;
        var tokenizer = TokenizerRegistry.Load("stories260K");
        var facts = plan.Questions.Where(q => q.Kind == "facts").ToList();
        Assert.Equal(EvaluationSuite.Quick.Items.PerSource, facts.Count);
        Assert.All(facts, f => Assert.Contains($" is {f.Answers[0]}.", tokenizer.Decode(f.Context)));
    }

    [Fact]
    public void Summaries_follow_their_documents_and_cnn_targets_are_the_articles_leads()
    {
        var (plan, _) = Quick.Value;
        var tokenizer = TokenizerRegistry.Load("stories260K");
        Assert.Contains(plan.Summaries, s => s.Source == "xsum_sample.json");
        foreach (var item in plan.Summaries.Where(s => s.Source == "cnndm_test100.source"))
        {
            var article = TextCorpus.Documents(TextFolder, TextCorpus.Source(item.Source), Split.HeldOut).Single(d => d.Index == item.Document).Text;
            string lead = tokenizer.Decode(item.Target), body = tokenizer.Decode(item.Context).Trim();
            Assert.StartsWith(lead[..20], article.TrimStart());
            Assert.True(article.IndexOf(body[..30], StringComparison.Ordinal) > article.IndexOf(lead[..20], StringComparison.Ordinal));
        }
    }

    [Fact]
    public void Records_cover_every_task_source_method_and_rate()
    {
        var (plan, records) = Quick.Value;
        int groups = plan.Continuations.Select(i => i.Source).Distinct().Count() + plan.Questions.Select(q => q.Kind).Distinct().Count()
            + plan.Summaries.Select(i => i.Source).Distinct().Count() + 1;
        Assert.Equal(plan.Runs.Count * groups, records.Count);
        Assert.Contains(plan.Runs, r => r.Method.Name == "gmsa" && r.Rate == 4);
        Assert.Contains(plan.Runs, r => r.Method.Name == "ztokens-decoded" && r.Rate is null);
        foreach (var tuned in new[] { "full-text-tuned", "metatokens-tuned", "ztokens-tuned" })
            Assert.Contains(plan.Runs, r => r.Method is TunedReader && r.Method.Name == tuned);
        foreach (var r in records)
        {
            Assert.True(r.BoundRate > 1, $"{r.Source}: bound {r.BoundRate}");
            if (r.Rate is { } rate)
                Assert.InRange(r.AchievedRate!.Value, rate * 0.9, rate * 1.0001);
            var (primary, _) = EvaluationTasks.Primary(r.Task);
            Assert.True(double.IsFinite(r.Scores[primary]), $"{r.Task} {r.Method}: {primary}");
            if (r.ReaderTokens > 0)
                Assert.True(r.ForwardGflops > r.AttentionGflops && r.AttentionGflops > 0);
        }
        // A Z-token code of at most 4 for 16 tokens is at least a 4× rate.
        Assert.True(Find(EvaluationTasks.Continuation, "cnndm_test100.source", "ztokens-decoded").AchievedRate >= 4);
        // GMSA and lossless methods reconstruct with their own decoder: the reader processes nothing.
        Assert.Equal(0, Find(EvaluationTasks.Reconstruction, "all", "gmsa").ReaderTokens);
    }

    [Fact]
    public void Full_text_beats_no_context_and_lossless_methods_are_exact()
    {
        foreach (var source in EvaluationItems.ContinuationSources)
            Assert.True(Find(EvaluationTasks.Continuation, source, "full-text").Scores[EvaluationTasks.BitsPerToken]
                < Find(EvaluationTasks.Continuation, source, "no-context").Scores[EvaluationTasks.BitsPerToken], source);
        Assert.True(Find(EvaluationTasks.Summary, "cnndm_test100.source", "full-text").Scores[EvaluationTasks.BitsPerToken]
            < Find(EvaluationTasks.Summary, "cnndm_test100.source", "no-context").Scores[EvaluationTasks.BitsPerToken]);
        // The default base copies: it finds an inserted fact that no model could guess.
        Assert.True(Find(EvaluationTasks.QuestionAnswering, "facts", "full-text").Scores[EvaluationTasks.ExactMatch] >= 50);
        Assert.Equal(0, Find(EvaluationTasks.QuestionAnswering, "facts", "no-context").Scores[EvaluationTasks.ExactMatch]);
        var meta = Find(EvaluationTasks.Reconstruction, "all", "metatokens-untuned");
        Assert.Equal(100, meta.Scores[EvaluationTasks.SegmentExact]);
        Assert.Equal(100, meta.Scores[EvaluationTasks.Bleu4], 9);
        Assert.True(Find(EvaluationTasks.Reconstruction, "all", "full-text").Scores[EvaluationTasks.TokenAccuracy]
            > Find(EvaluationTasks.Reconstruction, "all", "no-context").Scores[EvaluationTasks.TokenAccuracy]);
    }

    [Fact]
    public void The_markdown_tables_name_the_bound_and_the_paper()
    {
        var (_, records) = Quick.Value;
        string markdown = EvaluationReport.Markdown(records, "terse1M", EvaluationSuite.Quick);
        Assert.Contains("lossless bound on the rate", markdown);
        Assert.Contains("34.4 (original prompt)", markdown);
        Assert.Contains("44.6 (GMSA)", markdown);
        Assert.Contains("| prune-protect | 4× |", markdown);
        foreach (var heading in new[] { "### Reconstruction", "### Continuation", "### Question answering", "### Summary" })
            Assert.Contains(heading, markdown);
    }

    [Fact]
    public void The_command_writes_json_records_and_tables()
    {
        var folder = Directory.CreateTempSubdirectory("terse-eval-");
        try
        {
            var (exit, stdout, stderr) = LmCommandTests.RunCli("eval", "--suite", "quick", "--data", TextFolder, "-o", folder.FullName, "--json");
            Assert.True(exit == 0, stderr);
            using var json = JsonDocument.Parse(stdout);
            var first = json.RootElement[0];
            Assert.Equal("reconstruction", first.GetProperty("task").GetString());
            Assert.True(first.TryGetProperty("bound_rate", out _));
            Assert.True(first.GetProperty("scores").TryGetProperty("token_accuracy", out _));
            Assert.Equal(json.RootElement.GetArrayLength(), JsonDocument.Parse(File.ReadAllBytes(Path.Combine(folder.FullName, "results.json"))).RootElement.GetArrayLength());
            Assert.Contains("### Question answering", File.ReadAllText(Path.Combine(folder.FullName, "results.md")));
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }

    [Fact]
    public void A_missing_text_folder_is_one_error_line()
    {
        var (exit, _, stderr) = LmCommandTests.RunCli("eval", "--data", "/no/such/folder");
        Assert.NotEqual(0, exit);
        Assert.StartsWith("terse: error: no such text folder", stderr);
        Assert.Single(stderr.TrimEnd().Split('\n'));
    }
}
