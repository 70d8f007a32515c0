using Terse.Corpora;
using Terse.Models;
using Terse.Neural;
using Terse.Pretraining;
using Terse.Tests.Infrastructure;
using Terse.Tests.Neural;
using Terse.Tokenization;

namespace Terse.Tests.Pretraining;

public class SoftTargetLossTests
{
    [Fact]
    public void Gradient_matches_finite_differences_for_hard_mixed_and_pure_teacher_targets()
    {
        const int rows = 4, vocab = 7;
        var random = new Random(5);
        var logits = GradientCheckTests.RandomArray(random, rows * vocab, 3);
        var teacher = GradientCheckTests.RandomArray(random, rows * vocab, 3);
        int[] targets = [2, 0, -1, 6];
        float[] weights = [0f, 0.5f, 0.5f, 1f];
        var gradient = new float[rows * vocab];
        var scratch = new float[2 * vocab];
        var observed = new float[rows];
        double Loss()
        {
            var (sum, counted) = SoftTargetLoss.ForwardBackward(logits, targets, teacher, weights, new float[rows * vocab], observed, scratch, rows, vocab);
            return sum / counted;
        }
        var (_, counted) = SoftTargetLoss.ForwardBackward(logits, targets, teacher, weights, gradient, observed, scratch, rows, vocab);
        Assert.Equal(3, counted);
        Assert.True(gradient.AsSpan(2 * vocab, vocab).IndexOfAnyExcept(0f) < 0, "an ignored row has no gradient");
        GradientCheckTests.Check("soft-target loss", Loss, logits, gradient, random, elements: 6);
    }

    [Fact]
    public void With_no_teacher_weight_it_is_the_plain_cross_entropy()
    {
        var random = new Random(9);
        const int rows = 3, vocab = 11;
        var logits = GradientCheckTests.RandomArray(random, rows * vocab, 4);
        int[] targets = [1, 10, 4];
        var observed = new float[rows];
        var (sum, counted) = SoftTargetLoss.ForwardBackward(logits, targets, [], new float[rows], new float[rows * vocab], observed, new float[2 * vocab], rows, vocab);
        for (int r = 0; r < rows; r++)
        {
            var row = logits.AsSpan(r * vocab, vocab).ToArray();
            double max = row.Max(), log = Math.Log(row.Sum(v => Math.Exp(v - max))) + max;
            Assert.Equal(log - row[targets[r]], observed[r], 4);
        }
        Assert.Equal(observed.Sum(), sum, 4);
        Assert.Equal(3, counted);
    }
}

public class EpisodeTests
{
    private static PretrainingCorpus Corpus()
    {
        var random = new Random(3);
        return PretrainingCorpus.FromTokens(new Dictionary<TextDomain, int[]>
        {
            [TextDomain.Stories] = [.. Enumerable.Range(0, 5000).Select(_ => random.Next(3, 512))],
            [TextDomain.Code] = [.. Enumerable.Range(0, 3000).Select(_ => random.Next(3, 512))],
        });
    }

    private static EpisodeBuilder Builder(MixtureWeights weights) =>
        new(Corpus(), [[5, 6, 7, 8], [9, 10, 11]], weights, bos: 1, vocabulary: 512, separators: [[13, 13], [410]]);

    [Fact]
    public void The_same_seed_gives_the_same_rows_and_every_row_starts_at_bos()
    {
        var builder = Builder(new MixtureWeights());
        ulong a = 7, b = 7;
        var first = new int[129];
        var second = new int[129];
        for (int i = 0; i < 50; i++)
        {
            var kindA = builder.Fill(first, ref a);
            var kindB = builder.Fill(second, ref b);
            Assert.Equal(kindA, kindB);
            Assert.Equal(first, second);
            Assert.Equal(1, first[0]);
        }
    }

    [Fact]
    public void Each_kind_has_its_structure()
    {
        var builder = Builder(new MixtureWeights());
        ulong rng = 11;
        var row = new int[257];
        var seen = new Dictionary<EpisodeKind, int>();
        for (int i = 0; i < 400; i++)
        {
            var (kind, domain) = builder.Fill(row, ref rng);
            seen[kind] = seen.GetValueOrDefault(kind) + 1;
            var body = row.AsSpan(1);
            Assert.Equal(kind == EpisodeKind.Natural, domain is not null);
            switch (kind)
            {
                case EpisodeKind.SyntheticCopy:
                    var copy = body.ToArray();
                    Assert.Contains(Enumerable.Range(6, 123), period => Periodic(copy, period));
                    break;
                case EpisodeKind.Repeat:
                    Assert.True(HasRepeat(body.ToArray(), 8), "a repeat row holds a passage of at least 8 tokens twice");
                    break;
                case EpisodeKind.TeacherStory:
                    Assert.All(body.ToArray(), t => Assert.True(t is 1 || t is >= 5 and <= 11));
                    break;
            }
        }
        // 45% natural, 30% repeats, 10% synthetic, 15% teacher stories, within sampling error.
        Assert.InRange(seen[EpisodeKind.Natural], 140, 220);
        Assert.InRange(seen[EpisodeKind.Repeat], 85, 155);
        Assert.InRange(seen[EpisodeKind.SyntheticCopy], 20, 65);
        Assert.InRange(seen[EpisodeKind.TeacherStory], 35, 95);
    }

    private static bool Periodic(ReadOnlySpan<int> body, int period)
    {
        for (int i = period; i < body.Length; i++)
            if (body[i] != body[i - period])
                return false;
        return true;
    }

    private static bool HasRepeat(int[] body, int length)
    {
        var seen = new HashSet<string>();
        for (int i = 0; i + length <= body.Length; i++)
        {
            string key = string.Join(',', body.Skip(i).Take(length));
            if (!seen.Add(key))
                return true;
        }
        return false;
    }
}

public class BaseModelTrainerTests
{
    private static readonly BaseModelRecipe TinyRecipe = new()
    {
        Shape = new LlamaConfig(16, 32, 2, 2, 2, 512, 64),
        InductionSteps = 3, InductionBatch = 2, InductionLength = 32,
        MixtureSteps = 3, MixtureBatch = 2, MixtureLength = 64, AnnealSteps = 2,
        WarmupSteps = 2, TeacherStories = 4, TeacherStoryMaxTokens = 30,
    };

    private static BaseModelTrainer Trainer(BaseModelRecipe? recipe = null)
    {
        var random = new Random(2);
        var corpus = PretrainingCorpus.FromTokens(new Dictionary<TextDomain, int[]>
        {
            [TextDomain.Stories] = [.. Enumerable.Range(0, 4000).Select(_ => random.Next(3, 512))],
        });
        return new BaseModelTrainer(recipe ?? TinyRecipe, corpus, ModelResolver.Load("stories260K"), bos: 1, separators: [[13, 13]]);
    }

    [Fact]
    public void A_run_resumed_from_its_checkpoint_ends_with_the_same_weights()
    {
        var straight = Trainer();
        while (!straight.Finished)
            straight.TrainStep();

        var path = Path.Combine(Path.GetTempPath(), $"terse-base-{Guid.NewGuid():N}.safetensors");
        try
        {
            var first = Trainer();
            for (int i = 0; i < 4; i++)
                Assert.True(float.IsFinite(first.TrainStep().Loss));
            Assert.Equal("mixture", first.StageName);
            Assert.Equal(8, first.Recipe.TotalSteps);
            first.SaveCheckpoint(path, seconds: 1.5);
            var resumed = Trainer();
            resumed.LoadCheckpoint(path);
            Assert.Equal(4, resumed.Step);
            Assert.Equal(1.5, resumed.EarlierSeconds);
            while (!resumed.Finished)
                resumed.TrainStep();
            Assert.Equal(straight.Model.ComputeIdentity(), resumed.Model.ComputeIdentity());
            Assert.Throws<InvalidOperationException>(() => resumed.TrainStep());
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void A_run_may_be_extended_by_an_anneal_stage_it_has_not_reached()
    {
        var path = Path.Combine(Path.GetTempPath(), $"terse-base-{Guid.NewGuid():N}.safetensors");
        try
        {
            var shorter = Trainer(TinyRecipe with { AnnealSteps = 0 });
            while (!shorter.Finished)
                shorter.TrainStep();
            shorter.SaveCheckpoint(path, 2);
            var extended = Trainer(TinyRecipe with { AnnealSteps = 3, AnnealLearningRate = 5e-5f });
            extended.LoadCheckpoint(path);
            Assert.Equal("anneal", extended.StageName);
            while (!extended.Finished)
                Assert.Equal("anneal", extended.TrainStep().Stage);
            // A mixture stage that differs is not an extension.
            var other = Trainer(TinyRecipe with { AnnealSteps = 3, MixtureSteps = 4 });
            Assert.Throws<InvalidDataException>(() => other.LoadCheckpoint(path));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void A_checkpoint_of_another_recipe_is_refused()
    {
        var path = Path.Combine(Path.GetTempPath(), $"terse-base-{Guid.NewGuid():N}.safetensors");
        try
        {
            var trainer = Trainer();
            trainer.TrainStep();
            trainer.SaveCheckpoint(path, 0);
            var other = new BaseModelTrainer(TinyRecipe with { Seed = 2 }, PretrainingCorpus.FromTokens(new Dictionary<TextDomain, int[]>
            {
                [TextDomain.Stories] = [.. Enumerable.Range(0, 4000).Select(i => 3 + i % 500)],
            }), ModelResolver.Load("stories260K"), 1, [[13]]);
            var error = Assert.Throws<InvalidDataException>(() => other.LoadCheckpoint(path));
            Assert.Contains("another recipe", error.Message);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Teacher_stories_do_not_depend_on_the_degree_of_parallelism()
    {
        var teacher = ModelResolver.Load("stories260K");
        var stories = BaseModelTrainer.SampleTeacherStories(teacher, 6, 40, 1, seed: 3);
        var again = BaseModelTrainer.SampleTeacherStories(teacher, 6, 40, 1, seed: 3);
        Assert.Equal(stories, again);
        Assert.All(stories, s => Assert.InRange(s.Length, 1, 40));
        Assert.NotEqual(stories[0], stories[1]);
        var text = Llama2cTokenizerText(stories[0]);
        Assert.False(string.IsNullOrWhiteSpace(text));
    }

    private static string Llama2cTokenizerText(int[] ids) => TokenizerRegistry.Load("stories260K").Decode(ids);
}

public class CopyTestTests
{
    private static readonly string TextFolder = Path.Combine(TestData.SharedDataRoot, "text");

    [Fact]
    public void Passages_are_fixed_by_the_seed_within_bounds_and_from_the_asked_split()
    {
        var tokenizer = TokenizerRegistry.Load("stories260K");
        var source = TextCorpus.Source("wikitext2_raw_test.txt");
        var passages = CopyTest.Passages(TextFolder, source, Split.HeldOut, tokenizer, 12);
        var again = CopyTest.Passages(TextFolder, source, Split.HeldOut, tokenizer, 12);
        Assert.Equal(12, passages.Count);
        Assert.Equal(passages.Select(p => p.Tokens), again.Select(p => p.Tokens));
        var heldOut = TextCorpus.Documents(TextFolder, source, Split.HeldOut).Select(d => d.Index).ToHashSet();
        Assert.All(passages, p =>
        {
            Assert.InRange(p.Tokens.Length, 64, 200);
            Assert.Contains(p.Document, heldOut);
        });
        Assert.NotEqual(passages.Select(p => p.Tokens), CopyTest.Passages(TextFolder, source, Split.HeldOut, tokenizer, 12, seed: 2).Select(p => p.Tokens));
    }

    [Fact]
    public void Stories260K_pays_about_as_much_for_the_second_copy_as_for_the_first()
    {
        // The fact that motivates Terse's own base models: this model does not read its context.
        var tokenizer = TokenizerRegistry.Load("stories260K");
        var passages = CopyTest.Passages(TextFolder, TextCorpus.Source("tinystories_valid_head.txt"), Split.HeldOut, tokenizer, 8);
        var result = CopyTest.Run(ModelResolver.Load("stories260K"), [.. passages.Select(p => p.Tokens)], 1, CopyTest.SeparatorIds(tokenizer, "\n\n"));
        Assert.Equal(8, result.Passages);
        Assert.InRange(result.FirstBitsPerToken, 1.5, 5);
        Assert.True(result.SecondBitsPerToken > 0.8 * result.FirstBitsPerToken, $"{result.FirstBitsPerToken:F3} → {result.SecondBitsPerToken:F3}");
    }

    [Fact]
    public void The_separator_is_tokenized_as_it_appears_after_text()
    {
        var tokenizer = TokenizerRegistry.Load("stories260K");
        Assert.Equal([13, 13], CopyTest.SeparatorIds(tokenizer, "\n\n"));
    }
}

public class CopyTestCommandTests
{
    [Fact]
    public void Copy_test_reports_both_occurrences_per_source_and_refuses_bad_arguments()
    {
        var (exit, stdout, stderr) = LmCommandTests.RunCli("lm", "copy-test", "-m", "stories260K", "--passages", "3", "--max-tokens", "80", "--json",
            "--data", Path.Combine(TestData.SharedDataRoot, "text"));
        Assert.True(exit == 0, stderr);
        using var json = System.Text.Json.JsonDocument.Parse(stdout);
        var sources = json.RootElement.GetProperty("sources").EnumerateArray().ToList();
        Assert.Equal(DevelopmentProbe.CopyTestSources, sources.Select(s => s.GetProperty("source").GetString()));
        Assert.All(sources, s =>
        {
            Assert.Equal(3, s.GetProperty("passages").GetInt32());
            Assert.True(s.GetProperty("second").GetDouble() > 0);
        });
        var bad = LmCommandTests.RunCli("lm", "copy-test", "-m", "stories260K", "--passages", "0");
        Assert.Equal(1, bad.ExitCode);
        Assert.StartsWith("terse: error:", bad.Stderr);
    }
}
