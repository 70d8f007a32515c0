using Terse.Neural;
using Terse.Neural.Checkpoints;

namespace Terse.Gmsa;

/// <summary>
/// A GMSA context compressor (Tang et al. 2025) on a frozen base LLM, which is also its decoder:
/// the encoder is the base's first k layers with a LoRA adapter (<see cref="Encoder"/>); group
/// merging turns its last hidden states into one vector per r tokens; Layer Semantic Alignment
/// (LSA: transformer blocks initialised from the decoder's first layers, with their own weights)
/// maps those high-level vectors into the decoder's input-embedding space; the decoder reads them
/// as input embeddings (soft tokens). <see cref="Keft"/> is the optional decoder adapter of
/// knowledge-extraction fine-tuning (LoRA on q, k, v). Saved as a folder by <see cref="Save"/>.
/// </summary>
public sealed class GmsaModel
{
    public const string EncoderAdapterName = "gmsa-encoder", KeftAdapterName = "gmsa-keft";
    private const string ConfigFile = "gmsa.json", WeightsFile = "gmsa.safetensors", EncoderFolder = "encoder", KeftFolder = "keft";
    private const string Format = "terse-gmsa/1";
    private const string MarkerName = "gmsa.ae_marker", MemoryName = "gmsa.memory_tokens", LsaPrefix = "gmsa.lsa.";

    private readonly ParameterSet _own = new();

    /// <summary>A fresh compressor: encoder adapter at zero (B = 0), LSA copied from the decoder's first layers.</summary>
    public GmsaModel(LlamaModel decoder, GmsaSettings settings, int seed = 1)
        : this(decoder, settings, seed, attachEncoder: true)
    {
    }

    private GmsaModel(LlamaModel decoder, GmsaSettings settings, int seed, bool attachEncoder)
    {
        if (settings.Problem(decoder.Config) is { } problem)
            throw new ArgumentException($"invalid GMSA settings: {problem}", nameof(settings));
        Decoder = decoder;
        Settings = settings;
        var c = decoder.Config;
        if (attachEncoder)
            Encoder = decoder.AddAdapter(EncoderAdapterName, EncoderLora(settings), seed);
        if (settings.LsaLayers > 0)
        {
            // One block (or a few) with its own weights: a model of LsaLayers layers whose embedding
            // and head are never used (vocabulary 1).
            Lsa = new LlamaModel(c with { Layers = settings.LsaLayers, VocabSize = 1 });
            foreach (var parameter in LsaLayerParameters)
                decoder.Parameters[parameter.Name].Value.Span.CopyTo(parameter.Value.Span);
        }
        // The reconstruction marker ([AE] in the paper's prompt) starts as the BOS embedding.
        Marker = _own.Add(MarkerName, 1, c.Dim);
        int bos = Math.Min(1, c.VocabSize - 1);
        decoder.Parameters[HuggingFaceLlamaNames.Embedding].Value.Span.Slice(bos * c.Dim, c.Dim).CopyTo(Marker.Value.Span);
        if (settings.Merge == MergeMode.Memory)
        {
            Memory = _own.Add(MemoryName, settings.MaxSoftTokens, c.Dim);
            var embedding = decoder.Parameters[HuggingFaceLlamaNames.Embedding].Value.Span;
            float std = MathF.Sqrt(System.Numerics.Tensors.TensorPrimitives.SumOfSquares(embedding) / embedding.Length);
            var random = new Random(seed);
            foreach (ref float value in Memory.Value.Span)
                value = std * LlamaModel.Gaussian(random);
        }
    }

    /// <summary>The frozen base model: the decoder, and (with <see cref="Encoder"/>) the encoder.</summary>
    public LlamaModel Decoder { get; }

    public GmsaSettings Settings { get; }

    /// <summary>LoRA adapter of the encoder (layers [0, k) of the base).</summary>
    public LoraAdapter Encoder { get; private set; } = null!;

    /// <summary>Decoder adapter of knowledge-extraction fine-tuning, if trained.</summary>
    public LoraAdapter? Keft { get; private set; }

    /// <summary>The LSA blocks as a model of <see cref="GmsaSettings.LsaLayers"/> layers (null without LSA).</summary>
    internal LlamaModel? Lsa { get; }

    /// <summary>The learned [AE] embedding that asks the decoder to reconstruct.</summary>
    internal Parameter Marker { get; }

    /// <summary>Memory-token embeddings of the <see cref="MergeMode.Memory"/> baseline (else null).</summary>
    internal Parameter? Memory { get; }

    internal int Bos => Math.Min(1, Decoder.Config.VocabSize - 1);

    internal IEnumerable<Parameter> LsaLayerParameters =>
        Lsa is null ? [] : Lsa.Parameters.Where(p => p.Name.StartsWith("model.layers.", StringComparison.Ordinal));

    /// <summary>What autoencoder pretraining trains: encoder adapter, LSA, marker (and memory tokens; and the decoder adapter when it joins).</summary>
    internal IEnumerable<Parameter> AutoencoderParameters =>
        Encoder.Parameters.Concat(LsaLayerParameters).Concat(_own).Concat(ReconstructionAdapter?.Parameters ?? Enumerable.Empty<Parameter>());

    /// <summary>
    /// Adaptation, not in the paper: the decoder adapter (<see cref="Keft"/>) also trains during
    /// autoencoder pretraining and reads the soft tokens when reconstructing — for decoders too
    /// small to copy from their context when frozen.
    /// </summary>
    public bool DecoderAdapterInAutoencoder { get; set; }

    /// <summary>The decoder adapter reconstruction runs with (null: the frozen base, as in the paper).</summary>
    internal LoraAdapter? ReconstructionAdapter => DecoderAdapterInAutoencoder ? Keft : null;

    /// <summary>Where the base model and tokenizer came from (a path or a built-in name), kept in gmsa.json so commands can default to them.</summary>
    public string? BaseModelSource { get; set; }

    public string? TokenizerSource { get; set; }

    /// <summary>Attaches a fresh KEFT adapter (LoRA on the decoder's q, k, v projections, B = 0).</summary>
    public LoraAdapter AddKeft(int rank, float alpha, int seed = 1)
    {
        if (Keft is not null)
            throw new InvalidOperationException("this compressor already has a KEFT adapter");
        Keft = Decoder.AddAdapter(KeftAdapterName, new LoraSettings(rank, alpha, 0f, [LlamaProjection.Query, LlamaProjection.Key, LlamaProjection.Value]), seed);
        return Keft;
    }

    private static LoraSettings EncoderLora(GmsaSettings settings) =>
        new(settings.LoraRank, settings.LoraAlpha, 0f, Enum.GetValues<LlamaProjection>(), Enumerable.Range(0, settings.EncoderLayers).ToArray());

    /// <summary>
    /// Writes the folder: gmsa.json (settings and the base model's identity), gmsa.safetensors (LSA
    /// blocks, [AE] marker, memory tokens), encoder/ and keft/ (PEFT adapter folders).
    /// </summary>
    public void Save(string directory)
    {
        Terse.IO.AtomicFile.CreateFolder(directory);
        AdapterFiles.Save(Encoder, Path.Combine(directory, EncoderFolder));
        if (Keft is not null)
            AdapterFiles.Save(Keft, Path.Combine(directory, KeftFolder));
        var tensors = new List<NamedTensor>();
        foreach (var parameter in LsaLayerParameters)
            tensors.Add(NamedTensor.FromFloat32(LsaPrefix + parameter.Name, Shape(parameter), ModelFiles.ToHuggingFaceLayout(Lsa!.Config, parameter.Name, parameter.Value.Span)));
        foreach (var parameter in _own)
            tensors.Add(NamedTensor.FromFloat32(parameter.Name, Shape(parameter), parameter.Value.Span));
        string weights = Path.Combine(directory, WeightsFile);
        IO.AtomicFile.WriteAllBytes(weights, Safetensors.Serialize(tensors, Safetensors.PyTorchMetadata));
        var s = Settings;
        string json = JsonFields.Format(new Dictionary<string, object?>
        {
            ["format"] = Format,
            ["encoder_layers"] = s.EncoderLayers,
            ["lsa_layers"] = s.LsaLayers,
            ["merge"] = s.Merge.ToString().ToLowerInvariant(),
            ["rates"] = s.TrainingRates.ToArray(),
            ["segment_length"] = s.SegmentLength,
            ["lora_rank"] = s.LoraRank,
            ["lora_alpha"] = s.LoraAlpha,
            ["base_identity"] = Convert.ToHexStringLower(Decoder.ComputeIdentity()),
            ["keft"] = Keft is not null,
            ["decoder_adapter_in_autoencoder"] = DecoderAdapterInAutoencoder,
            ["base_model"] = BaseModelSource,
            ["tokenizer"] = TokenizerSource,
        });
        IO.AtomicFile.WriteAllBytes(Path.Combine(directory, ConfigFile), System.Text.Encoding.UTF8.GetBytes(json));
    }

    /// <summary>
    /// Reads a folder written by <see cref="Save"/> and attaches its adapters to
    /// <paramref name="decoder"/>, which must be the base model it was trained on (checked by identity).
    /// </summary>
    public static GmsaModel Load(LlamaModel decoder, string directory)
    {
        string configPath = Path.Combine(directory, ConfigFile);
        var (settings, identity, hasKeft, sources, joint) = ParseConfig(JsonFields.ReadFile(configPath), configPath);
        if (settings.Problem(decoder.Config) is { } problem)
            throw new InvalidDataException($"{configPath}: {problem}");
        if (!string.Equals(identity, Convert.ToHexStringLower(decoder.ComputeIdentity()), StringComparison.Ordinal))
            throw new InvalidDataException($"{configPath}: trained on another base model (identity {identity[..Math.Min(16, identity.Length)]}…); pass the model it was trained with");
        var model = new GmsaModel(decoder, settings, seed: 1, attachEncoder: false)
        {
            BaseModelSource = sources.Model,
            TokenizerSource = sources.Tokenizer,
            DecoderAdapterInAutoencoder = joint,
        };
        if (joint && !hasKeft)
            throw new InvalidDataException($"{configPath}: decoder_adapter_in_autoencoder needs the keft adapter");
        string weights = Path.Combine(directory, WeightsFile);
        var attached = new List<string>();
        try
        {
            model.Encoder = AdapterFiles.Load(decoder, Path.Combine(directory, EncoderFolder), EncoderAdapterName);
            attached.Add(EncoderAdapterName);
            if (!model.Encoder.Settings.Layers!.SequenceEqual(Enumerable.Range(0, settings.EncoderLayers)) || model.Encoder.Settings.Rank != settings.LoraRank)
                throw new InvalidDataException($"{directory}: the encoder adapter does not match encoder_layers {settings.EncoderLayers} / lora_rank {settings.LoraRank}");
            if (hasKeft)
            {
                model.Keft = AdapterFiles.Load(decoder, Path.Combine(directory, KeftFolder), KeftAdapterName);
                attached.Add(KeftAdapterName);
            }
            using var reader = Safetensors.Open(weights);
            foreach (var parameter in model.LsaLayerParameters)
            {
                Expect(reader, LsaPrefix + parameter.Name, parameter, weights);
                reader.ReadFloat32(LsaPrefix + parameter.Name, parameter.Value.Span);
                ModelFiles.FromHuggingFaceLayout(model.Lsa!.Config, parameter.Name, parameter.Value.Span);
            }
            foreach (var parameter in model._own)
            {
                Expect(reader, parameter.Name, parameter, weights);
                reader.ReadFloat32(parameter.Name, parameter.Value.Span);
            }
        }
        catch
        {
            foreach (string name in attached)
                decoder.RemoveAdapter(name);
            throw;
        }
        return model;
    }

    /// <summary>gmsa.json apart from the weights it describes, so that the fuzzer reaches it without a model folder.</summary>
    internal static (GmsaSettings Settings, string BaseIdentity, bool HasKeft, (string? Model, string? Tokenizer) Sources, bool DecoderAdapterInAutoencoder) ParseConfig(
        string json, string configPath) => JsonFields.Parse(json, configPath, fields =>
    {
        if (fields.String("format") != Format)
            throw fields.Error("format", $"must be \"{Format}\"");
        string merge = fields.String("merge") ?? throw fields.Error("merge", "is required");
        if (!Enum.TryParse<MergeMode>(merge, ignoreCase: true, out var mode) || !Enum.IsDefined(mode) || int.TryParse(merge, out _))
            throw fields.Error("merge", "must be mean, last or memory");
        var rates = fields.IntOrIntList("rates", 1) ?? throw fields.Error("rates", "is required");
        var s = new GmsaSettings(
            fields.RequiredInt("encoder_layers", 1),
            fields.Int("lsa_layers", 0) ?? throw fields.Error("lsa_layers", "is required"),
            mode,
            rates.ToArray(),
            fields.RequiredInt("segment_length", 1),
            fields.RequiredInt("lora_rank", 1),
            (float)(fields.Number("lora_alpha") ?? throw fields.Error("lora_alpha", "is required")));
        return (s, fields.String("base_identity") ?? throw fields.Error("base_identity", "is required"), fields.Bool("keft") ?? false,
            (Model: fields.String("base_model"), Tokenizer: fields.String("tokenizer")), fields.Bool("decoder_adapter_in_autoencoder") ?? false);
    });

    /// <summary>The base model and tokenizer recorded in a compressor folder (null when not recorded), to load before <see cref="Load"/>.</summary>
    public static (string? Model, string? Tokenizer) ReadSources(string directory)
    {
        string configPath = Path.Combine(directory, ConfigFile);
        return JsonFields.Parse(JsonFields.ReadFile(configPath), configPath, fields => (fields.String("base_model"), fields.String("tokenizer")));
    }

    /// <summary>Removes this compressor's adapters from the base model (so another can be attached).</summary>
    public void Detach()
    {
        Decoder.RemoveAdapter(EncoderAdapterName);
        if (Keft is not null)
            Decoder.RemoveAdapter(KeftAdapterName);
    }

    private static void Expect(SafetensorsReader reader, string name, Parameter parameter, string source)
    {
        if (!reader.TryGetInfo(name, out var info))
            throw new InvalidDataException($"{source}: tensor '{name}' is missing");
        if (!info.ShapeArray.SequenceEqual(Shape(parameter)))
            throw new InvalidDataException($"{source}: tensor '{name}' has shape {NamedTensor.FormatShape(info.ShapeArray)}, expected {NamedTensor.FormatShape(Shape(parameter))}");
    }

    private static long[] Shape(Parameter parameter) => parameter.Shape.Select(s => (long)s).ToArray();
}
