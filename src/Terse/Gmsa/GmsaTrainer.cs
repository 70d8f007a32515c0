using Terse.Neural;
using Terse.Neural.Training;

namespace Terse.Gmsa;

/// <summary>The two training stages of GMSA.</summary>
public enum GmsaStage
{
    /// <summary>
    /// Autoencoder pretraining: the frozen decoder reconstructs a segment from its soft tokens
    /// (<c>[BOS] soft [AE] x…</c>); trains the encoder adapter, LSA, the [AE] marker (and memory tokens).
    /// </summary>
    Autoencoder,
    /// <summary>
    /// Knowledge-extraction fine-tuning on story continuation: the decoder reads a context
    /// segment's soft tokens and predicts the text that follows; trains the decoder's KEFT
    /// adapter (LoRA on q, k, v) with encoder and LSA frozen.
    /// </summary>
    Keft,
}

/// <summary>How a <see cref="GmsaTrainer"/> trains.</summary>
public sealed record GmsaTrainingSettings
{
    public int Steps { get; init; } = 1000;
    public int BatchSize { get; init; } = 16;
    public int WarmupSteps { get; init; } = 50;
    public float LearningRate { get; init; } = 2e-3f;
    public float MinLearningRate { get; init; } = 2e-4f;
    public float GradientClip { get; init; } = 1f;
    /// <summary>Tokens the decoder predicts after the context in <see cref="GmsaStage.Keft"/>.</summary>
    public int ContinuationLength { get; init; } = 32;
    public int Seed { get; init; } = 1;
}

/// <summary>One update: mean loss (nats/token) of the batch, gradient norm before clipping, learning rate.</summary>
public sealed record GmsaStepResult(int Step, float Loss, double GradientNorm, float LearningRate);

/// <summary>
/// Trains a <see cref="GmsaModel"/> on a token stream: random windows (seeded), a compression
/// rate drawn per sample from the compressor's rates (as the paper does), AdamW with warm-up and
/// cosine decay, gradient clipping.
/// </summary>
public sealed class GmsaTrainer
{
    private readonly GmsaModel _model;
    private readonly int[] _corpus;
    private readonly GmsaPass _pass;
    private readonly AdamW _optimizer;
    private readonly Random _random;
    private readonly int _window;

    public GmsaTrainer(GmsaModel model, GmsaStage stage, GmsaTrainingSettings settings, int[] corpus)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(settings.Steps, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(settings.BatchSize, 1);
        _model = model;
        Stage = stage;
        Settings = settings;
        _corpus = corpus;
        int segment = model.Settings.SegmentLength;
        if (stage == GmsaStage.Keft)
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(settings.ContinuationLength, 1);
            if (model.Keft is null)
                throw new InvalidOperationException("attach a KEFT adapter first (AddKeft)");
        }
        _window = segment + (stage == GmsaStage.Keft ? settings.ContinuationLength : 0);
        if (corpus.Length < _window)
            throw new ArgumentException($"the training text has {corpus.Length} tokens; one sample needs {_window}");
        var trainable = (stage == GmsaStage.Autoencoder ? model.AutoencoderParameters : model.Keft!.Parameters).ToArray();
        _pass = new GmsaPass(model, settings.BatchSize, model.Settings.MaxSoftTokens, new Gradients(trainable));
        _optimizer = new AdamW(trainable, new AdamWSettings(WeightDecay: 0f));
        _random = new Random(settings.Seed);
    }

    public GmsaStage Stage { get; }
    public GmsaTrainingSettings Settings { get; }
    public int Step { get; private set; }

    public GmsaStepResult TrainStep()
    {
        int segment = _model.Settings.SegmentLength, batch = Settings.BatchSize;
        var rates = _model.Settings.TrainingRates;
        var contexts = new int[batch][];
        var texts = new int[batch][];
        var sampleRates = new int[batch];
        for (int b = 0; b < batch; b++)
        {
            int start = _random.Next(_corpus.Length - _window + 1);
            contexts[b] = _corpus.AsSpan(start, segment).ToArray();
            texts[b] = Stage == GmsaStage.Autoencoder ? contexts[b] : _corpus.AsSpan(start + segment, Settings.ContinuationLength).ToArray();
            sampleRates[b] = rates[_random.Next(rates.Count)];
        }
        var gradients = _pass.Gradients;
        gradients.Clear();
        _pass.Encode(contexts, sampleRates);
        bool autoencoder = Stage == GmsaStage.Autoencoder;
        float loss = _pass.Decode(texts, marker: autoencoder, autoencoder ? _model.ReconstructionAdapter : _model.Keft);
        _pass.Backward(intoEncoder: autoencoder);
        double norm = Settings.GradientClip > 0 ? gradients.ClipNorm(Settings.GradientClip) : gradients.Norm();
        float rate = LearningRateSchedule.WarmupCosine(Step, Math.Min(Settings.WarmupSteps, Settings.Steps), Settings.Steps, Settings.LearningRate, Settings.MinLearningRate);
        _optimizer.Step(gradients, rate);
        Step++;
        return new GmsaStepResult(Step, loss, norm, rate);
    }
}
