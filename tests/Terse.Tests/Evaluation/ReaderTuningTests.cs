using Terse.Neural.Training;
using Terse.Evaluation;
using Terse.Models;
using Terse.Tests.Infrastructure;
using Terse.Tokenization;

namespace Terse.Tests.Evaluation;

public class ReaderTuningTests
{
    private static readonly Tokenizer Tokenizer = TokenizerRegistry.Load("stories260K");

    private static IReadOnlyList<ContinuationItem> Windows(int count) =>
        EvaluationItems.TrainingWindows(Path.Combine(TestData.SharedDataRoot, "text"), Tokenizer,
            new ItemSettings(ContextTokens: 48, TargetTokens: 16), count);

    [Fact]
    public void Tuning_learns_to_predict_the_targets_after_compressed_contexts()
    {
        // The same four windows every update: a reader that learns must fit them.
        var model = ModelResolver.Load("stories260K");
        var tuning = new ReaderTuning(new MetaTokenReading(model, Tokenizer), "reader-test", Windows(4), Tokenizer.BosId!.Value,
            new PrefixTuningSettings(Steps: 40, BatchSize: 4, LearningRate: 1e-2f, MinLearningRate: 1e-2f, WarmupSteps: 1));
        var losses = Enumerable.Range(0, 40).Select(_ => tuning.TrainStep().Loss).ToList();
        Assert.True(losses.TakeLast(5).Average() < 0.8 * losses[0], $"loss {losses[0]} → {losses.TakeLast(5).Average()}");
        Assert.Equal(40, tuning.Step);
    }

    [Fact]
    public void The_tuned_reader_reads_through_its_adapter_and_leaves_the_base_alone()
    {
        var model = ModelResolver.Load("stories260K");
        var windows = Windows(8);
        var tuning = new ReaderTuning(new FullText(model), "reader-full", windows, Tokenizer.BosId!.Value, new PrefixTuningSettings(Steps: 3, BatchSize: 2));
        var reader = new ContextReader(Tokenizer);
        var window = windows[0];
        var plain = new FullText(model).Compress(window.Context, 1);
        double before = reader.ContinuationBits(plain.Input, [], window.Target);
        for (int i = 0; i < 3; i++)
            tuning.TrainStep();
        var tuned = tuning.Reader("full-text-tuned").Compress(window.Context, 1);
        Assert.Same(tuning.Adapter, tuned.Input.Adapter);
        Assert.Equal(window.Context, tuned.Input.Tokens);
        Assert.NotEqual(before, reader.ContinuationBits(tuned.Input, [], window.Target));
        Assert.Equal(before, reader.ContinuationBits(plain.Input, [], window.Target));
    }

    [Fact]
    public void Methods_with_a_rate_are_not_tuned()
    {
        var model = ModelResolver.Load("stories260K");
        Assert.Throws<ArgumentException>(() => new ReaderTuning(new Truncation(model, keepLast: true), "reader-x", Windows(2), 1, new PrefixTuningSettings(Steps: 1)));
    }

    [Fact]
    public void Training_windows_come_from_the_train_split_only()
    {
        var folder = Path.Combine(TestData.SharedDataRoot, "text");
        var windows = Windows(8);
        Assert.Equal(2, windows.Count(w => w.Lead.Length > 0));
        var evaluated = EvaluationHarness.Plan(ModelResolver.Load("stories260K"), Tokenizer, folder, EvaluationSuite.Quick).Questions
            .Where(q => q.Kind == "facts").Select(q => Tokenizer.Decode(q.Prompt)).ToList();
        foreach (var fact in windows.Where(w => w.Lead.Length > 0))
        {
            // A fact question in the harness's format, about a name no evaluation item uses.
            string question = Tokenizer.Decode(fact.Lead);
            Assert.Contains("Question: What is the", question);
            Assert.Matches(@"^ ?\d+\.$", Tokenizer.Decode(fact.Target));
            Assert.DoesNotContain(question, evaluated);
            Assert.Contains(Tokenizer.Decode(fact.Target).Trim().TrimEnd('.'), Tokenizer.Decode(fact.Context));
        }
        foreach (var window in windows.Where(w => w.Lead.Length == 0))
        {
            string text = Tokenizer.Decode(window.Context).Trim();
            var train = Terse.Corpora.TextCorpus.Documents(folder, Terse.Corpora.TextCorpus.Source(window.Source), Terse.Corpora.Split.Train);
            Assert.Contains(train, d => d.Text.Contains(text[..Math.Min(30, text.Length)], StringComparison.Ordinal));
        }
    }
}
