using System.Globalization;
using System.Text.Json;
using Terse.Neural.Checkpoints;

namespace Terse.Neural.Training;

/// <summary>How a <see cref="Trainer"/> trains.</summary>
public sealed record TrainingSettings
{
    /// <summary>Sequences per micro-batch.</summary>
    public int BatchSize { get; init; } = 8;
    /// <summary>Tokens per sequence (each predicts its next token).</summary>
    public int SequenceLength { get; init; } = 64;
    /// <summary>Micro-batches whose gradients are averaged into one update.</summary>
    public int AccumulationSteps { get; init; } = 1;
    /// <summary>Length of the schedule (updates).</summary>
    public int TotalSteps { get; init; } = 100;
    public int WarmupSteps { get; init; } = 10;
    public float LearningRate { get; init; } = 1e-3f;
    public float MinLearningRate { get; init; } = 1e-4f;
    /// <summary>Largest gradient norm before an update (0: no clipping).</summary>
    public float GradientClip { get; init; } = 1f;
    public AdamWSettings Optimizer { get; init; } = new();
    /// <summary>Seeds batch sampling and dropout: the same seed, data and machine give the same weights.</summary>
    public ulong Seed { get; init; } = 1;
}

/// <summary>One update: the mean loss of its micro-batches (nats/token), the gradient norm before clipping, the learning rate used.</summary>
public sealed record TrainingStepResult(int Step, float Loss, double GradientNorm, float LearningRate, int Tokens);

/// <summary>
/// Next-token training on a token corpus: random windows (seeded), cross-entropy, gradient
/// accumulation, clipping, AdamW with warm-up + cosine schedule. Trains the adapter's parameters
/// when given one, plus every base parameter that is not frozen. Checkpoints hold the trained
/// parameters, the optimizer moments, the step and the sampler state, and are written atomically;
/// <see cref="LoadCheckpoint"/> resumes exactly where <see cref="SaveCheckpoint"/> stopped.
/// </summary>
public sealed class Trainer
{
    private const string Format = "terse-training-checkpoint/1";
    private readonly LlamaModel _model;
    private readonly LoraAdapter? _adapter;
    private readonly Parameter[] _trainable;
    private readonly BatchPass _pass;
    private readonly AdamW _optimizer;
    private readonly int[] _inputs, _targets;
    private ulong _rng;

    public Trainer(LlamaModel model, TrainingSettings settings, LoraAdapter? adapter = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(settings.BatchSize, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(settings.AccumulationSteps, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(settings.TotalSteps, 1);
        ArgumentOutOfRangeException.ThrowIfZero(settings.Seed);
        _model = model;
        _adapter = adapter;
        Settings = settings;
        _trainable = (adapter?.Parameters ?? Enumerable.Empty<Parameter>()).Concat(model.Parameters).Where(p => !p.Frozen).ToArray();
        if (_trainable.Length == 0)
            throw new ArgumentException("every parameter is frozen: nothing to train");
        _pass = new BatchPass(model, settings.BatchSize, settings.SequenceLength, gradients: new Gradients(_trainable), adapter: adapter);
        _optimizer = new AdamW(_trainable, settings.Optimizer);
        _inputs = new int[settings.BatchSize * settings.SequenceLength];
        _targets = new int[_inputs.Length];
        _rng = settings.Seed;
    }

    public TrainingSettings Settings { get; }

    /// <summary>Updates done so far.</summary>
    public int Step { get; private set; }

    /// <summary>Parameters this trainer updates.</summary>
    public IReadOnlyList<Parameter> Trainable => _trainable;

    /// <summary>One update from <see cref="TrainingSettings.AccumulationSteps"/> micro-batches of random windows of <paramref name="corpus"/>.</summary>
    public TrainingStepResult TrainStep(ReadOnlySpan<int> corpus)
    {
        int length = Settings.SequenceLength;
        if (corpus.Length < length + 1)
            throw new ArgumentException($"the corpus has {corpus.Length} tokens; windows need {length + 1}", nameof(corpus));
        var gradients = _pass.Gradients;
        gradients.Clear();
        double lossSum = 0;
        for (int micro = 0; micro < Settings.AccumulationSteps; micro++)
        {
            for (int b = 0; b < Settings.BatchSize; b++)
            {
                int start = (int)(NextRandom() % (ulong)(corpus.Length - length));
                corpus.Slice(start, length).CopyTo(_inputs.AsSpan(b * length, length));
                corpus.Slice(start + 1, length).CopyTo(_targets.AsSpan(b * length, length));
            }
            _pass.SetDropoutSeed((int)(NextRandom() & int.MaxValue));
            _pass.Forward(_inputs);
            lossSum += _pass.Loss(_targets);
            _pass.Backward();
        }
        if (Settings.AccumulationSteps > 1)
            gradients.Scale(1f / Settings.AccumulationSteps);
        double norm = Settings.GradientClip > 0 ? gradients.ClipNorm(Settings.GradientClip) : gradients.Norm();
        float rate = LearningRateSchedule.WarmupCosine(Step, Settings.WarmupSteps, Settings.TotalSteps, Settings.LearningRate, Settings.MinLearningRate);
        if (!double.IsFinite(lossSum) || !double.IsFinite(norm))
            throw new TrainingDivergedException($"training diverged at update {Step + 1}: the loss is {lossSum / Settings.AccumulationSteps:G4} " +
                $"and the gradient norm {norm:G4} (learning rate {rate:G3}; a lower one may train)");
        _optimizer.Step(gradients, rate);
        Step++;
        return new TrainingStepResult(Step, (float)(lossSum / Settings.AccumulationSteps), norm, rate, _inputs.Length * Settings.AccumulationSteps);
    }

    private ulong NextRandom() => XorShift64.Next(ref _rng);

    /// <summary>Writes the trained parameters, optimizer state and position atomically (safetensors).</summary>
    public void SaveCheckpoint(string path) =>
        OptimizerCheckpoint.Save(path, Format, _optimizer, p => p.Name, Step, _rng, new Dictionary<string, string>
        {
            ["model_config"] = JsonSerializer.Serialize(_model.Config),
            ["adapter"] = _adapter is null ? "" : JsonSerializer.Serialize(new { _adapter.Name, _adapter.Settings.Rank, _adapter.Settings.Alpha }),
            ["frozen_base_identity"] = FrozenBaseIdentity(),
        });

    /// <summary>
    /// Restores a checkpoint of this same setup (same model shape, adapter and trainable set; for a
    /// frozen base, the same base weights). Mismatches throw <see cref="InvalidDataException"/>.
    /// </summary>
    public void LoadCheckpoint(string path) =>
        (Step, _rng) = OptimizerCheckpoint.Load(path, Format, _optimizer, p => p.Name, field =>
        {
            if (field("model_config") != JsonSerializer.Serialize(_model.Config))
                throw new InvalidDataException($"{path}: the checkpoint is for a model of another shape ({field("model_config")})");
            if (field("frozen_base_identity") != FrozenBaseIdentity())
                throw new InvalidDataException($"{path}: the checkpoint was trained on other frozen base weights");
        });

    /// <summary>SHA-256 of the base weights when none of them train (LoRA), else empty: resuming an adapter on other base weights would be meaningless.</summary>
    private string FrozenBaseIdentity() =>
        _model.Parameters.Any(p => !p.Frozen) ? "" : Convert.ToHexString(_model.ComputeIdentity());
}
