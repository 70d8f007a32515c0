using Terse.Neural.Checkpoints;

namespace Terse.Neural;

/// <summary>
/// LoRA adapters saved alone, as PEFT does: <c>adapter_config.json</c> + <c>adapter_model.safetensors</c>
/// with PEFT's tensor names; B factors of q/k projections are stored in Hugging Face's rotate-half row
/// order, like the base weights they modify.
/// </summary>
public static class AdapterFiles
{
    private const string ConfigFile = "adapter_config.json", WeightsFile = "adapter_model.safetensors";

    public static void Save(LoraAdapter adapter, string directory)
    {
        var c = adapter.Model.Config;
        Terse.IO.AtomicFile.CreateFolder(directory);
        var tensors = new List<NamedTensor>();
        var config = ToPeft(adapter.Settings, c);
        for (int layer = 0; layer < c.Layers; layer++)
            foreach (var projection in Enum.GetValues<LlamaProjection>())
            {
                if (adapter.Pair(layer, projection) is not { } pair)
                    continue;
                tensors.Add(NamedTensor.FromFloat32(PeftLoraNames.LoraA(layer, projection), Shape(pair.A), pair.A.Value.Span));
                tensors.Add(NamedTensor.FromFloat32(PeftLoraNames.LoraB(layer, projection), Shape(pair.B),
                    ModelFiles.ToHuggingFaceLayout(c, pair.B.Name, pair.B.Value.Span)));
            }
        Safetensors.Write(Path.Combine(directory, WeightsFile), tensors);
        config.Write(Path.Combine(directory, ConfigFile));
    }

    /// <summary>Reads an adapter folder and attaches it to <paramref name="model"/> under <paramref name="name"/>.</summary>
    public static LoraAdapter Load(LlamaModel model, string directory, string name)
    {
        string configPath = Path.Combine(directory, ConfigFile), weightsPath = Path.Combine(directory, WeightsFile);
        if (!File.Exists(configPath) || !File.Exists(weightsPath))
            throw new FileNotFoundException($"an adapter folder holds {ConfigFile} and {WeightsFile}: {directory}");
        var peft = LoraAdapterConfig.Read(configPath);
        if (peft.UseRslora || peft.Bias != "none" || peft.ModulesToSave.Count > 0)
            throw new InvalidDataException($"{configPath}: rsLoRA, trained biases and modules_to_save are not supported");
        var c = model.Config;
        var targets = Enum.GetValues<LlamaProjection>().Where(p => Enumerable.Range(0, c.Layers).Any(l => peft.Targets(l, p))).ToArray();
        var layers = Enumerable.Range(0, c.Layers).Where(l => targets.Any(p => peft.Targets(l, p))).ToArray();
        if (targets.Length == 0)
            throw new InvalidDataException($"{configPath}: the adapter targets no projection of this model");
        var settings = new LoraSettings(peft.Rank, (float)peft.Alpha, (float)peft.Dropout, targets, layers);
        using var reader = Safetensors.Open(weightsPath);
        PeftLoraNames.Check(reader.Tensors, ModelFiles.ToHuggingFace(c), peft, weightsPath);
        var adapter = model.AddAdapter(name, settings);
        try
        {
            for (int layer = 0; layer < c.Layers; layer++)
                foreach (var projection in targets)
                {
                    if (adapter.Pair(layer, projection) is not { } pair)
                        continue;
                    if (!peft.Targets(layer, projection))
                        throw new InvalidDataException($"{configPath}: adapters that target different projections in different layers are not supported");
                    reader.ReadFloat32(PeftLoraNames.LoraA(layer, projection), pair.A.Value.Span);
                    reader.ReadFloat32(PeftLoraNames.LoraB(layer, projection), pair.B.Value.Span);
                    ModelFiles.RequireFinite(pair.A.Value.Span, weightsPath, PeftLoraNames.LoraA(layer, projection));
                    ModelFiles.RequireFinite(pair.B.Value.Span, weightsPath, PeftLoraNames.LoraB(layer, projection));
                    ModelFiles.FromHuggingFaceLayout(c, pair.B.Name, pair.B.Value.Span);
                }
        }
        catch
        {
            model.RemoveAdapter(name);
            throw;
        }
        return adapter;
    }

    private static long[] Shape(Parameter parameter) => parameter.Shape.Select(s => (long)s).ToArray();

    private static LoraAdapterConfig ToPeft(LoraSettings settings, LlamaConfig c) => new()
    {
        Rank = settings.Rank,
        Alpha = settings.Alpha,
        Dropout = settings.Dropout,
        TargetModules = settings.TargetProjections.Distinct().Order().Select(HuggingFaceLlamaNames.ModuleName).ToArray(),
        LayersToTransform = settings.Layers is null ? null : settings.Layers.Distinct().Order().ToArray(),
    };
}
