using System.Globalization;
using System.Text.RegularExpressions;
using Terse.IO;

namespace Terse.Neural.Checkpoints;

/// <summary>
/// A PEFT <c>adapter_config.json</c> for a LoRA adapter. Settings that change which tensors exist
/// or how they combine in ways this record does not model (DoRA, per-module rank or alpha
/// patterns, adapter types other than LoRA) are refused when reading rather than silently ignored.
/// </summary>
public sealed record LoraAdapterConfig
{
    /// <summary>PEFT's shorthand for every linear layer except the output head.</summary>
    public const string AllLinear = "all-linear";

    private static readonly TimeSpan PatternTimeout = TimeSpan.FromMilliseconds(200);

    /// <summary>The rank r: lora_A is [r, in_features], lora_B is [out_features, r].</summary>
    public required int Rank { get; init; }

    /// <summary>lora_alpha; the update is scaled by <see cref="Scaling"/>.</summary>
    public required double Alpha { get; init; }

    public double Dropout { get; init; }

    /// <summary>
    /// Module names ("q_proj", …) or paths; PEFT targets a module whose path equals an entry or ends
    /// with "." + entry. Empty when <see cref="TargetModulesPattern"/> is used instead.
    /// </summary>
    public IReadOnlyList<string> TargetModules { get; init; } = [];

    /// <summary>target_modules given as a single string: a regular expression the whole module path must match, or "all-linear".</summary>
    public string? TargetModulesPattern { get; init; }

    /// <summary>"none", "all" or "lora_only": which biases the adapter trains.</summary>
    public string Bias { get; init; } = "none";

    public string? BaseModelNameOrPath { get; init; }

    /// <summary>True when the base layer stores weights as [in, out] (GPT-2's Conv1D); false for Llama.</summary>
    public bool FanInFanOut { get; init; }

    /// <summary>Rank-stabilised LoRA: scale by alpha / √r instead of alpha / r.</summary>
    public bool UseRslora { get; init; }

    public string TaskType { get; init; } = "CAUSAL_LM";

    /// <summary>Only these layer indices carry the adapter; null means every layer.</summary>
    public IReadOnlyList<int>? LayersToTransform { get; init; }

    /// <summary>Modules saved whole alongside the adapter (for instance a resized lm_head).</summary>
    public IReadOnlyList<string> ModulesToSave { get; init; } = [];

    public double Scaling => UseRslora ? Alpha / Math.Sqrt(Rank) : Alpha / Rank;

    /// <summary>Whether the adapter applies to <paramref name="projection"/> in <paramref name="layer"/>, by PEFT's matching rules.</summary>
    public bool Targets(int layer, LlamaProjection projection)
    {
        if (LayersToTransform is { } layers && !layers.Contains(layer))
            return false;
        string path = HuggingFaceLlamaNames.ModulePath(layer, projection);
        if (TargetModulesPattern is { } pattern)
        {
            if (pattern == AllLinear)
                return true;
            try
            {
                return Regex.IsMatch(path, $"^(?:{pattern})\\z", RegexOptions.CultureInvariant, PatternTimeout);
            }
            catch (RegexMatchTimeoutException)
            {
                throw new InvalidDataException($"target_modules pattern '{pattern}' takes too long to match '{path}'");
            }
        }
        return TargetModules.Any(target => path == target || path.EndsWith("." + target, StringComparison.Ordinal));
    }

    public static LoraAdapterConfig Read(string path) => Parse(JsonFields.ReadFile(path), path);

    /// <summary>Parses adapter_config.json text; a missing, mistyped or unsupported field is an <see cref="InvalidDataException"/>.</summary>
    public static LoraAdapterConfig Parse(string json, string source = "adapter_config.json") =>
        JsonFields.Parse(json, source, fields =>
        {
            string peftType = fields.String("peft_type") ?? throw fields.Error("peft_type", "is required");
            if (peftType != "LORA")
                throw fields.Error("peft_type", "must be \"LORA\" (other adapter types are not supported)");
            if (fields.Bool("use_dora") == true)
                throw fields.Error("use_dora", "is not supported (DoRA adds magnitude vectors)");
            foreach (string pattern in new[] { "rank_pattern", "alpha_pattern" })
            {
                if (fields.IsNonEmptyObject(pattern))
                    throw fields.Error(pattern, "is not supported: every module must share r and lora_alpha");
            }

            IReadOnlyList<string> targets = [];
            string? targetPattern = null;
            if (fields.Get("target_modules") is { ValueKind: System.Text.Json.JsonValueKind.String })
            {
                targetPattern = fields.String("target_modules")!;
                if (targetPattern != AllLinear)
                {
                    try { _ = new Regex(targetPattern, RegexOptions.CultureInvariant, PatternTimeout); }
                    catch (ArgumentException) { throw fields.Error("target_modules", "is not a valid regular expression"); }
                }
            }
            else
            {
                targets = fields.StringList("target_modules") ?? throw fields.Error("target_modules", "is required");
                if (targets.Count == 0)
                    throw fields.Error("target_modules", "must name at least one module");
            }

            double alpha = fields.Number("lora_alpha") ?? 8; // PEFT's default
            if (alpha <= 0)
                throw fields.Error("lora_alpha", "must be positive");
            double dropout = fields.Number("lora_dropout") ?? 0;
            if (dropout is < 0 or >= 1)
                throw fields.Error("lora_dropout", "must be in [0, 1)");
            string bias = fields.String("bias") ?? "none";
            if (bias is not ("none" or "all" or "lora_only"))
                throw fields.Error("bias", "must be \"none\", \"all\" or \"lora_only\"");

            return new LoraAdapterConfig
            {
                Rank = fields.RequiredInt("r", 1),
                Alpha = alpha,
                Dropout = dropout,
                TargetModules = targets,
                TargetModulesPattern = targetPattern,
                Bias = bias,
                BaseModelNameOrPath = fields.String("base_model_name_or_path"),
                FanInFanOut = fields.Bool("fan_in_fan_out") ?? false,
                UseRslora = fields.Bool("use_rslora") ?? false,
                TaskType = fields.String("task_type") ?? "CAUSAL_LM",
                LayersToTransform = fields.IntOrIntList("layers_to_transform", 0),
                ModulesToSave = fields.StringList("modules_to_save") ?? [],
            };
        });

    /// <summary>The adapter_config.json text, as PEFT writes it (indented, keys sorted).</summary>
    public string ToJson()
    {
        if (Rank <= 0 || !(Alpha > 0) || Dropout is < 0 or >= 1 || (TargetModules.Count == 0) == (TargetModulesPattern is null))
            throw new ArgumentException("inconsistent LoRA configuration: r and lora_alpha must be positive, lora_dropout in [0, 1), and exactly one of TargetModules / TargetModulesPattern given");
        var fields = new Dictionary<string, object?>
        {
            ["peft_type"] = "LORA",
            ["task_type"] = TaskType,
            ["r"] = Rank,
            // PEFT types lora_alpha as an int; keep whole values integral.
            ["lora_alpha"] = Alpha == Math.Floor(Alpha) && Alpha < int.MaxValue ? (int)Alpha : Alpha,
            ["lora_dropout"] = Dropout,
            ["target_modules"] = TargetModulesPattern is { } pattern ? pattern : TargetModules.ToArray(),
            ["bias"] = Bias,
            ["base_model_name_or_path"] = BaseModelNameOrPath,
            ["fan_in_fan_out"] = FanInFanOut,
            ["use_rslora"] = UseRslora,
            ["use_dora"] = false,
            ["layers_to_transform"] = LayersToTransform?.ToArray(),
            ["layers_pattern"] = null,
            ["modules_to_save"] = ModulesToSave.Count == 0 ? null : ModulesToSave.ToArray(),
            ["rank_pattern"] = new Dictionary<string, int>(),
            ["alpha_pattern"] = new Dictionary<string, int>(),
            ["inference_mode"] = true,
            ["init_lora_weights"] = true,
            ["revision"] = null,
        };
        return JsonFields.Format(fields);
    }

    /// <summary>Writes adapter_config.json atomically.</summary>
    public void Write(string path) => AtomicFile.WriteAllBytes(path, System.Text.Encoding.UTF8.GetBytes(ToJson()));
}

/// <summary>
/// PEFT's tensor names in adapter_model.safetensors for a LoRA adapter on a Llama-family model:
/// "base_model.model." + the module path + ".lora_A.weight" / ".lora_B.weight" (the adapter's own
/// name is not part of saved keys). lora_A is [r, in_features]; lora_B is [out_features, r].
/// </summary>
public static class PeftLoraNames
{
    public const string Prefix = "base_model.model.";

    public static string LoraA(int layer, LlamaProjection projection) => $"{Prefix}{HuggingFaceLlamaNames.ModulePath(layer, projection)}.lora_A.weight";

    public static string LoraB(int layer, LlamaProjection projection) => $"{Prefix}{HuggingFaceLlamaNames.ModulePath(layer, projection)}.lora_B.weight";

    /// <summary>Shapes of lora_A [r, in] and lora_B [out, r] for a projection.</summary>
    public static (long[] A, long[] B) Shapes(HuggingFaceLlamaConfig model, LlamaProjection projection, int rank)
    {
        var (outFeatures, inFeatures) = HuggingFaceLlamaNames.ProjectionSize(model, projection);
        return ([rank, inFeatures], [outFeatures, rank]);
    }

    /// <summary>Recognises a LoRA tensor name; false for anything else (including malformed layer numbers).</summary>
    public static bool TryParse(string name, out int layer, out LlamaProjection projection, out bool isA)
    {
        layer = 0;
        projection = default;
        isA = false;
        const string LayersPrefix = Prefix + "model.layers.";
        if (!name.StartsWith(LayersPrefix, StringComparison.Ordinal))
            return false;
        var rest = name.AsSpan(LayersPrefix.Length);
        int dot = rest.IndexOf('.');
        if (dot <= 0 || (dot > 1 && rest[0] == '0') || !int.TryParse(rest[..dot], NumberStyles.None, CultureInfo.InvariantCulture, out layer))
            return false;
        foreach (var candidate in Enum.GetValues<LlamaProjection>())
        {
            foreach (bool a in new[] { true, false })
            {
                if (name == (a ? LoraA(layer, candidate) : LoraB(layer, candidate)))
                {
                    projection = candidate;
                    isA = a;
                    return true;
                }
            }
        }
        return false;
    }

    /// <summary>Every tensor an adapter of <paramref name="adapter"/> on <paramref name="model"/> holds, with its shape.</summary>
    public static IReadOnlyList<(string Name, long[] Shape)> ExpectedTensors(HuggingFaceLlamaConfig model, LoraAdapterConfig adapter)
    {
        var tensors = new List<(string, long[])>();
        for (int layer = 0; layer < model.NumHiddenLayers; layer++)
        {
            foreach (var projection in Enum.GetValues<LlamaProjection>())
            {
                if (!adapter.Targets(layer, projection))
                    continue;
                var (a, b) = Shapes(model, projection, adapter.Rank);
                tensors.Add((LoraA(layer, projection), a));
                tensors.Add((LoraB(layer, projection), b));
            }
        }
        return tensors;
    }

    /// <summary>
    /// Checks that an adapter file holds exactly the LoRA tensors the two configurations imply, with
    /// their shapes (modules_to_save and trained biases are tolerated). Throws <see cref="InvalidDataException"/>.
    /// </summary>
    public static void Check(IEnumerable<TensorInfo> tensors, HuggingFaceLlamaConfig model, LoraAdapterConfig adapter, string source = "adapter_model.safetensors") =>
        HuggingFaceLlamaNames.CheckTensors(tensors, ExpectedTensors(model, adapter),
            name => (adapter.Bias != "none" && name.EndsWith(".bias", StringComparison.Ordinal))
                || adapter.ModulesToSave.Any(module => name.Contains("." + module + ".", StringComparison.Ordinal) || name.StartsWith(Prefix + module + ".", StringComparison.Ordinal)),
            source, "adapter_config.json");
}
