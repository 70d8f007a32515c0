using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
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
        Embedding = Parameters.Add(ParameterNames.Embedding, config.VocabSize, d);
        Layers = new LayerWeights[config.Layers];
        for (int i = 0; i < config.Layers; i++)
        {
            string prefix = ParameterNames.Layer(i);
            var layer = new LayerWeights
            {
                AttentionNorm = Parameters.Add(prefix + "input_layernorm.weight", d),
                Query = Parameters.Add(prefix + "self_attn.q_proj.weight", d, d),
                Key = Parameters.Add(prefix + "self_attn.k_proj.weight", kv, d),
                Value = Parameters.Add(prefix + "self_attn.v_proj.weight", kv, d),
                QueryBias = config.AttentionBias ? Parameters.Add(prefix + "self_attn.q_proj.bias", d) : null,
                KeyBias = config.AttentionBias ? Parameters.Add(prefix + "self_attn.k_proj.bias", kv) : null,
                ValueBias = config.AttentionBias ? Parameters.Add(prefix + "self_attn.v_proj.bias", kv) : null,
                Output = Parameters.Add(prefix + "self_attn.o_proj.weight", d, d),
                FeedForwardNorm = Parameters.Add(prefix + "post_attention_layernorm.weight", d),
                Gate = Parameters.Add(prefix + "mlp.gate_proj.weight", h, d),
                Up = Parameters.Add(prefix + "mlp.up_proj.weight", h, d),
                Down = Parameters.Add(prefix + "mlp.down_proj.weight", d, h),
            };
            Layers[i] = layer;
        }
        FinalNorm = Parameters.Add(ParameterNames.FinalNorm, d);
        Classifier = config.TiedEmbeddings ? Embedding : Parameters.Add(ParameterNames.Classifier, config.VocabSize, d);
        Rope = new Rope(config.HeadSize, config.MaxSequenceLength, config.RopeTheta);
    }

    public LlamaConfig Config { get; private set; }

    public ParameterSet Parameters { get; }

    /// <summary>Matrix-multiply backend of the batched (training) passes. Decoding does not use it.</summary>
    public Gemm Gemm { get; set; } = Gemm.Default;

    internal Parameter Embedding { get; }
    internal Parameter FinalNorm { get; }
    /// <summary>The output projection: the embedding itself when tied.</summary>
    internal Parameter Classifier { get; }
    internal LayerWeights[] Layers { get; }
    internal Rope Rope { get; }

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

    /// <summary>A decoding session with its own KV cache for up to <paramref name="capacity"/> positions (default: the model's maximum).</summary>
    public InferenceSession CreateSession(int? capacity = null) => new(this, capacity ?? Config.MaxSequenceLength);

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
            $"eps={BitConverter.SingleToInt32Bits(c.NormEpsilon)} tied={c.TiedEmbeddings} bias={c.AttentionBias}\n"));
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

/// <summary>Parameter names (Hugging Face Llama naming).</summary>
public static class ParameterNames
{
    public const string Embedding = "model.embed_tokens.weight";
    public const string FinalNorm = "model.norm.weight";
    public const string Classifier = "lm_head.weight";

    public static string Layer(int index) => $"model.layers.{index}.";
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
}
