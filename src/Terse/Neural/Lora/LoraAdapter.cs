using Terse.Neural.Checkpoints;
using Terse.Neural.Numerics;

namespace Terse.Neural;

/// <summary>LoRA hyper-parameters.</summary>
/// <param name="Rank">r: A is [r, in], B is [out, r].</param>
/// <param name="Alpha">The update B·A is scaled by Alpha / Rank.</param>
/// <param name="Dropout">Probability of zeroing an input element of the adapter path while training.</param>
/// <param name="Targets">Projections that get an adapter (default: q and v, as PEFT's Llama default).</param>
/// <param name="Layers">Layers that get an adapter (default: all).</param>
public sealed record LoraSettings(int Rank, float Alpha, float Dropout = 0f, IReadOnlyList<LlamaProjection>? Targets = null, IReadOnlyList<int>? Layers = null)
{
    public IReadOnlyList<LlamaProjection> TargetProjections => Targets ?? [LlamaProjection.Query, LlamaProjection.Value];

    public float Scale => Alpha / Rank;
}

/// <summary>The two low-rank factors on one projection: W' = W + scale · B·A.</summary>
internal sealed record LoraPair(Parameter A, Parameter B);

/// <summary>
/// A LoRA adapter on a base <see cref="LlamaModel"/>: low-rank updates W + (α/r)·B·A on chosen
/// projections of chosen layers. Its parameters (<see cref="Parameters"/>, named like the base
/// projection with <c>.lora_A.weight</c> / <c>.lora_B.weight</c>) train while the base stays frozen.
/// <see cref="Merge"/> folds the update into the base weights for speed; <see cref="Unmerge"/>
/// restores them exactly (the merged-over weights are kept, not recomputed).
/// </summary>
public sealed class LoraAdapter
{
    private readonly LoraPair?[,] _pairs;
    private Dictionary<Parameter, float[]>? _savedBase;

    internal LoraAdapter(LlamaModel model, string name, LoraSettings settings, int seed)
    {
        var c = model.Config;
        if (settings.Rank < 1 || settings.Rank > Math.Min(c.Dim, c.HiddenDim))
            throw new ArgumentOutOfRangeException(nameof(settings), settings.Rank, $"rank must be in 1..{Math.Min(c.Dim, c.HiddenDim)}");
        if (!float.IsFinite(settings.Alpha) || settings.Alpha <= 0)
            throw new ArgumentOutOfRangeException(nameof(settings), settings.Alpha, "alpha must be positive");
        if (!(settings.Dropout >= 0 && settings.Dropout < 1))
            throw new ArgumentOutOfRangeException(nameof(settings), settings.Dropout, "dropout must be in [0, 1)");
        if (settings.TargetProjections.Count == 0)
            throw new ArgumentException("an adapter needs at least one target projection", nameof(settings));
        var layers = settings.Layers ?? Enumerable.Range(0, c.Layers).ToArray();
        if (layers.Any(l => l < 0 || l >= c.Layers))
            throw new ArgumentOutOfRangeException(nameof(settings), $"layers must be in 0..{c.Layers - 1}");
        Model = model;
        Name = name;
        Settings = settings;
        Parameters = new ParameterSet();
        _pairs = new LoraPair?[c.Layers, Enum.GetValues<LlamaProjection>().Length];
        var random = new Random(seed);
        foreach (int layer in layers.Distinct().Order())
            foreach (var projection in settings.TargetProjections.Distinct().Order())
            {
                var weight = model.Layers[layer].Weight(projection);
                int outputs = weight.Shape[0], inputs = weight.Shape[1];
                string path = HuggingFaceLlamaNames.ModulePath(layer, projection);
                var a = Parameters.Add(path + ".lora_A.weight", settings.Rank, inputs);
                var b = Parameters.Add(path + ".lora_B.weight", outputs, settings.Rank);
                // PEFT's initialisation: A ~ kaiming-uniform(a=√5) = U(±1/√in), B = 0.
                float bound = 1f / MathF.Sqrt(inputs);
                foreach (ref float value in a.Value.Span)
                    value = (float)(random.NextDouble() * 2 - 1) * bound;
                _pairs[layer, (int)projection] = new LoraPair(a, b);
            }
    }

    public LlamaModel Model { get; }

    public string Name { get; }

    public LoraSettings Settings { get; }

    public ParameterSet Parameters { get; }

    public bool IsMerged => _savedBase is not null;

    internal float Scale => Settings.Scale;

    internal LoraPair? Pair(int layer, LlamaProjection projection) => _pairs[layer, (int)projection];

    /// <summary>Adds scale·B·A into the base weights (keeping a copy of them), so the adapter costs nothing per token.</summary>
    public void Merge()
    {
        if (IsMerged)
            return;
        if (Model.MergedAdapter is not null)
            throw new InvalidOperationException($"adapter '{Model.MergedAdapter.Name}' is already merged into the base");
        var saved = new Dictionary<Parameter, float[]>();
        for (int layer = 0; layer < _pairs.GetLength(0); layer++)
            foreach (var projection in Enum.GetValues<LlamaProjection>())
            {
                if (Pair(layer, projection) is not { } pair)
                    continue;
                var weight = Model.Layers[layer].Weight(projection);
                saved[weight] = weight.Value.Span.ToArray();
                // W ← W + scale · B[out, r] · A[r, in]
                Gemm.Managed.Multiply(false, false, weight.Shape[0], weight.Shape[1], Settings.Rank, Scale,
                    pair.B.Value.Span, Settings.Rank, pair.A.Value.Span, weight.Shape[1], 1f, weight.Value.Span, weight.Shape[1]);
            }
        _savedBase = saved;
        Model.MergedAdapter = this;
    }

    /// <summary>Restores the base weights exactly as they were before <see cref="Merge"/>.</summary>
    public void Unmerge()
    {
        if (_savedBase is null)
            return;
        foreach (var (weight, values) in _savedBase)
            values.CopyTo(weight.Value.Span);
        _savedBase = null;
        Model.MergedAdapter = null;
    }
}
