using Terse.Neural;
using Terse.Neural.Checkpoints;
using Terse.Neural.Training;

namespace Terse.Evaluation;

/// <summary>How a reader adapter is tuned.</summary>
/// <param name="Steps">Optimizer updates; 0 tunes nothing.</param>
/// <param name="BatchSize">Training windows per update.</param>
/// <param name="Rank">LoRA rank on the attention projections q, k, v, o (alpha = 2 × rank).</param>
public sealed record ReaderTuningSettings(int Steps = 600, int BatchSize = 8, int Rank = 8, float LearningRate = 2e-3f, float MinLearningRate = 2e-4f,
    int WarmupSteps = 30, float GradientClip = 1f, int Seed = 1);

/// <summary>One update of reader tuning: the mean cross-entropy of the targets (nats/token).</summary>
public sealed record ReaderTuningStep(int Step, float Loss, double GradientNorm, float LearningRate);

/// <summary>
/// Fine-tunes a LoRA adapter so that a model reads a method's compressed contexts: the reader
/// sees <c>[BOS] compressed lead</c> and learns to predict the target that follows (cross-entropy
/// of the target only): the next tokens of the original context, or the answer to a question. This is the meta-token seed's setting (an LLM fine-tuned
/// on compressed input), the way a reader learns to read Z-tokens, and, on uncompressed input, the
/// control that tells what tuning alone buys. The model and its other weights stay frozen.
/// </summary>
public sealed class ReaderTuning
{
    private readonly IContextMethod _method;
    private readonly IReadOnlyList<ContinuationItem> _windows;
    private readonly ReaderTuningSettings _settings;
    private readonly LlamaModel _model;
    private readonly Gradients _gradients;
    private readonly AdamW _optimizer;
    private readonly Dictionary<int, BatchPass> _passes = [];
    private readonly Random _random;
    private readonly int _bos;

    /// <summary>Attaches a new adapter <paramref name="adapterName"/> to the model that reads <paramref name="method"/>'s output.</summary>
    public ReaderTuning(IContextMethod method, string adapterName, IReadOnlyList<ContinuationItem> windows, int bos, ReaderTuningSettings settings)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(settings.Steps, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(settings.BatchSize, 1);
        if (windows.Count == 0)
            throw new ArgumentException("no training windows", nameof(windows));
        if (method.TakesRate)
            throw new ArgumentException($"{method.Name} takes a rate; readers are tuned for methods with one natural rate");
        _method = method;
        _windows = windows;
        _settings = settings;
        _bos = bos;
        var probe = method.Compress(windows[0].Context, 1);
        if (probe.Input.Adapter is not null)
            throw new ArgumentException($"{method.Name} is read with an adapter already");
        _model = probe.Input.Model;
        LoraProjections = [LlamaProjection.Query, LlamaProjection.Key, LlamaProjection.Value, LlamaProjection.Output];
        Adapter = _model.AddAdapter(adapterName, new LoraSettings(settings.Rank, 2f * settings.Rank, 0f, LoraProjections), settings.Seed);
        var trainable = Adapter.Parameters.ToArray();
        _gradients = new Gradients(trainable);
        _optimizer = new AdamW(trainable, new AdamWSettings(WeightDecay: 0f));
        _random = new Random(settings.Seed);
    }

    public LoraAdapter Adapter { get; }
    public IReadOnlyList<LlamaProjection> LoraProjections { get; }
    public int Step { get; private set; }

    /// <summary>The method read through the tuned adapter.</summary>
    public TunedReader Reader(string name) => new(_method, Adapter, name);

    public ReaderTuningStep TrainStep()
    {
        int batch = _settings.BatchSize, d = _model.Config.Dim;
        var embedding = _model.Parameters[HuggingFaceLlamaNames.Embedding].Value.Span;
        // Each sample reads [BOS] compressed lead target[..^1] and predicts target at the positions
        // from the last of the lead (or of the compressed context) on; samples end with padding,
        // which causal attention never sees.
        var samples = new (ReaderInput Input, ContinuationItem Window)[batch];
        int longest = 0;
        for (int b = 0; b < batch; b++)
        {
            var window = _windows[_random.Next(_windows.Count)];
            samples[b] = (_method.Compress(window.Context, 1).Input, window);
            longest = Math.Max(longest, 1 + samples[b].Input.Positions + window.Lead.Length + window.Target.Length - 1);
        }
        // Passes are kept per length, rounded up to 32, so that a step allocates nothing new once warm.
        int time = Math.Min(_model.Config.MaxSequenceLength, (longest + 31) / 32 * 32);
        if (longest > time)
            throw new ArgumentException($"a compressed context and its target take {longest} positions; the model has {_model.Config.MaxSequenceLength}");
        if (!_passes.TryGetValue(time, out var pass))
            _passes[time] = pass = new BatchPass(_model, batch, time, gradients: _gradients, adapter: Adapter);
        var inputs = new float[batch * time * d];   // [batch][time][dim]
        var targets = new int[batch * time];        // [batch][time]: −1 where nothing is predicted
        Array.Fill(targets, -1);
        for (int b = 0; b < batch; b++)
        {
            var (input, window) = samples[b];
            var rows = inputs.AsSpan(b * time * d, time * d);
            embedding.Slice(_bos * d, d).CopyTo(rows);
            int at = 1;
            if (input.Embeddings is { } soft)
            {
                soft.CopyTo(rows[d..]);
                at += input.Positions;
            }
            else
                foreach (int id in input.Tokens!)
                    embedding.Slice(id * d, d).CopyTo(rows.Slice(at++ * d, d));
            foreach (int id in window.Lead)
                embedding.Slice(id * d, d).CopyTo(rows.Slice(at++ * d, d));
            var target = window.Target;
            for (int i = 0; i + 1 < target.Length; i++)
                embedding.Slice(target[i] * d, d).CopyTo(rows.Slice((at + i) * d, d));
            for (int i = 0; i < target.Length; i++)
                targets[b * time + at - 1 + i] = target[i];
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
        return new ReaderTuningStep(Step, loss, norm, rate);
    }
}
