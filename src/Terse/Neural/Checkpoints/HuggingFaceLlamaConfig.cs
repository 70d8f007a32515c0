using Terse.IO;

namespace Terse.Neural.Checkpoints;

/// <summary>
/// The fields of a Hugging Face <c>config.json</c> that define a Llama-family decoder
/// (<c>LlamaForCausalLM</c> or <c>Qwen2ForCausalLM</c>). Independent of the engine's own model
/// configuration, which is built from it. Absent optional fields take Hugging Face's defaults.
/// </summary>
public sealed record HuggingFaceLlamaConfig
{
    public const string LlamaArchitecture = "LlamaForCausalLM";
    public const string Qwen2Architecture = "Qwen2ForCausalLM";

    /// <summary><see cref="LlamaArchitecture"/> or <see cref="Qwen2Architecture"/>.</summary>
    public string Architecture { get; init; } = LlamaArchitecture;

    public required int HiddenSize { get; init; }

    public required int IntermediateSize { get; init; }

    public required int NumHiddenLayers { get; init; }

    public required int NumAttentionHeads { get; init; }

    public required int NumKeyValueHeads { get; init; }

    public required int VocabSize { get; init; }

    /// <summary>The <c>head_dim</c> field when the file sets it; otherwise the head size is hidden_size / num_attention_heads.</summary>
    public int? ConfiguredHeadDim { get; init; }

    public int MaxPositionEmbeddings { get; init; } = 2048;

    public double RopeTheta { get; init; } = 10000;

    public double RmsNormEps { get; init; } = 1e-6;

    public bool TieWordEmbeddings { get; init; }

    /// <summary>Llama's <c>attention_bias</c>: biases on the q, k, v and o projections. Qwen2 always has q/k/v biases and no o bias.</summary>
    public bool AttentionBias { get; init; }

    /// <summary>Llama's <c>mlp_bias</c>: biases on the gate, up and down projections.</summary>
    public bool MlpBias { get; init; }

    /// <summary>The dtype the weights were saved in ("float32", "bfloat16", …), when stated.</summary>
    public string? TorchDtype { get; init; }

    public int? BosTokenId { get; init; }

    /// <summary>End-of-sequence ids (configs give one id or a list).</summary>
    public IReadOnlyList<int> EosTokenIds { get; init; } = [];

    public int HeadDim => ConfiguredHeadDim ?? HiddenSize / NumAttentionHeads;

    public bool IsQwen2 => Architecture == Qwen2Architecture;

    /// <summary>Whether q_proj, k_proj and v_proj carry a bias.</summary>
    public bool HasQkvBias => IsQwen2 || AttentionBias;

    /// <summary>Whether o_proj carries a bias.</summary>
    public bool HasOutputBias => !IsQwen2 && AttentionBias;

    public static HuggingFaceLlamaConfig Read(string path) => Parse(JsonFields.ReadFile(path), path);

    /// <summary>Parses config.json text; a missing, mistyped, inconsistent or unsupported field is an <see cref="InvalidDataException"/>.</summary>
    public static HuggingFaceLlamaConfig Parse(string json, string source = "config.json") =>
        JsonFields.Parse(json, source, fields =>
        {
            string architecture = ReadArchitecture(fields);
            if (fields.String("hidden_act") is { } activation && activation != "silu")
                throw fields.Error("hidden_act", "must be \"silu\" (SwiGLU) for a Llama-family model");
            if (fields.Bool("use_sliding_window") == true)
                throw fields.Error("use_sliding_window", "is not supported (sliding-window attention)");
            double? ropeTheta = ReadRopeParameters(fields, "rope_scaling") ?? ReadRopeParameters(fields, "rope_parameters");

            int heads = fields.RequiredInt("num_attention_heads", 1);
            var config = new HuggingFaceLlamaConfig
            {
                Architecture = architecture,
                HiddenSize = fields.RequiredInt("hidden_size", 1),
                IntermediateSize = fields.RequiredInt("intermediate_size", 1),
                NumHiddenLayers = fields.RequiredInt("num_hidden_layers", 1),
                NumAttentionHeads = heads,
                NumKeyValueHeads = fields.Int("num_key_value_heads", 1) ?? heads,
                VocabSize = fields.RequiredInt("vocab_size", 1),
                ConfiguredHeadDim = fields.Int("head_dim", 1),
                MaxPositionEmbeddings = fields.Int("max_position_embeddings", 1) ?? 2048,
                RopeTheta = fields.Number("rope_theta") ?? ropeTheta ?? 10000,
                RmsNormEps = fields.Number("rms_norm_eps") ?? 1e-6,
                TieWordEmbeddings = fields.Bool("tie_word_embeddings") ?? false,
                AttentionBias = fields.Bool("attention_bias") ?? false,
                MlpBias = fields.Bool("mlp_bias") ?? false,
                TorchDtype = fields.String("torch_dtype") ?? fields.String("dtype"),
                BosTokenId = fields.Int("bos_token_id", 0),
                EosTokenIds = fields.IntOrIntList("eos_token_id", 0) ?? [],
            };
            if (config.Problem() is { } problem)
                throw new InvalidDataException($"{source}: {problem}");
            return config;
        });

    private static string ReadArchitecture(JsonFields fields)
    {
        string? modelType = fields.String("model_type");
        string? architecture = fields.StringList("architectures") is { } listed
            ? listed.Count == 1 ? listed[0] : throw fields.Error("architectures", "must name exactly one architecture")
            : modelType switch
            {
                "llama" => LlamaArchitecture,
                "qwen2" => Qwen2Architecture,
                null => throw fields.Error("architectures", "is required (or model_type \"llama\" / \"qwen2\")"),
                _ => throw fields.Error("model_type", "must be \"llama\" or \"qwen2\""),
            };
        if (architecture is not (LlamaArchitecture or Qwen2Architecture))
            throw fields.Error("architectures", $"must be [\"{LlamaArchitecture}\"] or [\"{Qwen2Architecture}\"]");
        if (modelType is not null && modelType != ModelType(architecture))
            throw fields.Error("model_type", $"must be \"{ModelType(architecture)}\" for {architecture}");
        return architecture;
    }

    /// <summary>
    /// Accepts only the default (unscaled) rotary embedding, which is all the engine implements;
    /// returns the rope_theta the object carries, if any (newer transformers move it there).
    /// </summary>
    private static double? ReadRopeParameters(JsonFields fields, string field)
    {
        if (fields.Get(field) is not { } value)
            return null;
        if (value.ValueKind != System.Text.Json.JsonValueKind.Object)
            throw fields.Error(field, "must be an object or null");
        string? type = null;
        double? theta = null;
        foreach (var property in value.EnumerateObject())
        {
            if (property.Name is "rope_type" or "type" && property.Value.ValueKind == System.Text.Json.JsonValueKind.String)
                type = property.Value.GetString();
            else if (property.Name == "rope_theta" && property.Value.TryGetDouble(out double t) && double.IsFinite(t))
                theta = t;
        }
        if (type != "default")
            throw fields.Error(field, "is not supported: only the default (unscaled) rotary embedding is");
        return theta;
    }

    private static string ModelType(string architecture) => architecture == Qwen2Architecture ? "qwen2" : "llama";

    /// <summary>What makes this configuration unusable, or null when it is consistent.</summary>
    internal string? Problem()
    {
        if (Architecture is not (LlamaArchitecture or Qwen2Architecture))
            return $"architecture '{Architecture}' is not {LlamaArchitecture} or {Qwen2Architecture}";
        if (HiddenSize <= 0 || IntermediateSize <= 0 || NumHiddenLayers <= 0 || NumAttentionHeads <= 0 || NumKeyValueHeads <= 0 || VocabSize <= 0 || MaxPositionEmbeddings <= 0)
            return "sizes, layer, head and vocabulary counts must be positive";
        if (ConfiguredHeadDim is null && HiddenSize % NumAttentionHeads != 0)
            return $"hidden_size {HiddenSize} is not a multiple of num_attention_heads {NumAttentionHeads}";
        if (HeadDim <= 0 || HeadDim % 2 != 0)
            return $"the head size {HeadDim} must be positive and even (rotary embeddings rotate pairs)";
        if ((long)NumAttentionHeads * HeadDim > int.MaxValue)
            return $"num_attention_heads {NumAttentionHeads} × head size {HeadDim} is too large";
        if (NumAttentionHeads % NumKeyValueHeads != 0)
            return $"num_attention_heads {NumAttentionHeads} is not a multiple of num_key_value_heads {NumKeyValueHeads}";
        if (!(RmsNormEps > 0) || !double.IsFinite(RmsNormEps))
            return $"rms_norm_eps {RmsNormEps} must be a positive finite number";
        if (!(RopeTheta > 0) || !double.IsFinite(RopeTheta))
            return $"rope_theta {RopeTheta} must be a positive finite number";
        if (BosTokenId < 0 || EosTokenIds.Any(id => id < 0))
            return "token ids must be non-negative";
        return null;
    }

    /// <summary>The config.json text: indented, keys sorted, loadable by Hugging Face transformers.</summary>
    public string ToJson()
    {
        if (Problem() is { } problem)
            throw new ArgumentException($"inconsistent configuration: {problem}");
        var fields = new Dictionary<string, object?>
        {
            ["architectures"] = new[] { Architecture },
            ["model_type"] = ModelType(Architecture),
            ["hidden_act"] = "silu",
            ["hidden_size"] = HiddenSize,
            ["intermediate_size"] = IntermediateSize,
            ["num_hidden_layers"] = NumHiddenLayers,
            ["num_attention_heads"] = NumAttentionHeads,
            ["num_key_value_heads"] = NumKeyValueHeads,
            ["vocab_size"] = VocabSize,
            ["max_position_embeddings"] = MaxPositionEmbeddings,
            ["rope_theta"] = RopeTheta,
            ["rope_scaling"] = null,
            ["rms_norm_eps"] = RmsNormEps,
            ["tie_word_embeddings"] = TieWordEmbeddings,
            ["attention_dropout"] = 0.0,
            ["initializer_range"] = 0.02,
            ["use_cache"] = true,
            ["torch_dtype"] = TorchDtype,
            ["bos_token_id"] = BosTokenId,
            ["eos_token_id"] = EosTokenIds.Count == 1 ? EosTokenIds[0] : EosTokenIds.Count == 0 ? null : EosTokenIds.ToArray(),
        };
        if (ConfiguredHeadDim is { } headDim)
            fields["head_dim"] = headDim;
        if (IsQwen2)
        {
            fields["use_sliding_window"] = false;
        }
        else
        {
            fields["attention_bias"] = AttentionBias;
            fields["mlp_bias"] = MlpBias;
        }
        return JsonFields.Format(fields);
    }

    /// <summary>Writes config.json atomically.</summary>
    public void Write(string path) => AtomicFile.WriteAllBytes(path, System.Text.Encoding.UTF8.GetBytes(ToJson()));
}
