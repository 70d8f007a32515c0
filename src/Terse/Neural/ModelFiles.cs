using System.Numerics.Tensors;
using Terse.Neural.Checkpoints;

namespace Terse.Neural;

/// <summary>
/// Loads and saves whole models in the formats the engine reads: llama2.c <c>.bin</c> checkpoints and
/// Hugging Face folders (<c>config.json</c> + <c>model.safetensors</c>, Llama or Qwen2). The engine
/// keeps q/k projection rows in llama2.c's interleaved rotary order; Hugging Face files hold them in
/// rotate-half order, so they are permuted on the way in and out (<see cref="RotaryLayout"/>).
/// </summary>
public static class ModelFiles
{
    private const string ConfigFile = "config.json", WeightsFile = "model.safetensors";

    /// <summary>A Hugging Face folder, a <c>.safetensors</c> file beside its config.json, or a llama2.c checkpoint.</summary>
    public static LlamaModel Load(string path)
    {
        if (Directory.Exists(path))
            return LoadHuggingFace(Path.Combine(path, ConfigFile), Path.Combine(path, WeightsFile));
        if (!File.Exists(path))
            throw new FileNotFoundException($"no such model: {path}", path);
        if (path.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase))
            return LoadHuggingFace(Path.Combine(Path.GetDirectoryName(Path.GetFullPath(path))!, ConfigFile), path);
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

    private static LlamaModel LoadHuggingFace(string configPath, string weightsPath)
    {
        if (!File.Exists(configPath))
            throw new FileNotFoundException($"no config.json beside the weights: {configPath}", configPath);
        if (!File.Exists(weightsPath))
            throw new FileNotFoundException($"no weights file: {weightsPath}", weightsPath);
        var hf = HuggingFaceLlamaConfig.Read(configPath);
        var model = new LlamaModel(FromHuggingFace(hf, configPath));
        using var reader = Safetensors.Open(weightsPath);
        HuggingFaceLlamaNames.Check(reader.Tensors, hf, weightsPath);
        foreach (var parameter in model.Parameters)
        {
            reader.ReadFloat32(parameter.Name, parameter.Value.Span);
            FromHuggingFaceLayout(model.Config, parameter.Name, parameter.Value.Span);
            RequireFinite(parameter.Value.Span, weightsPath, parameter.Name);
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
        var config = new LlamaConfig(hf.HiddenSize, hf.IntermediateSize, hf.NumHiddenLayers, hf.NumAttentionHeads, hf.NumKeyValueHeads,
            hf.VocabSize, hf.MaxPositionEmbeddings, (float)hf.RopeTheta, (float)hf.RmsNormEps, hf.TieWordEmbeddings, hf.HasQkvBias);
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
        MaxPositionEmbeddings = c.MaxSequenceLength,
        RopeTheta = c.RopeTheta,
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
