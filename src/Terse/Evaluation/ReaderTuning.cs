using Terse.Neural;
using Terse.Neural.Training;

namespace Terse.Evaluation;

/// <summary>
/// Fine-tunes a LoRA reader so that a model reads a method's compressed contexts
/// (<see cref="PrefixTuning"/>): the reader sees <c>[BOS] compressed lead</c> and learns to predict
/// the target that follows: the next tokens of the original context, or the answer to a question.
/// This is the meta-token seed's setting (an LLM fine-tuned on compressed input), the way a reader
/// learns to read Z-tokens, and, on uncompressed input, the control that tells what tuning alone
/// buys. The model and its other weights stay frozen.
/// </summary>
public sealed class ReaderTuning
{
    private readonly IContextMethod _method;
    private readonly IReadOnlyList<ContinuationItem> _windows;
    private readonly PrefixTuning _tuning;
    private readonly Random _random;

    /// <summary>Attaches a new adapter <paramref name="adapterName"/> to the model that reads <paramref name="method"/>'s output.</summary>
    public ReaderTuning(IContextMethod method, string adapterName, IReadOnlyList<ContinuationItem> windows, int bos, PrefixTuningSettings settings)
    {
        if (windows.Count == 0)
            throw new ArgumentException("no training windows", nameof(windows));
        if (method.TakesRate)
            throw new ArgumentException($"{method.Name} takes a rate; readers are tuned for methods with one natural rate");
        _method = method;
        _windows = windows;
        var probe = method.Compress(windows[0].Context, 1);
        if (probe.Input.Adapter is not null)
            throw new ArgumentException($"{method.Name} is read with an adapter already");
        _tuning = new PrefixTuning(probe.Input.Model, adapterName, bos, settings);
        _random = new Random(settings.Seed);
    }

    public LoraAdapter Adapter => _tuning.Adapter;
    public int Step => _tuning.Step;

    /// <summary>The method read through the tuned adapter.</summary>
    public TunedReader Reader(string name) => new(_method, Adapter, name);

    public PrefixTuningStep TrainStep()
    {
        var batch = new PrefixSample[_tuning.Settings.BatchSize];
        for (int b = 0; b < batch.Length; b++)
        {
            var window = _windows[_random.Next(_windows.Count)];
            var input = _method.Compress(window.Context, 1).Input;
            batch[b] = new PrefixSample(input.Tokens, input.Embeddings, window.Lead, window.Target);
        }
        return _tuning.TrainStep(batch);
    }
}
