using Terse.Neural;

namespace Terse.Pretraining;

/// <summary>
/// How Terse trains a base model that reads its context (docs/base-models.md gives the reasons):
/// first an induction stage on synthetic copy rows only, where copying is the one thing to learn
/// and induction heads form within a few thousand updates; then a mixture of natural text from
/// every domain, episodes in which passages of real text recur, a little synthetic copying so the
/// heads stay, and stories sampled from a teacher with its soft targets so the story domain keeps
/// the teacher's quality; last an anneal at a falling, low learning rate with more stories.
/// </summary>
public sealed record BaseModelRecipe
{
    /// <summary>The model trained from scratch (vocabulary: the tokenizer's).</summary>
    public LlamaConfig Shape { get; init; } = new(Dim: 128, HiddenDim: 384, Layers: 5, Heads: 4, KvHeads: 4, VocabSize: 512, MaxSequenceLength: 512);

    /// <summary>Seeds the initial weights, the rows and the teacher's stories.</summary>
    public ulong Seed { get; init; } = 1;

    public int InductionSteps { get; init; } = 2000;
    public int InductionBatch { get; init; } = 32;
    public int InductionLength { get; init; } = 128;
    public float InductionLearningRate { get; init; } = 3e-3f;

    public int MixtureSteps { get; init; } = 8000;
    public int MixtureBatch { get; init; } = 8;
    public int MixtureLength { get; init; } = 512;
    public float LearningRate { get; init; } = 2e-3f;
    public float MinLearningRate { get; init; } = 1e-4f;

    /// <summary>Warm-up updates at the start of each stage.</summary>
    public int WarmupSteps { get; init; } = 100;
    public float WeightDecay { get; init; } = 0.1f;
    public float GradientClip { get; init; } = 1f;

    public MixtureWeights Mixture { get; init; } = new();

    /// <summary>Updates of the anneal stage (batch and length of the mixture stage).</summary>
    public int AnnealSteps { get; init; } = 1500;
    public float AnnealLearningRate { get; init; } = 1e-4f;
    public float AnnealMinLearningRate { get; init; } = 1e-5f;

    /// <summary>The anneal's rows: more stories (natural and the teacher's), fewer repeats and synthetic rows.</summary>
    public MixtureWeights AnnealMixture { get; init; } = new()
    {
        Natural = 0.5, Repeat = 0.2, SyntheticCopy = 0.05, TeacherStory = 0.25,
        Domains = new Dictionary<Corpora.TextDomain, double>
        {
            [Corpora.TextDomain.Stories] = 0.45,
            [Corpora.TextDomain.Encyclopedic] = 0.15,
            [Corpora.TextDomain.News] = 0.1,
            [Corpora.TextDomain.QuestionAnswering] = 0.1,
            [Corpora.TextDomain.Dialogue] = 0.06,
            [Corpora.TextDomain.Code] = 0.07,
            [Corpora.TextDomain.Logs] = 0.07,
        },
    };

    /// <summary>Weight of the teacher's distribution in the targets of natural story windows (teacher stories always use 1).</summary>
    public float StoryDistillationWeight { get; init; } = 0.5f;

    /// <summary>Stories sampled from the teacher (temperature 1, no top-p) before the mixture stage.</summary>
    public int TeacherStories { get; init; } = 3000;
    public int TeacherStoryMaxTokens { get; init; } = 400;

    public int TotalSteps => InductionSteps + MixtureSteps + AnnealSteps;

    /// <summary>The first update of the anneal stage.</summary>
    public int AnnealStart => InductionSteps + MixtureSteps;

    /// <summary>Null when the recipe is usable, else what is wrong with it.</summary>
    public string? Problem()
    {
        if (Shape.Problem() is { } shape) return shape;
        if (InductionSteps < 0 || MixtureSteps < 0 || AnnealSteps < 0 || TotalSteps < 1) return "the recipe has no steps";
        if (InductionBatch < 1 || MixtureBatch < 1) return "batch sizes must be ≥ 1";
        if (InductionLength < 2 || InductionLength > Shape.MaxSequenceLength || MixtureLength < 2 || MixtureLength > Shape.MaxSequenceLength)
            return $"sequence lengths must be in 2..{Shape.MaxSequenceLength}";
        if (!(LearningRate > 0) || !(InductionLearningRate > 0) || !(MinLearningRate >= 0) || !(AnnealLearningRate > 0) || !(AnnealMinLearningRate >= 0))
            return "learning rates must be positive";
        if (StoryDistillationWeight is < 0 or > 1) return "the distillation weight must be in [0, 1]";
        if (Seed == 0) return "the seed must be non-zero";
        return null;
    }
}
