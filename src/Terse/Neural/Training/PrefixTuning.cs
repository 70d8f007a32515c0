using Terse.Neural.Checkpoints;

namespace Terse.Neural.Training;

/// <summary>How a prefix-reading adapter is tuned.</summary>
/// <param name="Steps">Optimizer updates; 0 tunes nothing.</param>
/// <param name="BatchSize">Samples per update.</param>
/// <param name="Rank">LoRA rank on the attention projections q, k, v, o (alpha = 2 × rank).</param>
public sealed record PrefixTuningSettings(int Steps = 600, int BatchSize = 8, int Rank = 8, float LearningRate = 2e-3f, float MinLearningRate = 2e-4f,
    int WarmupSteps = 30, float GradientClip = 1f, int Seed = 1);

/// <summary>One update: the mean cross-entropy of the targets (nats/token).</summary>
public sealed record PrefixTuningStep(int Step, float Loss, double GradientNorm, float LearningRate);

/// <summary>
/// One training sample: the model reads <c>[BOS] prefix lead</c> and is scored on
/// <see cref="Target"/> that follows. The prefix is token ids of the model's vocabulary or input
/// embeddings (soft tokens, [positions][dim]); exactly one of them is given.
/// </summary>
public sealed record PrefixSample(int[]? Tokens, float[]? Embeddings, int[] Lead, int[] Target);

/// <summary>
/// Trains a LoRA adapter (rank r on q, k, v, o) of a frozen model on the cross-entropy of targets
/// read after a prefix: what a reader of compressed contexts (Evaluation's reader tuning) and a
/// model that continues in Z-tokens (Z-space generation) both need. Every other weight stays
/// frozen. Samples in a batch are padded at the end, which causal attention never sees; passes are
/// kept per length, rounded up to 32.
/// </summary>
public sealed class PrefixTuning
{
    private readonly LlamaModel _model;
    private readonly PrefixTuningSettings _settings;
    private readonly Gradients _gradients;
    private readonly AdamW _optimizer;
    private readonly Dictionary<int, BatchPass> _passes = [];
    private readonly int _bos;

    /// <summary>Attaches a new adapter <paramref name="adapterName"/> to <paramref name="model"/>.</summary>
    public PrefixTuning(LlamaModel model, string adapterName, int bos, PrefixTuningSettings settings)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(settings.Steps, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(settings.BatchSize, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(bos);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(bos, model.Config.VocabSize);
        _model = model;
        _settings = settings;
        _bos = bos;
        Adapter = model.AddAdapter(adapterName, new LoraSettings(settings.Rank, 2f * settings.Rank, 0f,
            [LlamaProjection.Query, LlamaProjection.Key, LlamaProjection.Value, LlamaProjection.Output]), settings.Seed);
        var trainable = Adapter.Parameters.ToArray();
        _gradients = new Gradients(trainable);
        _optimizer = new AdamW(trainable, new AdamWSettings(WeightDecay: 0f));
    }

    public LoraAdapter Adapter { get; }
    public PrefixTuningSettings Settings => _settings;
    public int Step { get; private set; }

    public PrefixTuningStep TrainStep(IReadOnlyList<PrefixSample> batch)
    {
        if (batch.Count != _settings.BatchSize)
            throw new ArgumentException($"a batch has {_settings.BatchSize} samples, not {batch.Count}", nameof(batch));
        int d = _model.Config.Dim, samples = batch.Count;
        var embedding = _model.Parameters[HuggingFaceLlamaNames.Embedding].Value.Span;
        int longest = batch.Max(s => 1 + Positions(s) + s.Lead.Length + s.Target.Length - 1);
        int time = Math.Min(_model.Config.MaxSequenceLength, (longest + 31) / 32 * 32);
        if (longest > time)
            throw new ArgumentException($"a prefix and its target take {longest} positions; the model has {_model.Config.MaxSequenceLength}");
        if (!_passes.TryGetValue(time, out var pass))
            _passes[time] = pass = new BatchPass(_model, samples, time, gradients: _gradients, adapter: Adapter);
        var inputs = new float[samples * time * d];   // [samples][time][dim]
        var targets = new int[samples * time];        // [samples][time]: −1 where nothing is predicted
        Array.Fill(targets, -1);
        for (int b = 0; b < samples; b++)
        {
            var sample = batch[b];
            if (sample.Target.Length == 0)
                throw new ArgumentException("a sample without a target", nameof(batch));
            var rows = inputs.AsSpan(b * time * d, time * d);
            int at = Feed(embedding, [_bos], rows, 0, d);
            if (sample.Embeddings is { } soft)
            {
                soft.CopyTo(rows[(at * d)..]);
                at += soft.Length / d;
            }
            else
                at = Feed(embedding, sample.Tokens!, rows, at, d);
            at = Feed(embedding, sample.Lead, rows, at, d);
            // The target's first token is predicted from the last position read so far.
            int first = at - 1;
            Feed(embedding, sample.Target.AsSpan(0, sample.Target.Length - 1), rows, at, d);
            sample.Target.CopyTo(targets.AsSpan(b * time + first, sample.Target.Length));
        }
        _gradients.Clear();
        pass.Forward(inputs);
        float loss = pass.Loss(targets);
        pass.Backward();
        double norm = _settings.GradientClip > 0 ? _gradients.ClipNorm(_settings.GradientClip) : _gradients.Norm();
        float rate = LearningRateSchedule.WarmupCosine(Step, Math.Min(_settings.WarmupSteps, _settings.Steps), _settings.Steps,
            _settings.LearningRate, _settings.MinLearningRate);
        _optimizer.Step(_gradients, rate);
        Step++;
        return new PrefixTuningStep(Step, loss, norm, rate);
    }

    /// <summary>Copies the embedding rows of <paramref name="ids"/> into <paramref name="rows"/> from position <paramref name="at"/>; returns the next position.</summary>
    private static int Feed(ReadOnlySpan<float> embedding, ReadOnlySpan<int> ids, Span<float> rows, int at, int d)
    {
        foreach (int id in ids)
            embedding.Slice(id * d, d).CopyTo(rows.Slice(at++ * d, d));
        return at;
    }

    private int Positions(PrefixSample sample) =>
        sample.Embeddings is { } soft ? soft.Length / _model.Config.Dim
        : sample.Tokens?.Length ?? throw new ArgumentException("a sample needs a prefix: tokens or embeddings");
}
