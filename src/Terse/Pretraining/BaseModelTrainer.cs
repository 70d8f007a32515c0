using System.Globalization;
using System.Text.Json;
using Terse.Neural;
using Terse.Neural.Training;

namespace Terse.Pretraining;

/// <summary>One update of a <see cref="BaseModelTrainer"/>.</summary>
/// <param name="Loss">Mean training loss of the update (nats/token; mixture targets in the second stage).</param>
/// <param name="KindLosses">Plain next-token loss per episode kind present in the update (nats/token).</param>
public sealed record BaseModelStep(int Step, string Stage, float Loss, IReadOnlyDictionary<EpisodeKind, double> KindLosses,
    double GradientNorm, float LearningRate, int Tokens);

/// <summary>
/// Runs a <see cref="BaseModelRecipe"/>: trains a new model from seeded random weights, one update
/// at a time, through the induction, mixture and anneal stages. Checkpoints hold the weights,
/// the AdamW moments, the step and the row sampler's state, so that a run stopped anywhere resumes
/// where it stopped and ends with the same weights on the same machine.
/// </summary>
public sealed class BaseModelTrainer
{
    private const string Format = "terse-base-model-checkpoint/1";
    private readonly LlamaModel _teacher;
    private readonly AdamW _optimizer;
    private readonly Gradients _gradients;
    private readonly EpisodeBuilder _induction;
    private readonly Lazy<EpisodeBuilder> _mixture, _anneal;
    private readonly Lazy<IReadOnlyList<int[]>> _teacherStories;
    private readonly PretrainingCorpus _corpus;
    private readonly int _bos;
    private readonly int[][] _separators;
    private StageBuffers? _buffers;
    private ulong _rng;

    /// <param name="teacher">The model whose stories and soft targets the mixture stage uses (same vocabulary).</param>
    /// <param name="separators">Token sequences placed between the two occurrences of a repeated passage.</param>
    public BaseModelTrainer(BaseModelRecipe recipe, PretrainingCorpus corpus, LlamaModel teacher, int bos, IReadOnlyList<int[]> separators)
    {
        if (recipe.Problem() is { } problem)
            throw new ArgumentException($"invalid recipe: {problem}", nameof(recipe));
        if (teacher.Config.VocabSize != recipe.Shape.VocabSize)
            throw new ArgumentException($"the teacher's vocabulary ({teacher.Config.VocabSize}) is not the model's ({recipe.Shape.VocabSize})", nameof(teacher));
        if (teacher.Config.MaxSequenceLength < recipe.MixtureLength)
            throw new ArgumentException($"the teacher runs {teacher.Config.MaxSequenceLength} positions; the mixture rows need {recipe.MixtureLength}", nameof(teacher));
        Recipe = recipe;
        _teacher = teacher;
        _corpus = corpus;
        _bos = bos;
        _separators = [.. separators];
        Model = LlamaModel.CreateRandom(recipe.Shape, (int)(recipe.Seed & int.MaxValue));
        _gradients = new Gradients(Model.Parameters);
        _optimizer = new AdamW(Model.Parameters, new AdamWSettings(WeightDecay: recipe.WeightDecay));
        _rng = recipe.Seed;
        _induction = new EpisodeBuilder(corpus, [], MixtureWeights.CopyOnly, bos, recipe.Shape.VocabSize, _separators);
        _teacherStories = new(() => SampleTeacherStories(teacher, recipe.TeacherStories, recipe.TeacherStoryMaxTokens, bos, recipe.Seed));
        _mixture = new(() => Builder(recipe.Mixture));
        _anneal = new(() => Builder(recipe.AnnealMixture));
    }

    public BaseModelRecipe Recipe { get; }

    /// <summary>The model being trained.</summary>
    public LlamaModel Model { get; }

    /// <summary>Updates done so far.</summary>
    public int Step { get; private set; }

    /// <summary>Training seconds before this process resumed the run (from the checkpoint).</summary>
    public double EarlierSeconds { get; private set; }

    public bool Finished => Step >= Recipe.TotalSteps;

    public string StageName => Step < Recipe.InductionSteps ? "induction" : Step < Recipe.AnnealStart ? "mixture" : "anneal";

    private EpisodeBuilder Builder(MixtureWeights weights) =>
        new(_corpus, weights.TeacherStory > 0 ? _teacherStories.Value : [], weights, _bos, Recipe.Shape.VocabSize, _separators);

    /// <summary>The teacher's stories (sampled on first use; the same seed gives the same stories).</summary>
    public IReadOnlyList<int[]> TeacherStories => _teacherStories.Value;

    /// <summary>One update of the current stage.</summary>
    public BaseModelStep TrainStep()
    {
        if (Finished)
            throw new InvalidOperationException("the recipe is finished");
        bool induction = Step < Recipe.InductionSteps;
        int batch = induction ? Recipe.InductionBatch : Recipe.MixtureBatch;
        int time = induction ? Recipe.InductionLength : Recipe.MixtureLength;
        if (_buffers is null || _buffers.Induction != induction)
            _buffers = new StageBuffers(Model, induction ? null : _teacher, batch, time, _gradients, induction);
        var b = _buffers;
        string stage = StageName;
        var builder = stage switch { "induction" => _induction, "mixture" => _mixture.Value, _ => _anneal.Value };
        var row = new int[time + 1];
        for (int r = 0; r < batch; r++)
        {
            var (kind, domain) = builder.Fill(row, ref _rng);
            b.Kinds[r] = kind;
            row.AsSpan(0, time).CopyTo(b.Inputs.AsSpan(r * time));
            row.AsSpan(1).CopyTo(b.Targets.AsSpan(r * time));
            float w = kind == EpisodeKind.TeacherStory ? 1f : domain == Corpora.TextDomain.Stories ? Recipe.StoryDistillationWeight : 0f;
            b.TeacherWeights.AsSpan(r * time, time).Fill(w);
        }
        _gradients.Clear();
        b.Student.Forward(b.Inputs);
        var vocab = Recipe.Shape.VocabSize;
        ReadOnlySpan<float> teacherLogits = default;
        if (b.Teacher is not null && b.TeacherWeights.AsSpan().ContainsAnyExcept(0f))
        {
            b.Teacher.Forward(b.Inputs);
            teacherLogits = b.Teacher.Logits;
        }
        var (lossSum, counted) = SoftTargetLoss.ForwardBackward(b.Student.Logits, b.Targets, teacherLogits, b.TeacherWeights, b.DLogits.AsSpan(),
            b.ObservedLosses, b.Scratch, batch * time, vocab);
        b.Student.Backward(b.DLogits);
        double norm = Recipe.GradientClip > 0 ? _gradients.ClipNorm(Recipe.GradientClip) : _gradients.Norm();
        float rate = stage switch
        {
            "induction" => Recipe.InductionLearningRate * Math.Min(1f, (Step + 1f) / Math.Max(1, Recipe.WarmupSteps)),
            "mixture" => LearningRateSchedule.WarmupCosine(Step - Recipe.InductionSteps, Recipe.WarmupSteps, Recipe.MixtureSteps, Recipe.LearningRate, Recipe.MinLearningRate),
            _ => LearningRateSchedule.WarmupCosine(Step - Recipe.AnnealStart, 0, Recipe.AnnealSteps, Recipe.AnnealLearningRate, Recipe.AnnealMinLearningRate),
        };
        _optimizer.Step(_gradients, rate);
        Step++;

        var kindLosses = new Dictionary<EpisodeKind, double>();
        foreach (var kind in b.Kinds.Distinct())
        {
            double sum = 0;
            int n = 0;
            for (int r = 0; r < batch; r++)
            {
                if (b.Kinds[r] != kind)
                    continue;
                foreach (float loss in b.ObservedLosses.AsSpan(r * time, time))
                    sum += loss;
                n += time;
            }
            kindLosses[kind] = sum / n;
        }
        return new BaseModelStep(Step, stage, (float)(lossSum / Math.Max(1, counted)), kindLosses, norm, rate, batch * time);
    }

    /// <summary>Writes weights, optimizer state, step and sampler state atomically (safetensors).</summary>
    public void SaveCheckpoint(string path, double seconds) =>
        OptimizerCheckpoint.Save(path, Format, _optimizer, p => p.Name, Step, _rng, new Dictionary<string, string>
        {
            ["recipe"] = JsonSerializer.Serialize(Recipe),
            ["seconds"] = (EarlierSeconds + seconds).ToString("R", CultureInfo.InvariantCulture),
        });

    /// <summary>
    /// Resumes from a checkpoint of the same recipe, or of one that this recipe extends with an anneal
    /// stage the checkpoint has not reached (every stage it trained is the same); anything else is an
    /// <see cref="InvalidDataException"/>.
    /// </summary>
    public void LoadCheckpoint(string path)
    {
        double seconds = 0;
        (Step, _rng) = OptimizerCheckpoint.Load(path, Format, _optimizer, p => p.Name, field =>
        {
            if (!SameStagesSoFar(field("recipe"), field("step")))
                throw new InvalidDataException($"{path}: the checkpoint is of another recipe ({field("recipe")})");
            if (!double.TryParse(field("seconds"), NumberStyles.Float, CultureInfo.InvariantCulture, out seconds) || !(seconds >= 0))
                throw new InvalidDataException($"{path}: bad 'seconds' in checkpoint metadata");
        });
        if (Step > Recipe.TotalSteps)
            throw new InvalidDataException($"{path}: step {Step} is past the recipe's {Recipe.TotalSteps}");
        EarlierSeconds = seconds;
    }

    private bool SameStagesSoFar(string storedJson, string stepText)
    {
        string current = JsonSerializer.Serialize(Recipe);
        if (storedJson == current)
            return true;
        BaseModelRecipe? stored;
        try
        {
            stored = JsonSerializer.Deserialize<BaseModelRecipe>(storedJson);
        }
        catch (JsonException)
        {
            return false;
        }
        if (stored is null || !int.TryParse(stepText, NumberStyles.None, CultureInfo.InvariantCulture, out int step) || step > Recipe.AnnealStart)
            return false;
        var extended = stored with
        {
            AnnealSteps = Recipe.AnnealSteps, AnnealLearningRate = Recipe.AnnealLearningRate,
            AnnealMinLearningRate = Recipe.AnnealMinLearningRate, AnnealMixture = Recipe.AnnealMixture,
        };
        return JsonSerializer.Serialize(extended) == current;
    }

    /// <summary>
    /// Stories sampled from <paramref name="teacher"/> at temperature 1 from BOS until it emits BOS
    /// or EOS (or <paramref name="maxTokens"/>). Story i uses its own sampler seed, so the stories
    /// do not depend on how many run in parallel.
    /// </summary>
    public static IReadOnlyList<int[]> SampleTeacherStories(LlamaModel teacher, int count, int maxTokens, int bos, ulong seed)
    {
        var stories = new int[count][];
        maxTokens = Math.Min(maxTokens, teacher.Config.MaxSequenceLength - 1);
        Parallel.For(0, count, new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount }, () => teacher.CreateSession(), (i, _, session) =>
        {
            session.Reset();
            var sampler = new Sampler(1f, 1f, StorySeed(seed, i));
            var tokens = new List<int>();
            var logits = session.Step(bos);
            while (tokens.Count < maxTokens)
            {
                int next = sampler.Sample(logits);
                if (next == bos || next == 2)
                    break;
                tokens.Add(next);
                logits = session.Step(next);
            }
            stories[i] = [.. tokens];
            return session;
        }, _ => { });
        return stories;
    }

    /// <summary>SplitMix64 of (seed, story): distinct, non-zero seeds for the stories' samplers.</summary>
    private static ulong StorySeed(ulong seed, int story)
    {
        ulong z = seed + 0x9E3779B97F4A7C15UL * (ulong)(story + 1);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        z ^= z >> 31;
        return z == 0 ? 1 : z;
    }

    /// <summary>Buffers of one stage: the passes and the rows.</summary>
    private sealed class StageBuffers
    {
        public StageBuffers(LlamaModel model, LlamaModel? teacher, int batch, int time, Gradients gradients, bool induction)
        {
            Induction = induction;
            Student = new BatchPass(model, batch, time, gradients: gradients);
            Teacher = teacher is null ? null : new BatchPass(teacher, batch, time, gradients: new Gradients([]));
            int n = batch * time, vocab = model.Config.VocabSize;
            Inputs = new int[n];                 // [batch·time]
            Targets = new int[n];                // [batch·time]
            TeacherWeights = new float[n];       // [batch·time]
            ObservedLosses = new float[n];       // [batch·time]
            DLogits = new float[n * vocab];      // [batch·time·vocab]
            Scratch = new float[2 * vocab];      // [2·vocab]
            Kinds = new EpisodeKind[batch];      // [batch]
        }

        public bool Induction { get; }
        public BatchPass Student { get; }
        public BatchPass? Teacher { get; }
        public int[] Inputs { get; }
        public int[] Targets { get; }
        public float[] TeacherWeights { get; }
        public float[] ObservedLosses { get; }
        public float[] DLogits { get; }
        public float[] Scratch { get; }
        public EpisodeKind[] Kinds { get; }
    }
}
