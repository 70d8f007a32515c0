using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Terse.Neural;
using Terse.Neural.Checkpoints;
using Terse.Tokenization;

namespace Terse.ZTokens;

/// <summary>The shape of a Z-token model: how the vocabulary is extended, how long segments and codes are, the adapters' size.</summary>
/// <param name="Codes">|Z|, the number of Z-tokens.</param>
/// <param name="SegmentLength">Text tokens per coded segment (the last segment of a text may be shorter).</param>
/// <param name="MaxCodeLength">Most Z-tokens a segment's code may have.</param>
/// <param name="LoraRank">Rank of both adapters.</param>
/// <param name="LoraAlpha">Alpha of both adapters (scale alpha / rank).</param>
/// <param name="LoraTargets">Projections both adapters modify (default: all seven).</param>
public sealed record ZTokenShape(int Codes = 256, int SegmentLength = 32, int MaxCodeLength = 16, int LoraRank = 8, float LoraAlpha = 16,
    IReadOnlyList<LlamaProjection>? LoraTargets = null)
{
    public IReadOnlyList<LlamaProjection> Targets => LoraTargets ?? Enum.GetValues<LlamaProjection>();

    public LoraSettings Lora => new(LoraRank, LoraAlpha, 0f, Targets);

    /// <summary>Positions the compressor reads: BOS, the segment, Begin, then its own code.</summary>
    public int CompressorPositions => SegmentLength + 2 + MaxCodeLength;

    /// <summary>Positions the decompressor reads: Begin, the code, End (or Continue), the text but its last token.</summary>
    public int DecompressorPositions => MaxCodeLength + 1 + SegmentLength;

    public void Validate(LlamaConfig baseConfig)
    {
        new ZVocabulary(baseConfig.VocabSize, Codes).Validate();
        if (SegmentLength < 1 || SegmentLength > 4096)
            throw new ArgumentOutOfRangeException(nameof(SegmentLength), SegmentLength, "the segment length must be in 1..4096");
        if (MaxCodeLength < 1 || MaxCodeLength > 4096)
            throw new ArgumentOutOfRangeException(nameof(MaxCodeLength), MaxCodeLength, "the longest code must be in 1..4096");
        int needed = Math.Max(CompressorPositions, DecompressorPositions);
        if (needed > baseConfig.MaxSequenceLength)
            throw new ArgumentException($"segments of {SegmentLength} tokens with codes of up to {MaxCodeLength} need {needed} positions; the model has {baseConfig.MaxSequenceLength}");
    }
}

/// <summary>
/// One frozen base model turned into a Z-token compressor and decompressor (Li et al. 2026): the
/// vocabulary extended by |Z| Z-tokens and three delimiters (new embedding / classifier rows, the old
/// rows frozen), and two named LoRA adapters on the same base — <see cref="Compressor"/> reads a text
/// segment and emits its Z code, <see cref="Decompressor"/> reads the code and writes the text back.
/// Only the new rows and the adapters train. Saved as a folder: <c>ztokens.json</c>,
/// <c>z_rows.safetensors</c> and the two adapters in PEFT's layout.
/// </summary>
public sealed class ZTokenModel
{
    public const string CompressorName = "compressor", DecompressorName = "decompressor";
    private const string Format = "terse-ztokens/1", ManifestFile = "ztokens.json", RowsFile = "z_rows.safetensors";

    private byte[]? _identity;

    private ZTokenModel(LlamaModel model, ZVocabulary vocabulary, ZTokenShape shape, int bos, string baseName, byte[] baseIdentity,
        LoraAdapter compressor, LoraAdapter decompressor, Parameter stopBias)
    {
        StopBias = stopBias;
        Model = model;
        Vocabulary = vocabulary;
        Shape = shape;
        Bos = bos;
        BaseName = baseName;
        BaseIdentity = baseIdentity;
        Compressor = compressor;
        Decompressor = decompressor;
    }

    /// <summary>The extended model (base weights frozen).</summary>
    public LlamaModel Model { get; }

    public ZVocabulary Vocabulary { get; }

    public ZTokenShape Shape { get; }

    /// <summary>The token the compressor's input starts with, as the base model was trained (1 for llama2.c models).</summary>
    public int Bos { get; }

    /// <summary>How the base model was named when this was built: <c>stories260K</c> or a path.</summary>
    public string BaseName { get; }

    /// <summary><see cref="LlamaModel.ComputeIdentity"/> of the base model before it was extended.</summary>
    public byte[] BaseIdentity { get; }

    public LoraAdapter Compressor { get; }

    public LoraAdapter Decompressor { get; }

    /// <summary>
    /// A learned scalar added to the End logit when the compressor chooses its next symbol. The new
    /// rows start with logits of order 1 over |Z| + 1 choices, so without it stopping would start as
    /// unlikely as any one code (p ≈ 1/|Z| a step: almost never explored). It starts at ln(|Z|·4/n),
    /// which makes stopping about as likely a step as a code length of n/4 suggests.
    /// </summary>
    internal Parameter StopBias { get; }

    public const string StopBiasName = "z.stop_bias";

    /// <summary>The parameters training changes: the embedding (whose base rows stay frozen), the untied classifier if any, the stop bias, both adapters.</summary>
    internal IReadOnlyList<Parameter> Trainable =>
        [.. Model.Parameters.Where(p => !p.Frozen), StopBias, .. Compressor.Parameters, .. Decompressor.Parameters];

    /// <summary>The compressor's choice logits (the |Z| codes, then End with the stop bias) out of a full logit row.</summary>
    internal void EmitLogits(ReadOnlySpan<float> logits, Span<float> emit)
    {
        logits.Slice(Vocabulary.FirstCode, Vocabulary.EmitChoices).CopyTo(emit);
        emit[^1] += StopBias.Value.Span[0];
    }

    /// <summary>
    /// Extends <paramref name="baseModel"/> (which this takes over: its vocabulary grows and its weights
    /// are frozen) with new rows and two fresh adapters (LoRA's B = 0, so both start as the base).
    /// </summary>
    public static ZTokenModel Create(LlamaModel baseModel, string baseName, ZTokenShape shape, int bos, int seed = 1)
    {
        ArgumentNullException.ThrowIfNull(baseModel);
        shape.Validate(baseModel.Config);
        if ((uint)bos >= (uint)baseModel.Config.VocabSize)
            throw new ArgumentOutOfRangeException(nameof(bos), bos, "BOS must be a token of the base vocabulary");
        if (baseModel.Adapters.Count > 0)
            throw new ArgumentException("the base model must not carry adapters", nameof(baseModel));
        byte[] baseIdentity = baseModel.ComputeIdentity();
        var vocabulary = new ZVocabulary(baseModel.Config.VocabSize, shape.Codes);
        baseModel.AddVocabularyRows(vocabulary.AddedRows, seed);
        foreach (var parameter in baseModel.Parameters)
            parameter.Frozen = parameter.FrozenRows == 0;
        ScaleNewRows(baseModel, vocabulary);
        var stopBias = new Parameter(StopBiasName, [1]);
        stopBias.Value.Span[0] = MathF.Log(Math.Max(1f, vocabulary.CodeCount / (float)Math.Max(1, shape.SegmentLength / 4)));
        var compressor = baseModel.AddAdapter(CompressorName, shape.Lora, unchecked(seed * 31 + 1));
        var decompressor = baseModel.AddAdapter(DecompressorName, shape.Lora, unchecked(seed * 31 + 2));
        return new ZTokenModel(baseModel, vocabulary, shape, bos, baseName, baseIdentity, compressor, decompressor, stopBias);
    }

    /// <summary>
    /// Starts code j as a copy of base token <paramref name="tokens"/>[j] (its embedding and, when
    /// untied, its classifier row): the frozen base then already reads and writes the codes as the
    /// tokens they copy — it can copy a segment into codes and back (induction) — which gives the
    /// estimators a signal to start from. Random rows give none: measured, docs/ztokens.md.
    /// </summary>
    public void InitializeCodesFrom(IReadOnlyList<int> tokens)
    {
        if (tokens.Count != Vocabulary.CodeCount)
            throw new ArgumentException($"need one base token per code ({Vocabulary.CodeCount}), got {tokens.Count}", nameof(tokens));
        foreach (var parameter in RowParameters)
        {
            int d = parameter.Shape[1];
            var values = parameter.Value.Span;
            for (int j = 0; j < tokens.Count; j++)
            {
                if ((uint)tokens[j] >= (uint)Vocabulary.BaseSize)
                    throw new ArgumentOutOfRangeException(nameof(tokens), tokens[j], "not a base token");
                values.Slice(tokens[j] * d, d).CopyTo(values.Slice((Vocabulary.FirstCode + j) * d, d));
            }
        }
        CodeTokens = [.. tokens];
        InvalidateIdentity();
    }

    /// <summary>The base token each code was copied from by <see cref="InitializeCodesFrom"/> (null when not; not saved).</summary>
    internal IReadOnlyList<int>? CodeTokens { get; private set; }

    /// <summary>The <paramref name="count"/> most frequent tokens of <paramref name="corpus"/> (ties: lower id first), padded with unused ids in order.</summary>
    public static int[] MostFrequentTokens(ReadOnlySpan<int> corpus, int vocabularySize, int count)
    {
        var counts = new long[vocabularySize];
        foreach (int id in corpus)
            if ((uint)id < (uint)vocabularySize)
                counts[id]++;
        return [.. Enumerable.Range(0, vocabularySize).OrderByDescending(id => counts[id]).ThenBy(id => id).Take(count)];
    }

    /// <summary>
    /// Rescales the new rows so that their logits start with standard deviation about 1: a logit is
    /// h·e with h the final-normed hidden state, whose norm is about ‖final norm weight‖. Rows drawn
    /// like the base rows give stories260K code logits with σ ≈ 4, a softmax so peaked that the
    /// Gumbel-softmax gradient vanishes (measured; docs/ztokens.md).
    /// </summary>
    private static void ScaleNewRows(LlamaModel model, ZVocabulary vocabulary)
    {
        float hiddenNorm = MathF.Sqrt(System.Numerics.Tensors.TensorPrimitives.SumOfSquares(model.FinalNorm.Value.Span));
        foreach (var parameter in RowParametersOf(model))
        {
            var rows = parameter.Value.Span[(vocabulary.BaseSize * parameter.Shape[1])..];
            float rms = MathF.Sqrt(System.Numerics.Tensors.TensorPrimitives.SumOfSquares(rows) / rows.Length);
            if (rms > 0 && hiddenNorm > 0)
                System.Numerics.Tensors.TensorPrimitives.Multiply(rows, 1f / (rms * hiddenNorm), rows);
        }
    }

    /// <summary>
    /// SHA-256 over the extended model (configuration, base weights, new rows) and both adapters:
    /// a container names the model that made it by this. Computed once: call
    /// <see cref="InvalidateIdentity"/> after changing weights.
    /// </summary>
    public byte[] Identity => _identity ??= ComputeIdentity();

    internal void InvalidateIdentity() => _identity = null;

    private byte[] ComputeIdentity()
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData(Encoding.UTF8.GetBytes($"{Format} codes={Vocabulary.CodeCount} segment={Shape.SegmentLength} max_code={Shape.MaxCodeLength} bos={Bos}\n"));
        hash.AppendData(Model.ComputeIdentity());
        hash.AppendData(BitConverter.GetBytes(BitConverter.SingleToInt32Bits(StopBias.Value.Span[0])));
        foreach (var adapter in new[] { Compressor, Decompressor })
        {
            hash.AppendData(Encoding.UTF8.GetBytes($"{adapter.Name} rank={adapter.Settings.Rank} alpha={adapter.Settings.Alpha.ToString("R", CultureInfo.InvariantCulture)}\n"));
            foreach (var parameter in adapter.Parameters)
            {
                hash.AppendData(Encoding.UTF8.GetBytes(parameter.Name + "\n"));
                var values = parameter.Value.Span;
                if (BitConverter.IsLittleEndian)
                    hash.AppendData(System.Runtime.InteropServices.MemoryMarshal.AsBytes(values));
                else
                    foreach (float value in values)
                        hash.AppendData(BitConverter.GetBytes(BitConverter.SingleToInt32Bits(value)).Reverse().ToArray());
            }
        }
        return hash.GetHashAndReset();
    }

    /// <summary>The manifest of a saved model (<c>ztokens.json</c>).</summary>
    public sealed record Manifest
    {
        public string Format { get; init; } = ZTokenModel.Format;
        public required string BaseModel { get; init; }
        public required string BaseIdentity { get; init; }
        public required int BaseVocabulary { get; init; }
        public required string Tokenizer { get; init; }
        public required string TokenizerFingerprint { get; init; }
        public required int Bos { get; init; }
        public required int Codes { get; init; }
        public required int SegmentLength { get; init; }
        public required int MaxCodeLength { get; init; }
        public required int LoraRank { get; init; }
        public required float LoraAlpha { get; init; }
        public required string[] LoraTargets { get; init; }
        public required string Identity { get; init; }
        /// <summary>What trained it (settings and final figures), for people; not read back.</summary>
        public JsonElement? Training { get; init; }
    }

    private static readonly JsonSerializerOptions s_json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    /// <summary>Writes the folder (created if needed): manifest, new rows, both adapters.</summary>
    public void Save(string directory, Tokenizer tokenizer, object? training = null)
    {
        Terse.IO.AtomicFile.CreateFolder(directory);
        var tensors = new List<NamedTensor>();
        foreach (var parameter in RowParameters)
        {
            int d = parameter.Shape[1];
            var rows = parameter.Value.Span[(Vocabulary.BaseSize * d)..];
            tensors.Add(NamedTensor.FromFloat32(parameter.Name, [Vocabulary.AddedRows, d], rows));
        }
        tensors.Add(NamedTensor.FromFloat32(StopBiasName, [1], StopBias.Value.Span));
        Safetensors.Write(Path.Combine(directory, RowsFile), tensors);
        AdapterFiles.Save(Compressor, Path.Combine(directory, CompressorName));
        AdapterFiles.Save(Decompressor, Path.Combine(directory, DecompressorName));
        var manifest = new Manifest
        {
            BaseModel = BaseName,
            BaseIdentity = Convert.ToHexStringLower(BaseIdentity),
            BaseVocabulary = Vocabulary.BaseSize,
            Tokenizer = tokenizer.Name,
            TokenizerFingerprint = Convert.ToHexStringLower(tokenizer.Fingerprint),
            Bos = Bos,
            Codes = Vocabulary.CodeCount,
            SegmentLength = Shape.SegmentLength,
            MaxCodeLength = Shape.MaxCodeLength,
            LoraRank = Shape.LoraRank,
            LoraAlpha = Shape.LoraAlpha,
            LoraTargets = [.. Shape.Targets.Select(HuggingFaceLlamaNames.ModuleName)],
            Identity = Convert.ToHexStringLower(Identity),
            Training = training is null ? null : JsonSerializer.SerializeToElement(training, s_json),
        };
        Terse.IO.AtomicFile.WriteAllBytes(Path.Combine(directory, ManifestFile), Encoding.UTF8.GetBytes(JsonSerializer.Serialize(manifest, s_json)));
    }

    /// <summary>Reads only the manifest of a saved model.</summary>
    public static Manifest ReadManifest(string directory)
    {
        string path = Path.Combine(directory, ManifestFile);
        if (!File.Exists(path))
            throw new FileNotFoundException($"not a Z-token model folder (no {ManifestFile}): {directory}", path);
        Manifest? manifest;
        try
        {
            manifest = JsonSerializer.Deserialize<Manifest>(File.ReadAllText(path), s_json);
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}: {e.Message}", e);
        }
        if (manifest is null || manifest.Format != Format)
            throw new InvalidDataException($"{path}: not a {Format} manifest");
        // `required` only demands that a key be present: JSON null still deserializes.
        if (manifest.BaseModel is null || manifest.Tokenizer is null || manifest.LoraTargets is null || manifest.LoraTargets.Any(t => t is null))
            throw new InvalidDataException($"{path}: base_model, tokenizer and lora_targets must not be null");
        foreach (var (name, hex) in new[] { ("base_identity", manifest.BaseIdentity), ("tokenizer_fingerprint", manifest.TokenizerFingerprint), ("identity", manifest.Identity) })
            if (hex is null || hex.Length is 0 or > 128 || hex.Length % 2 != 0 || !hex.All(char.IsAsciiHexDigit))
                throw new InvalidDataException($"{path}: {name} must be a hex string of at most 64 bytes");
        return manifest;
    }

    /// <summary>
    /// Loads a saved model onto its base, which <paramref name="loadBase"/> supplies from the recorded
    /// name (a fresh copy: it is extended). The base's identity and the whole model's are checked.
    /// </summary>
    public static ZTokenModel Load(string directory, Func<string, LlamaModel> loadBase)
    {
        var manifest = ReadManifest(directory);
        string Where(string what) => $"{Path.Combine(directory, ManifestFile)}: {what}";
        var baseModel = loadBase(manifest.BaseModel);
        string baseIdentity = Convert.ToHexStringLower(baseModel.ComputeIdentity());
        if (baseIdentity != manifest.BaseIdentity)
            throw new InvalidDataException(Where($"the base model '{manifest.BaseModel}' has identity {baseIdentity}, but this Z-token model was trained on {manifest.BaseIdentity}"));
        if (baseModel.Config.VocabSize != manifest.BaseVocabulary)
            throw new InvalidDataException(Where($"the base vocabulary has {baseModel.Config.VocabSize} rows, the manifest says {manifest.BaseVocabulary}"));
        LlamaProjection[] targets;
        try
        {
            targets = [.. manifest.LoraTargets.Select(name => Enum.GetValues<LlamaProjection>().First(p => HuggingFaceLlamaNames.ModuleName(p) == name))];
        }
        catch (InvalidOperationException)
        {
            throw new InvalidDataException(Where($"unknown LoRA target in [{string.Join(", ", manifest.LoraTargets)}]"));
        }
        var shape = new ZTokenShape(manifest.Codes, manifest.SegmentLength, manifest.MaxCodeLength, manifest.LoraRank, manifest.LoraAlpha, targets);
        try
        {
            shape.Validate(baseModel.Config);
        }
        catch (ArgumentException e)
        {
            throw new InvalidDataException(Where(e.Message), e);
        }
        if ((uint)manifest.Bos >= (uint)baseModel.Config.VocabSize)
            throw new InvalidDataException(Where($"BOS {manifest.Bos} is outside the base vocabulary"));
        var vocabulary = new ZVocabulary(baseModel.Config.VocabSize, shape.Codes);
        baseModel.AddVocabularyRows(vocabulary.AddedRows);
        foreach (var parameter in baseModel.Parameters)
            parameter.Frozen = parameter.FrozenRows == 0;
        var rowParameters = RowParametersOf(baseModel);
        var stopBias = new Parameter(StopBiasName, [1]);
        using (var reader = Safetensors.Open(Path.Combine(directory, RowsFile)))
        {
            if (!reader.TryGetInfo(StopBiasName, out var biasInfo) || biasInfo.Shape.Count != 1 || biasInfo.Shape[0] != 1)
                throw new InvalidDataException($"{Path.Combine(directory, RowsFile)}: no tensor '{StopBiasName}' of shape [1]");
            reader.ReadFloat32(StopBiasName, stopBias.Value.Span);
            foreach (var parameter in rowParameters)
            {
                int d = parameter.Shape[1];
                var info = reader.TryGetInfo(parameter.Name, out var found) ? found
                    : throw new InvalidDataException($"{Path.Combine(directory, RowsFile)}: no tensor '{parameter.Name}'");
                if (info.Shape.Count != 2 || info.Shape[0] != vocabulary.AddedRows || info.Shape[1] != d)
                    throw new InvalidDataException($"{Path.Combine(directory, RowsFile)}: '{parameter.Name}' has shape [{string.Join(", ", info.Shape)}], expected [{vocabulary.AddedRows}, {d}]");
                reader.ReadFloat32(parameter.Name, parameter.Value.Span[(vocabulary.BaseSize * d)..]);
            }
        }
        var compressor = AdapterFiles.Load(baseModel, Path.Combine(directory, CompressorName), CompressorName);
        var decompressor = AdapterFiles.Load(baseModel, Path.Combine(directory, DecompressorName), DecompressorName);
        foreach (var adapter in new[] { compressor, decompressor })
            if (adapter.Settings.Rank != shape.LoraRank || adapter.Settings.Alpha != shape.LoraAlpha)
                throw new InvalidDataException(Where($"adapter '{adapter.Name}' has rank {adapter.Settings.Rank} and alpha {adapter.Settings.Alpha}, the manifest says {shape.LoraRank} and {shape.LoraAlpha}"));
        var model = new ZTokenModel(baseModel, vocabulary, shape, manifest.Bos, manifest.BaseModel, Convert.FromHexString(manifest.BaseIdentity), compressor, decompressor, stopBias);
        string identity = Convert.ToHexStringLower(model.Identity);
        if (identity != manifest.Identity)
            throw new InvalidDataException(Where($"the loaded weights have identity {identity}, the manifest records {manifest.Identity}: the folder was changed or is incomplete"));
        return model;
    }

    private IReadOnlyList<Parameter> RowParameters => RowParametersOf(Model);

    /// <summary>The embedding, and the classifier when it is not tied to it.</summary>
    private static IReadOnlyList<Parameter> RowParametersOf(LlamaModel model) =>
        model.Config.TiedEmbeddings ? [model.Embedding] : [model.Embedding, model.Classifier];
}
