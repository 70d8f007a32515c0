using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using Terse.Neural.Checkpoints;
using Terse.Neural.Layers;
using Terse.Neural.Numerics;

namespace Terse.Neural;

/// <summary>
/// A Llama-family decoder: its configuration and its parameters (named flat float32 tensors in
/// <see cref="Parameters"/>). Run it with <see cref="CreateSession"/> (token-by-token decoding with a
/// KV cache). Loading: <see cref="Checkpoints.Llama2cCheckpoint"/>.
/// </summary>
public sealed class LlamaModel
{
    public LlamaModel(LlamaConfig config)
    {
        config.Validate();
        Config = config;
        Parameters = new ParameterSet();
        int d = config.Dim, kv = config.KvDim, h = config.HiddenDim;
        Embedding = Parameters.Add(HuggingFaceLlamaNames.Embedding, config.VocabSize, d);
        Layers = new LayerWeights[config.Layers];
        for (int i = 0; i < config.Layers; i++)
        {
            Parameter Weight(LlamaProjection projection, int outputs, int inputs) => Parameters.Add(HuggingFaceLlamaNames.Weight(i, projection), outputs, inputs);
            Parameter? Bias(LlamaProjection projection, int outputs) => config.AttentionBias ? Parameters.Add(HuggingFaceLlamaNames.Bias(i, projection), outputs) : null;
            Layers[i] = new LayerWeights
            {
                AttentionNorm = Parameters.Add(HuggingFaceLlamaNames.InputNorm(i), d),
                Query = Weight(LlamaProjection.Query, d, d),
                Key = Weight(LlamaProjection.Key, kv, d),
                Value = Weight(LlamaProjection.Value, kv, d),
                QueryBias = Bias(LlamaProjection.Query, d),
                KeyBias = Bias(LlamaProjection.Key, kv),
                ValueBias = Bias(LlamaProjection.Value, kv),
                Output = Weight(LlamaProjection.Output, d, d),
                FeedForwardNorm = Parameters.Add(HuggingFaceLlamaNames.PostAttentionNorm(i), d),
                Gate = Weight(LlamaProjection.Gate, h, d),
                Up = Weight(LlamaProjection.Up, h, d),
                Down = Weight(LlamaProjection.Down, d, h),
            };
        }
        FinalNorm = Parameters.Add(HuggingFaceLlamaNames.FinalNorm, d);
        Classifier = config.TiedEmbeddings ? Embedding : Parameters.Add(HuggingFaceLlamaNames.LmHead, config.VocabSize, d);
        Rope = new Rope(config.HeadSize, config.MaxSequenceLength, config.RopeTheta, config.RopeScaling);
        _portableRope = new(() => new Rope(config.HeadSize, config.MaxSequenceLength, config.RopeTheta, config.RopeScaling, portable: true));
    }

    public LlamaConfig Config { get; private set; }

    public ParameterSet Parameters { get; }

    /// <summary>The beginning-of-sequence id the model's files declare (generation_config.json over config.json), if any.</summary>
    public int? BosTokenId { get; init; }

    /// <summary>The end-of-sequence ids the model's files declare (generation_config.json over config.json); generation stops at any of them.</summary>
    public IReadOnlyList<int> EosTokenIds { get; init; } = [];

    /// <summary>Matrix-multiply backend of the batched (training) passes. Decoding does not use it.</summary>
    public Gemm Gemm { get; set; } = Gemm.Default;

    internal Parameter Embedding { get; }
    internal Parameter FinalNorm { get; }
    /// <summary>The output projection: the embedding itself when tied.</summary>
    internal Parameter Classifier { get; }
    internal LayerWeights[] Layers { get; }
    internal Rope Rope { get; }

    /// <summary>The rotary tables of portable sessions, made on first use (<see cref="ForwardArithmetic.Portable"/>).</summary>
    internal Rope PortableRope => _portableRope.Value;

    private readonly Lazy<Rope> _portableRope;

    /// <summary>
    /// A model with seeded random weights: linear layers ~ N(0, 0.02²) (output projections scaled by
    /// 1/√(2·layers) as in GPT-2), norms 1, biases 0. The same seed gives the same weights.
    /// </summary>
    public static LlamaModel CreateRandom(LlamaConfig config, int seed)
    {
        var model = new LlamaModel(config);
        var random = new Random(seed);
        float residualScale = 1f / MathF.Sqrt(2 * config.Layers);
        foreach (var parameter in model.Parameters)
        {
            var values = parameter.Value.Span;
            if (parameter.Shape.Count == 1)
            {
                values.Fill(parameter.Name.EndsWith(".bias", StringComparison.Ordinal) ? 0f : 1f);
                continue;
            }
            bool residual = parameter.Name.EndsWith("o_proj.weight", StringComparison.Ordinal) || parameter.Name.EndsWith("down_proj.weight", StringComparison.Ordinal);
            float std = 0.02f * (residual ? residualScale : 1f);
            for (int i = 0; i < values.Length; i++)
                values[i] = std * Gaussian(random);
        }
        return model;
    }

    internal static float Gaussian(Random random)
    {
        double u1 = 1.0 - random.NextDouble(), u2 = random.NextDouble();
        return (float)(Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2));
    }

    /// <summary>
    /// Appends <paramref name="count"/> rows to the vocabulary — the token embedding and, when untied,
    /// the classifier — for new tokens (e.g. learned compression tokens). They get ids
    /// VocabSize … VocabSize + count − 1 (the first is returned) and small random values
    /// (N(0, σ²) with σ the standard deviation of the existing rows, seeded). Existing rows are
    /// untouched and marked with <see cref="Parameter.FrozenRows"/> so that training can leave them
    /// alone. Sessions and passes made before must be recreated.
    /// </summary>
    public int AddVocabularyRows(int count, int seed = 0)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        int old = Config.VocabSize, d = Config.Dim;
        var grown = Config with { VocabSize = checked(old + count) };
        grown.Validate();
        var random = new Random(seed);
        foreach (var parameter in Config.TiedEmbeddings ? new[] { Embedding } : [Embedding, Classifier])
        {
            var values = new FloatBuffer(checked((old + count) * d));
            parameter.Value.Span.CopyTo(values.Span);
            float std = MathF.Sqrt(System.Numerics.Tensors.TensorPrimitives.SumOfSquares(parameter.Value.Span) / parameter.Length);
            foreach (ref float value in values.Span[(old * d)..])
                value = std * Gaussian(random);
            parameter.Resize([old + count, d], values);
            parameter.FrozenRows = Math.Max(parameter.FrozenRows, old);
        }
        Config = grown;
        return old;
    }

    private readonly Dictionary<string, LoraAdapter> _adapters = new(StringComparer.Ordinal);

    /// <summary>LoRA adapters attached to this (base) model, by name.</summary>
    public IReadOnlyDictionary<string, LoraAdapter> Adapters => _adapters;

    /// <summary>
    /// Attaches a new LoRA adapter (A random, B zero, so it starts as a no-op). Several adapters can
    /// share the base; each session or batch pass chooses one (or none).
    /// </summary>
    public LoraAdapter AddAdapter(string name, LoraSettings settings, int seed = 0)
    {
        if (_adapters.ContainsKey(name))
            throw new ArgumentException($"an adapter named '{name}' already exists", nameof(name));
        var adapter = new LoraAdapter(this, name, settings, seed);
        _adapters.Add(name, adapter);
        return adapter;
    }

    public void RemoveAdapter(string name)
    {
        if (_adapters.TryGetValue(name, out var adapter) && adapter.IsMerged)
            throw new InvalidOperationException($"adapter '{name}' is merged into the base; unmerge it first");
        _adapters.Remove(name);
    }

    /// <summary>The adapter currently merged into the base weights, if any.</summary>
    internal LoraAdapter? MergedAdapter { get; set; }

    /// <summary>Checks that <paramref name="adapter"/> can run on this model now; returns whether its update must be computed (not merged).</summary>
    internal bool Applies(LoraAdapter? adapter)
    {
        if (adapter is null)
            return false;
        if (adapter.Model != this || !_adapters.TryGetValue(adapter.Name, out var attached) || attached != adapter)
            throw new ArgumentException($"adapter '{adapter.Name}' is not attached to this model", nameof(adapter));
        if (MergedAdapter is not null && MergedAdapter != adapter)
            throw new InvalidOperationException($"adapter '{MergedAdapter.Name}' is merged into the base; unmerge it before running '{adapter.Name}'");
        return !adapter.IsMerged;
    }

    /// <summary>A decoding session with its own KV cache for up to <paramref name="capacity"/> positions (default: the model's maximum).</summary>
    /// <param name="adapter">A LoRA adapter of this model to apply, or null for the base alone.</param>
    public InferenceSession CreateSession(int? capacity = null, LoraAdapter? adapter = null) =>
        new(this, capacity ?? Config.MaxSequenceLength, adapter, ForwardArithmetic.Native);

    /// <summary>
    /// A decoding session (of the base model, or with <paramref name="adapter"/>) whose logits are the same bits on every machine
    /// (<see cref="ForwardArithmetic.Portable"/>): what the entropy coder needs to decode a file on
    /// another CPU than the one that wrote it. Somewhat slower than <see cref="CreateSession"/>, and
    /// its last bits differ from it.
    /// </summary>
    internal InferenceSession CreatePortableSession(int? capacity = null, LoraAdapter? adapter = null) =>
        new(this, capacity ?? Config.MaxSequenceLength, adapter, ForwardArithmetic.Portable);

    /// <summary>
    /// SHA-256 over the configuration and every parameter (name, shape, float bits) in order: two
    /// models with the same identity compute the same logits. About a millisecond per megabyte.
    /// </summary>
    public byte[] ComputeIdentity()
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var c = Config;
        hash.AppendData(Encoding.UTF8.GetBytes(
            $"terse-llama/1 dim={c.Dim} hidden={c.HiddenDim} layers={c.Layers} heads={c.Heads} kv_heads={c.KvHeads} " +
            $"vocab={c.VocabSize} seq={c.MaxSequenceLength} theta={BitConverter.SingleToInt32Bits(c.RopeTheta)} " +
            $"eps={BitConverter.SingleToInt32Bits(c.NormEpsilon)} tied={c.TiedEmbeddings} bias={c.AttentionBias}" +
            // Absent for unscaled models, so that their identities stay what they were.
            (c.RopeScaling is { } scaling ? $" rope_scaling={scaling.Describe()}" : "") + "\n"));
        Span<byte> bigEndianScratch = stackalloc byte[4];
        foreach (var parameter in Parameters)
        {
            hash.AppendData(Encoding.UTF8.GetBytes($"{parameter.Name} [{string.Join(",", parameter.Shape)}]\n"));
            if (BitConverter.IsLittleEndian)
                hash.AppendData(MemoryMarshal.AsBytes(parameter.Value.Span));
            else
                foreach (float value in parameter.Value.Span)
                {
                    System.Buffers.Binary.BinaryPrimitives.WriteSingleLittleEndian(bigEndianScratch, value);
                    hash.AppendData(bigEndianScratch);
                }
        }
        return hash.GetHashAndReset();
    }
}

/// <summary>The parameters of one decoder layer.</summary>
internal sealed class LayerWeights
{
    public required Parameter AttentionNorm { get; init; }
    public required Parameter Query { get; init; }
    public required Parameter Key { get; init; }
    public required Parameter Value { get; init; }
    public required Parameter? QueryBias { get; init; }
    public required Parameter? KeyBias { get; init; }
    public required Parameter? ValueBias { get; init; }
    public required Parameter Output { get; init; }
    public required Parameter FeedForwardNorm { get; init; }
    public required Parameter Gate { get; init; }
    public required Parameter Up { get; init; }
    public required Parameter Down { get; init; }

    public Parameter Weight(LlamaProjection projection) => projection switch
    {
        LlamaProjection.Query => Query,
        LlamaProjection.Key => Key,
        LlamaProjection.Value => Value,
        LlamaProjection.Output => Output,
        LlamaProjection.Gate => Gate,
        LlamaProjection.Up => Up,
        LlamaProjection.Down => Down,
        _ => throw new ArgumentOutOfRangeException(nameof(projection)),
    };

    public Parameter? Bias(LlamaProjection projection) => projection switch
    {
        LlamaProjection.Query => QueryBias,
        LlamaProjection.Key => KeyBias,
        LlamaProjection.Value => ValueBias,
        _ => null,
    };
}
