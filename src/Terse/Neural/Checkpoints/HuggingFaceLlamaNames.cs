using System.Globalization;

namespace Terse.Neural.Checkpoints;

/// <summary>The seven linear layers of a Llama decoder layer (the modules LoRA can target).</summary>
public enum LlamaProjection
{
    Query,
    Key,
    Value,
    Output,
    Gate,
    Up,
    Down,
}

/// <summary>
/// Hugging Face's parameter names for Llama-family models, the shapes a configuration implies
/// (PyTorch layout: a linear layer's weight is [out_features, in_features]), and a check of a
/// checkpoint's tensors against them.
/// </summary>
public static class HuggingFaceLlamaNames
{
    public const string Embedding = "model.embed_tokens.weight";
    public const string FinalNorm = "model.norm.weight";
    public const string LmHead = "lm_head.weight";

    /// <summary>The module's own name: "q_proj", "gate_proj", … (what PEFT's target_modules lists).</summary>
    public static string ModuleName(LlamaProjection projection) => projection switch
    {
        LlamaProjection.Query => "q_proj",
        LlamaProjection.Key => "k_proj",
        LlamaProjection.Value => "v_proj",
        LlamaProjection.Output => "o_proj",
        LlamaProjection.Gate => "gate_proj",
        LlamaProjection.Up => "up_proj",
        LlamaProjection.Down => "down_proj",
        _ => throw new ArgumentOutOfRangeException(nameof(projection), projection, null),
    };

    /// <summary>The module's path in the model: "model.layers.3.self_attn.q_proj", "model.layers.3.mlp.down_proj".</summary>
    public static string ModulePath(int layer, LlamaProjection projection)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(layer);
        string block = projection <= LlamaProjection.Output ? "self_attn" : "mlp";
        return $"model.layers.{layer.ToString(CultureInfo.InvariantCulture)}.{block}.{ModuleName(projection)}";
    }

    public static string Weight(int layer, LlamaProjection projection) => ModulePath(layer, projection) + ".weight";

    public static string Bias(int layer, LlamaProjection projection) => ModulePath(layer, projection) + ".bias";

    public static string InputNorm(int layer) => $"model.layers.{layer.ToString(CultureInfo.InvariantCulture)}.input_layernorm.weight";

    public static string PostAttentionNorm(int layer) => $"model.layers.{layer.ToString(CultureInfo.InvariantCulture)}.post_attention_layernorm.weight";

    /// <summary>(out_features, in_features) of a projection under <paramref name="config"/>.</summary>
    public static (int Out, int In) ProjectionSize(HuggingFaceLlamaConfig config, LlamaProjection projection)
    {
        int queryWidth = config.NumAttentionHeads * config.HeadDim;
        int keyValueWidth = config.NumKeyValueHeads * config.HeadDim;
        return projection switch
        {
            LlamaProjection.Query => (queryWidth, config.HiddenSize),
            LlamaProjection.Key or LlamaProjection.Value => (keyValueWidth, config.HiddenSize),
            LlamaProjection.Output => (config.HiddenSize, queryWidth),
            LlamaProjection.Gate or LlamaProjection.Up => (config.IntermediateSize, config.HiddenSize),
            LlamaProjection.Down => (config.HiddenSize, config.IntermediateSize),
            _ => throw new ArgumentOutOfRangeException(nameof(projection), projection, null),
        };
    }

    public static bool HasBias(HuggingFaceLlamaConfig config, LlamaProjection projection) => projection switch
    {
        LlamaProjection.Query or LlamaProjection.Key or LlamaProjection.Value => config.HasQkvBias,
        LlamaProjection.Output => config.HasOutputBias,
        _ => config.MlpBias,
    };

    /// <summary>Every tensor a checkpoint of <paramref name="config"/> holds, with its shape, in model order.</summary>
    public static IReadOnlyList<(string Name, long[] Shape)> ExpectedTensors(HuggingFaceLlamaConfig config)
    {
        var tensors = new List<(string, long[])> { (Embedding, [config.VocabSize, config.HiddenSize]) };
        for (int layer = 0; layer < config.NumHiddenLayers; layer++)
        {
            tensors.Add((InputNorm(layer), [config.HiddenSize]));
            foreach (var projection in Enum.GetValues<LlamaProjection>())
            {
                var (outFeatures, inFeatures) = ProjectionSize(config, projection);
                tensors.Add((Weight(layer, projection), [outFeatures, inFeatures]));
                if (HasBias(config, projection))
                    tensors.Add((Bias(layer, projection), [outFeatures]));
                if (projection == LlamaProjection.Output)
                    tensors.Add((PostAttentionNorm(layer), [config.HiddenSize]));
            }
        }
        tensors.Add((FinalNorm, [config.HiddenSize]));
        if (!config.TieWordEmbeddings)
            tensors.Add((LmHead, [config.VocabSize, config.HiddenSize]));
        return tensors;
    }

    /// <summary>
    /// Checks that a checkpoint holds exactly the floating-point tensors <paramref name="config"/>
    /// implies, with their shapes. Tolerated extras: lm_head.weight when embeddings are tied, and
    /// the rotary inv_freq buffers older exports saved. Throws <see cref="InvalidDataException"/>.
    /// </summary>
    public static void Check(IEnumerable<TensorInfo> tensors, HuggingFaceLlamaConfig config, string source = "checkpoint") =>
        CheckTensors(tensors, ExpectedTensors(config), name =>
            (config.TieWordEmbeddings && name == LmHead) || name.EndsWith(".self_attn.rotary_emb.inv_freq", StringComparison.Ordinal), source, "config.json");

    /// <summary>Compares a file's tensors with the expected names and shapes; shared by model and adapter checks.</summary>
    internal static void CheckTensors(IEnumerable<TensorInfo> tensors, IReadOnlyList<(string Name, long[] Shape)> expected, Func<string, bool> tolerated, string source, string configName)
    {
        var actual = tensors.ToDictionary(t => t.Name, StringComparer.Ordinal);
        var missing = expected.Where(e => !actual.ContainsKey(e.Name)).Select(e => e.Name).ToList();
        if (missing.Count > 0)
            throw new InvalidDataException($"{source}: {missing.Count} tensor(s) that {configName} implies are missing, e.g. {string.Join(", ", missing.Take(3).Select(n => $"'{n}'"))}");
        foreach (var (name, shape) in expected)
        {
            var info = actual[name];
            if (!info.Shape.SequenceEqual(shape))
                throw new InvalidDataException($"{source}: tensor '{name}' has shape {NamedTensor.FormatShape(info.ShapeArray)} but {configName} implies {NamedTensor.FormatShape(shape)}");
            if (!info.DType.IsFloatingPoint())
                throw new InvalidDataException($"{source}: tensor '{name}' has dtype {info.DType.FileName()}, expected F32, F16, BF16 or F64");
        }
        var expectedNames = expected.Select(e => e.Name).ToHashSet(StringComparer.Ordinal);
        var unexpected = actual.Keys.Where(n => !expectedNames.Contains(n) && !tolerated(n)).Order(StringComparer.Ordinal).ToList();
        if (unexpected.Count > 0)
            throw new InvalidDataException($"{source}: {unexpected.Count} tensor(s) that {configName} does not account for, e.g. {string.Join(", ", unexpected.Take(3).Select(n => $"'{n}'"))}");
    }
}
