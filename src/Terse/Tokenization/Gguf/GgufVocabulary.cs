using Terse.Tokenization.BytePair;
using Terse.Tokenization.HuggingFace;
using Terse.Tokenization.PreTokenization;
using Terse.Tokenization.SentencePiece;

namespace Terse.Tokenization.Gguf;

/// <summary>
/// The tokenizer stored in a GGUF file's <c>tokenizer.ggml.*</c> metadata, in a neutral form:
/// token strings, and depending on the model scores and token types (SentencePiece-style
/// <c>"llama"</c>) or merges (byte-level BPE <c>"gpt2"</c>), plus the special ids.
/// <see cref="ToTokenizer"/> builds the tokenizer.
/// </summary>
public sealed class GgufVocabulary
{
    private GgufVocabulary(string source, string model)
    {
        Source = source;
        Model = model;
    }

    /// <summary>File name the vocabulary came from.</summary>
    public string Source { get; }

    /// <summary><c>tokenizer.ggml.model</c>: "llama" (SentencePiece BPE), "gpt2" (byte-level BPE), …</summary>
    public string Model { get; }

    /// <summary><c>tokenizer.ggml.pre</c>: the pre-tokenizer name for byte-level BPE (e.g. "gpt-2", "qwen2").</summary>
    public string? PreTokenizer { get; private init; }

    public IReadOnlyList<string> Tokens { get; private init; } = [];
    public IReadOnlyList<float>? Scores { get; private init; }
    /// <summary>Token types with SentencePiece's numbering (1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte).</summary>
    public IReadOnlyList<int>? TokenTypes { get; private init; }
    /// <summary>Byte-level BPE merges as stored, "left right", highest priority first.</summary>
    public IReadOnlyList<string>? Merges { get; private init; }

    public int? BosId { get; private init; }
    public int? EosId { get; private init; }
    public int? UnknownId { get; private init; }
    public int? PaddingId { get; private init; }
    public bool? AddBos { get; private init; }
    public bool? AddEos { get; private init; }
    public bool? AddSpacePrefix { get; private init; }
    public bool? RemoveExtraWhitespaces { get; private init; }

    public static GgufVocabulary Load(string path) => FromFile(GgufFile.Load(path), Path.GetFileName(path));

    public static GgufVocabulary FromBytes(ReadOnlySpan<byte> data, string source) => FromFile(GgufFile.Parse(data, source), source);

    public static GgufVocabulary FromFile(GgufFile file, string source)
    {
        var metadata = file.Metadata;
        string model = Get<string>(metadata, "tokenizer.ggml.model", source)
            ?? throw new InvalidDataException($"{source}: GGUF file has no tokenizer (tokenizer.ggml.model is missing)");
        var tokens = GetArray<string>(metadata, "tokenizer.ggml.tokens", source)
            ?? throw new InvalidDataException($"{source}: GGUF tokenizer has no tokenizer.ggml.tokens");
        if (tokens.Length == 0)
            throw new InvalidDataException($"{source}: tokenizer.ggml.tokens is empty");
        var scores = GetArray<float>(metadata, "tokenizer.ggml.scores", source);
        var types = GetArray<int>(metadata, "tokenizer.ggml.token_type", source);
        if (scores is not null && scores.Length != tokens.Length)
            throw new InvalidDataException($"{source}: {scores.Length} scores for {tokens.Length} tokens");
        if (types is not null && types.Length != tokens.Length)
            throw new InvalidDataException($"{source}: {types.Length} token types for {tokens.Length} tokens");

        return new GgufVocabulary(source, model)
        {
            PreTokenizer = Get<string>(metadata, "tokenizer.ggml.pre", source),
            Tokens = tokens,
            Scores = scores,
            TokenTypes = types,
            Merges = GetArray<string>(metadata, "tokenizer.ggml.merges", source),
            BosId = TokenId(metadata, "tokenizer.ggml.bos_token_id", tokens.Length, source),
            EosId = TokenId(metadata, "tokenizer.ggml.eos_token_id", tokens.Length, source),
            UnknownId = TokenId(metadata, "tokenizer.ggml.unknown_token_id", tokens.Length, source),
            PaddingId = TokenId(metadata, "tokenizer.ggml.padding_token_id", tokens.Length, source),
            AddBos = Get<bool?>(metadata, "tokenizer.ggml.add_bos_token", source),
            AddEos = Get<bool?>(metadata, "tokenizer.ggml.add_eos_token", source),
            AddSpacePrefix = Get<bool?>(metadata, "tokenizer.ggml.add_space_prefix", source),
            RemoveExtraWhitespaces = Get<bool?>(metadata, "tokenizer.ggml.remove_extra_whitespaces", source),
        };
    }

    /// <summary>
    /// The tokenizer for this vocabulary. <c>"llama"</c> gives a <see cref="SentencePieceTokenizer"/>
    /// (byte fallback when the vocabulary has byte tokens, llama.cpp's defaults for the space prefix);
    /// <c>"gpt2"</c> gives a byte-level BPE tokenizer over the same core as Hugging Face's files, with
    /// the pre-tokenizer <c>tokenizer.ggml.pre</c> names. Other models throw <see cref="NotSupportedException"/>.
    /// </summary>
    public Tokenizer ToTokenizer()
    {
        switch (Model)
        {
            case "llama":
                return new SentencePieceTokenizer(ToSentencePieceModel(), Source);
            case "gpt2":
                return ToBytePairTokenizer();
            default:
                throw new NotSupportedException($"{Source}: GGUF tokenizer model '{Model}' is not supported (supported: 'llama')");
        }
    }

    /// <summary>llama.cpp's <c>tokenizer.ggml.pre</c> names → our pre-tokenizer families (byte-level BPE only).</summary>
    private static readonly Dictionary<string, string> PreTokenizerFamilies = new(StringComparer.Ordinal)
    {
        ["default"] = "gpt2", ["gpt-2"] = "gpt2", ["llama-bpe"] = "llama3", ["llama3"] = "llama3", ["qwen2"] = "qwen2",
    };

    private Tokenizer ToBytePairTokenizer()
    {
        if (Merges is null)
            throw new InvalidDataException($"{Source}: a 'gpt2' vocabulary without tokenizer.ggml.merges");
        var preName = PreTokenizer ?? "default";
        if (!PreTokenizerFamilies.TryGetValue(preName, out var family))
            throw new NotSupportedException($"{Source}: GGUF pre-tokenizer '{preName}' is not supported (supported: {string.Join(", ", PreTokenizerFamilies.Keys)})");
        // Control tokens (type 3) are the specials; user-defined ones (type 4) too, as llama.cpp splits them out.
        var specials = new List<SpecialToken>();
        for (int id = 0; id < Tokens.Count; id++)
        {
            if (TokenTypes?[id] is (int)PieceType.Control or (int)PieceType.UserDefined)
                specials.Add(new SpecialToken(Tokens[id], id));
        }
        return HuggingFaceLoader.FromTokenLists(Source, Tokens, Merges, specials, PreTokenizers.ByName(family),
            AddBos == true ? BosId : null, EosId, Source);
    }

    internal SentencePieceModel ToSentencePieceModel()
    {
        int count = Tokens.Count;
        var types = new PieceType[count];
        for (int i = 0; i < count; i++)
        {
            int type = TokenTypes?[i] ?? (int)PieceType.Normal;
            if (type is < 1 or > 6)
                throw new InvalidDataException($"{Source}: token {i} has type {type}, not one of 1..6");
            types[i] = (PieceType)type;
        }
        var scores = new float[count];
        for (int i = 0; i < count; i++)
            scores[i] = Scores?[i] ?? 0f;
        return new SentencePieceModel
        {
            Source = Source,
            Pieces = Tokens.ToArray(),
            Scores = scores,
            Types = types,
            ModelType = SentencePieceModelType.Bpe,
            // llama.cpp has no byte_fallback flag: byte tokens in the vocabulary are used when present.
            ByteFallback = types.Contains(PieceType.Byte),
            AddDummyPrefix = AddSpacePrefix ?? true,
            RemoveExtraWhitespaces = RemoveExtraWhitespaces ?? false,
            // llama.cpp's defaults for SentencePiece vocabularies when the ids are absent.
            BosId = BosId ?? 1,
            EosId = EosId ?? 2,
            PadId = PaddingId ?? -1,
        };
    }

    private static T? Get<T>(IReadOnlyDictionary<string, object> metadata, string key, string source)
    {
        if (!metadata.TryGetValue(key, out var value))
            return default;
        if (typeof(T) == typeof(bool?) && value is bool b)
            return (T)(object)b;
        if (value is T typed)
            return typed;
        throw new InvalidDataException($"{source}: metadata '{key}' has type {Describe(value)}, expected {typeof(T).Name.Replace("Nullable`1", "bool")}");
    }

    private static T[]? GetArray<T>(IReadOnlyDictionary<string, object> metadata, string key, string source)
    {
        if (!metadata.TryGetValue(key, out var value))
            return null;
        if (value is GgufArray { Items: T[] items })
            return items;
        throw new InvalidDataException($"{source}: metadata '{key}' has type {Describe(value)}, expected an array of {typeof(T).Name}");
    }

    private static int? TokenId(IReadOnlyDictionary<string, object> metadata, string key, int tokenCount, string source)
    {
        if (!metadata.TryGetValue(key, out var value))
            return null;
        long id = value switch
        {
            uint u => u,
            int i => i,
            ulong ul when ul <= int.MaxValue => (long)ul,
            long l => l,
            _ => throw new InvalidDataException($"{source}: metadata '{key}' has type {Describe(value)}, expected an integer token id"),
        };
        // llama.cpp writes -1 (as uint32 0xFFFFFFFF) for "none".
        if (id is -1 or uint.MaxValue)
            return null;
        if (id < 0 || id >= tokenCount)
            throw new InvalidDataException($"{source}: metadata '{key}' = {id} is outside the {tokenCount} tokens");
        return (int)id;
    }

    private static string Describe(object value) => value is GgufArray array ? $"array of {array.ElementType}" : value.GetType().Name;
}
