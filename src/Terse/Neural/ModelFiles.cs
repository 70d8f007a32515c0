using System.Numerics.Tensors;
using Terse.Neural.Checkpoints;

namespace Terse.Neural;

/// <summary>
/// Loads and saves whole models in the formats the engine reads: llama2.c <c>.bin</c> checkpoints and
/// Hugging Face folders (<c>config.json</c> + <c>model.safetensors</c> or shards listed by
/// <c>model.safetensors.index.json</c>, Llama or Qwen2; <c>generation_config.json</c>'s bos/eos ids). The engine
/// keeps q/k projection rows in llama2.c's interleaved rotary order; Hugging Face files hold them in
/// rotate-half order, so they are permuted on the way in and out (<see cref="RotaryLayout"/>).
/// </summary>
public static class ModelFiles
{
    private const string ConfigFile = "config.json", WeightsFile = SafetensorsShards.SingleFile;

    /// <summary>
    /// A Hugging Face folder, a <c>.safetensors</c> file or a <c>model.safetensors.index.json</c> beside
    /// its config.json, or a llama2.c checkpoint.
    /// </summary>
    public static LlamaModel Load(string path)
    {
        if (Directory.Exists(path))
            return LoadHuggingFace(path, () => SafetensorsShards.OpenFolder(path));
        if (!File.Exists(path))
            throw new FileNotFoundException($"no such model: {path}", path);
        string directory = Path.GetDirectoryName(Path.GetFullPath(path))!;
        if (path.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase))
            return LoadHuggingFace(directory, () => SafetensorsShards.OpenFile(path));
        if (path.EndsWith(".safetensors.index.json", StringComparison.OrdinalIgnoreCase))
            return LoadHuggingFace(directory, () => SafetensorsShards.OpenIndex(path));
        return Llama2cCheckpoint.Load(path);
    }

    /// <summary>Writes config.json and model.safetensors (float32, or F16/BF16) into <paramref name="directory"/>.</summary>
    public static void SaveHuggingFace(LlamaModel model, string directory, TensorDType dtype = TensorDType.F32)
    {
        var c = model.Config;
        Terse.IO.AtomicFile.CreateFolder(directory);
        var tensors = new List<NamedTensor>();
        foreach (var parameter in model.Parameters)
        {
            long[] shape = parameter.Shape.Select(s => (long)s).ToArray();
            tensors.Add(NamedTensor.FromFloat32(parameter.Name, shape, ToHuggingFaceLayout(c, parameter.Name, parameter.Value.Span), dtype));
        }
        Safetensors.Write(Path.Combine(directory, WeightsFile), tensors, Safetensors.PyTorchMetadata);
        ToHuggingFace(c, dtype).Write(Path.Combine(directory, ConfigFile));
    }

    private static LlamaModel LoadHuggingFace(string directory, Func<SafetensorsShards> openWeights)
    {
        string configPath = Path.Combine(directory, ConfigFile), generationPath = Path.Combine(directory, HuggingFaceLlamaConfig.GenerationConfigFile);
        if (!File.Exists(configPath))
            throw new FileNotFoundException($"no config.json beside the weights: {configPath}", configPath);
        var hf = HuggingFaceLlamaConfig.Read(configPath);
        if (File.Exists(generationPath))
            hf = hf.WithGenerationConfig(generationPath);
        var model = new LlamaModel(FromHuggingFace(hf, configPath)) { BosTokenId = hf.BosTokenId, EosTokenIds = hf.EosTokenIds };
        using var weights = openWeights();
        HuggingFaceLlamaNames.Check(weights.Tensors, hf, weights.Source);
        foreach (var parameter in model.Parameters)
        {
            weights.ReadFloat32(parameter.Name, parameter.Value.Span);
            FromHuggingFaceLayout(model.Config, parameter.Name, parameter.Value.Span);
            RequireFinite(parameter.Value.Span, weights.Source, parameter.Name);
        }
        return model;
    }

    /// <summary>Weights with a NaN or infinity make every output NaN; refuse them where they are read, naming the tensor.</summary>
    internal static void RequireFinite(ReadOnlySpan<float> values, string file, string tensor)
    {
        if (IndexOfNonFinite(values) is int i and >= 0)
            throw new InvalidDataException($"{file}: {tensor} holds a non-finite value ({values[i]} at index {i})");
    }

    /// <summary>The first NaN or infinity, or −1.</summary>
    internal static int IndexOfNonFinite(ReadOnlySpan<float> values)
    {
        // The sum is finite for finite values of weight-like size: look element by element only when it is not.
        if (float.IsFinite(TensorPrimitives.Sum(values)))
            return -1;
        for (int i = 0; i < values.Length; i++)
            if (!float.IsFinite(values[i]))
                return i;
        return -1;
    }

    /// <summary>The engine's configuration for a Hugging Face one; shapes it cannot run are refused.</summary>
    public static LlamaConfig FromHuggingFace(HuggingFaceLlamaConfig hf, string source = "config.json")
    {
        if (hf.HeadDim * hf.NumAttentionHeads != hf.HiddenSize)
            throw new InvalidDataException($"{source}: head_dim {hf.HeadDim} × {hf.NumAttentionHeads} heads ≠ hidden_size {hf.HiddenSize}, which the engine does not support");
        if (hf.HasOutputBias || hf.MlpBias)
            throw new InvalidDataException($"{source}: o_proj or MLP biases are not supported");
        // Dynamic scaling exists to run past max_position_embeddings; the engine's sessions need a bound.
        int positions = Math.Min(LlamaConfig.MaxPositions, hf.RopeScaling?.ExtendedLength(hf.MaxPositionEmbeddings) ?? hf.MaxPositionEmbeddings);
        var config = new LlamaConfig(hf.HiddenSize, hf.IntermediateSize, hf.NumHiddenLayers, hf.NumAttentionHeads, hf.NumKeyValueHeads,
            hf.VocabSize, positions, (float)hf.RopeTheta, (float)hf.RmsNormEps, hf.TieWordEmbeddings, hf.HasQkvBias, hf.RopeScaling);
        if (config.Problem() is { } problem)
            throw new InvalidDataException($"{source}: {problem}");
        return config;
    }

    public static HuggingFaceLlamaConfig ToHuggingFace(LlamaConfig c, TensorDType dtype = TensorDType.F32) => new()
    {
        Architecture = c.AttentionBias ? HuggingFaceLlamaConfig.Qwen2Architecture : HuggingFaceLlamaConfig.LlamaArchitecture,
        HiddenSize = c.Dim,
        IntermediateSize = c.HiddenDim,
        NumHiddenLayers = c.Layers,
        NumAttentionHeads = c.Heads,
        NumKeyValueHeads = c.KvHeads,
        VocabSize = c.VocabSize,
        MaxPositionEmbeddings = c.RopeScaling?.Type == RopeScalingType.Dynamic ? c.RopeScaling.OriginalMaxPositions : c.MaxSequenceLength,
        RopeTheta = c.RopeTheta,
        RopeScaling = c.RopeScaling,
        RmsNormEps = c.NormEpsilon,
        TieWordEmbeddings = c.TiedEmbeddings,
        TorchDtype = dtype switch { TensorDType.F16 => "float16", TensorDType.BF16 => "bfloat16", _ => "float32" },
        BosTokenId = 1,
        EosTokenIds = [2],
    };

    /// <summary>Rows of q/k weights and biases (and LoRA B factors on them) in rotate-half order; everything else unchanged.</summary>
    internal static float[] ToHuggingFaceLayout(LlamaConfig c, string name, ReadOnlySpan<float> values) =>
        RotaryHeads(c, name) is { } heads ? RotaryLayout.InterleavedToHalves(values, heads, c.HeadSize, values.Length / (heads * c.HeadSize)) : values.ToArray();

    internal static void FromHuggingFaceLayout(LlamaConfig c, string name, Span<float> values)
    {
        if (RotaryHeads(c, name) is { } heads)
            RotaryLayout.HalvesToInterleaved(values.ToArray(), values, heads, c.HeadSize, values.Length / (heads * c.HeadSize));
    }

    /// <summary>Number of rotary heads whose rows a tensor holds (q: heads, k: kv heads), or null when it holds none.</summary>
    private static int? RotaryHeads(LlamaConfig c, string name)
    {
        bool rowsAreOutputs = name.EndsWith("proj.weight", StringComparison.Ordinal) || name.EndsWith("proj.bias", StringComparison.Ordinal)
            || name.EndsWith("proj.lora_B.weight", StringComparison.Ordinal);
        if (!rowsAreOutputs)
            return null;
        if (name.Contains(".q_proj.", StringComparison.Ordinal))
            return c.Heads;
        if (name.Contains(".k_proj.", StringComparison.Ordinal))
            return c.KvHeads;
        return null;
    }
}
