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

    /// <summary><c>rope_scaling</c> (or <c>rope_parameters</c>); null for the default rotary embedding.</summary>
    public RopeScaling? RopeScaling { get; init; }

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

    public const string GenerationConfigFile = "generation_config.json";

    /// <summary>
    /// This configuration with the <c>bos_token_id</c> / <c>eos_token_id</c> of a generation_config.json,
    /// which transformers' generation prefers to config.json's; fields it leaves out keep config.json's.
    /// </summary>
    public HuggingFaceLlamaConfig WithGenerationConfig(string path) =>
        JsonFields.Parse(JsonFields.ReadFile(path), path, fields =>
        {
            var bos = fields.Int("bos_token_id", 0);
            var eos = fields.IntOrIntList("eos_token_id", 0);
            if (bos >= VocabSize)
                throw fields.Error("bos_token_id", $"must be below vocab_size {VocabSize}");
            if (eos?.Any(id => id >= VocabSize) == true)
                throw fields.Error("eos_token_id", $"must be below vocab_size {VocabSize}");
            return this with { BosTokenId = bos ?? BosTokenId, EosTokenIds = eos ?? EosTokenIds };
        });

    /// <summary>Parses config.json text; a missing, mistyped, inconsistent or unsupported field is an <see cref="InvalidDataException"/>.</summary>
    public static HuggingFaceLlamaConfig Parse(string json, string source = "config.json") =>
        JsonFields.Parse(json, source, fields =>
        {
            string architecture = ReadArchitecture(fields);
            if (fields.String("hidden_act") is { } activation && activation != "silu")
                throw fields.Error("hidden_act", "must be \"silu\" (SwiGLU) for a Llama-family model");
            if (fields.Bool("use_sliding_window") == true)
                throw fields.Error("use_sliding_window", "is not supported (sliding-window attention)");
            int maxPositions = fields.Int("max_position_embeddings", 1) ?? 2048;
            var (scaling, ropeTheta) = ReadRopeParameters(fields, maxPositions);

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
                MaxPositionEmbeddings = maxPositions,
                RopeTheta = fields.Number("rope_theta") ?? ropeTheta ?? 10000,
                RopeScaling = scaling,
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
    /// Reads <c>rope_scaling</c> and its newer name <c>rope_parameters</c> (which may also carry rope_theta):
    /// the scaling (null for the default rotary embedding) and the theta found there, if any. Types the
    /// engine does not implement are refused, naming the field.
    /// </summary>
    private static (RopeScaling? Scaling, double? Theta) ReadRopeParameters(JsonFields fields, int maxPositions)
    {
        var (scaling, theta) = ReadRopeObject(fields, "rope_scaling", maxPositions);
        var (newScaling, newTheta) = ReadRopeObject(fields, "rope_parameters", maxPositions);
        if (scaling is not null && newScaling is not null && scaling != newScaling)
            throw fields.Error("rope_parameters", "disagrees with rope_scaling");
        return (scaling ?? newScaling, theta ?? newTheta);
    }

    private static (RopeScaling? Scaling, double? Theta) ReadRopeObject(JsonFields fields, string field, int maxPositions)
    {
        if (fields.Object(field) is not { } rope)
            return (null, null);
        // transformers reads "rope_type" and falls back to the older "type".
        string typeField = rope.Get("rope_type") is not null ? "rope_type" : "type";
        string type = rope.String(typeField) ?? throw rope.Error("rope_type", "is required");
        if (rope.Number("partial_rotary_factor") is { } partial && partial != 1)
            throw rope.Error("partial_rotary_factor", "other than 1 is not supported (the engine rotates whole heads)");
        double Required(string name) => rope.Number(name) ?? throw rope.Error(name, $"is required for rope_type \"{type}\"");
        RopeScaling? scaling = type switch
        {
            "default" => null,
            "linear" => new RopeScaling { Type = RopeScalingType.Linear, Factor = Required("factor") },
            // transformers' dynamic NTK measures the sequence against max_position_embeddings itself.
            "dynamic" => new RopeScaling { Type = RopeScalingType.Dynamic, Factor = Required("factor"), OriginalMaxPositions = maxPositions },
            "llama3" => new RopeScaling
            {
                Type = RopeScalingType.Llama3,
                Factor = Required("factor"),
                LowFrequencyFactor = Required("low_freq_factor"),
                HighFrequencyFactor = Required("high_freq_factor"),
                OriginalMaxPositions = rope.RequiredInt("original_max_position_embeddings", 1),
            },
            "yarn" => ReadYarn(rope, maxPositions, Required("factor")),
            _ => throw rope.Error(typeField, "must be \"default\", \"linear\", \"dynamic\", \"llama3\" or \"yarn\" (the rotary scalings the engine implements)"),
        };
        if (scaling?.Problem() is { } problem)
            throw new InvalidDataException($"{fields.Source}: field '{field}': {problem}");
        return (scaling, rope.Number("rope_theta"));
    }

    /// <summary>YaRN as transformers reads it: a stated original length replaces the factor with max_position_embeddings / original.</summary>
    private static RopeScaling ReadYarn(JsonFields rope, int maxPositions, double factor)
    {
        int? original = rope.Int("original_max_position_embeddings", 1);
        if (original is { } o)
            factor = maxPositions / (double)o;
        // transformers' `get(...) or default`: 0 counts as absent.
        double OrDefault(string name, double fallback) => rope.Number(name) is { } v && v != 0 ? v : fallback;
        return new RopeScaling
        {
            Type = RopeScalingType.Yarn,
            Factor = factor,
            OriginalMaxPositions = original ?? maxPositions,
            BetaFast = OrDefault("beta_fast", 32),
            BetaSlow = OrDefault("beta_slow", 1),
            AttentionFactor = rope.Number("attention_factor") ?? RopeScaling.YarnAttentionFactor(factor, rope.Number("mscale"), rope.Number("mscale_all_dim")),
            Truncate = rope.Bool("truncate") ?? true,
        };
    }

    /// <summary>The rope_scaling object transformers reads back as <paramref name="scaling"/>.</summary>
    private Dictionary<string, object?>? RopeScalingJson()
    {
        if (RopeScaling is not { } s)
            return null;
        var json = new Dictionary<string, object?> { ["rope_type"] = s.TypeName, ["factor"] = s.Factor };
        switch (s.Type)
        {
            case RopeScalingType.Llama3:
                json["low_freq_factor"] = s.LowFrequencyFactor;
                json["high_freq_factor"] = s.HighFrequencyFactor;
                json["original_max_position_embeddings"] = s.OriginalMaxPositions;
                break;
            case RopeScalingType.Yarn:
                // Stated only when it differs, since transformers then derives the factor from it.
                if (s.OriginalMaxPositions != MaxPositionEmbeddings)
                    json["original_max_position_embeddings"] = s.OriginalMaxPositions;
                json["beta_fast"] = s.BetaFast;
                json["beta_slow"] = s.BetaSlow;
                json["attention_factor"] = s.AttentionFactor;
                json["truncate"] = s.Truncate;
                break;
        }
        return json;
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
        if (RopeScaling?.Problem() is { } scaling)
            return scaling;
        if (RopeScaling?.Type == RopeScalingType.Dynamic && RopeScaling.OriginalMaxPositions != MaxPositionEmbeddings)
            return $"dynamic rope scaling measures against max_position_embeddings {MaxPositionEmbeddings}, not {RopeScaling.OriginalMaxPositions}";
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
            ["rope_scaling"] = RopeScalingJson(),
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
