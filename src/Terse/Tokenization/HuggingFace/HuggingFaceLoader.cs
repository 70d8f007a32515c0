using System.Globalization;
using System.Text;
using System.Text.Json;
using Terse.Tokenization.BytePair;
using Terse.Tokenization.PreTokenization;

namespace Terse.Tokenization.HuggingFace;

/// <summary>
/// Hugging Face byte-level BPE tokenizers: <c>vocab.json</c> + <c>merges.txt</c> (GPT-2, Qwen2) and
/// <c>tokenizer.json</c> (model type BPE over the GPT-2 byte alphabet, with a ByteLevel or Split
/// pre-tokenizer). Merges apply purely by priority, as Hugging Face's BPE does; a piece that is
/// itself a token short-cuts them only with <c>ignore_merges</c> (Llama 3).
/// </summary>
internal static class HuggingFaceLoader
{
    private const string EndOfText = "<|endoftext|>";

    /// <summary>
    /// <c>…vocab.json</c> with the <c>…merges.txt</c> of the same prefix beside it. The sibling
    /// <c>tokenizer_config.json</c>, if any, gives the added tokens and BOS/EOS, and its
    /// <c>tokenizer_class</c> Qwen2 selects Qwen2's pre-tokenizer and NFC normalization.
    /// </summary>
    public static Tokenizer LoadVocabAndMerges(string vocabPath, TokenizerLoadOptions options)
    {
        var fileName = Path.GetFileName(vocabPath);
        var mergesPath = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(vocabPath))!,
            fileName[..^"vocab.json".Length] + "merges.txt");
        if (!File.Exists(mergesPath))
            throw new FileNotFoundException($"{vocabPath}: its merges file {mergesPath} is missing", mergesPath);

        return FromVocabAndMerges(fileName, File.ReadAllBytes(vocabPath), File.ReadAllBytes(mergesPath),
            TokenizerConfigFile.FindSibling(vocabPath), options, vocabPath, mergesPath);
    }

    internal static BytePairTokenizer FromVocabAndMerges(string name, byte[] vocabJson, byte[] mergesText, TokenizerConfigFile? config,
        TokenizerLoadOptions options, string vocabPath, string mergesPath)
    {
        var vocab = ReadVocab(vocabJson, vocabPath);
        var merges = ReadMergesText(mergesText, mergesPath);

        bool qwen2 = options.PreTokenizer is null
            ? config?.TokenizerClass?.StartsWith("Qwen2", StringComparison.Ordinal) == true
            : options.PreTokenizer.Equals("qwen2", StringComparison.OrdinalIgnoreCase);
        var preTokenizer = options.PreTokenizer is { } family ? PreTokenizers.ByName(family) : qwen2 ? Cl100kScanner.Qwen2 : Gpt2Scanner.Instance;

        IReadOnlyList<SpecialToken> specials;
        int? bos = null, eos = null;
        if (config is not null)
        {
            specials = config.AddedTokens;
            bos = config.IdOf(config.BosText, "bos_token");
            eos = config.IdOf(config.EosText, "eos_token");
        }
        else if (vocab.TryGetValue(EndOfText, out int endOfText))
        {
            // GPT-2's vocab.json without a config: its one control token is <|endoftext|>.
            specials = [new SpecialToken(EndOfText, endOfText)];
            eos = endOfText;
        }
        else
            specials = [];

        return Build(name, vocab, merges, specials, preTokenizer, vocabPath, mergesPath, wholePieceFirst: false,
            qwen2 ? TextNormalization.Nfc : TextNormalization.None, addPrefixSpace: false, bos, eos);
    }

    /// <summary>
    /// A byte-level BPE vocabulary that arrived in another container (a GGUF file's
    /// <c>tokenizer.ggml.*</c> arrays): tokens in id order spelled in the GPT-2 byte alphabet, merges
    /// as <c>"left right"</c> lines in priority order, control tokens as specials.
    /// </summary>
    internal static BytePairTokenizer FromTokenLists(string name, IReadOnlyList<string> tokens, IReadOnlyList<string> mergeLines,
        IReadOnlyList<SpecialToken> specials, PreTokenizer preTokenizer, int? bos, int? eos, string source)
    {
        var vocab = new Dictionary<string, int>(tokens.Count, StringComparer.Ordinal);
        for (int id = 0; id < tokens.Count; id++)
        {
            if (!vocab.TryAdd(tokens[id], id))
                throw new InvalidDataException($"{source}: token '{TokenizerConfigFile.Truncate(tokens[id])}' appears twice (ids {vocab[tokens[id]]} and {id})");
        }
        var merges = new List<(string, string, int)>(mergeLines.Count);
        for (int i = 0; i < mergeLines.Count; i++)
        {
            var line = mergeLines[i];
            int space = line.IndexOf(' ', 1);
            if (space <= 0 || space == line.Length - 1)
                throw new InvalidDataException($"{source}: merge {i + 1} ('{TokenizerConfigFile.Truncate(line)}') is not two tokens separated by a space");
            merges.Add((line[..space], line[(space + 1)..], i + 1));
        }
        return Build(name, vocab, merges, specials, preTokenizer, source, source, wholePieceFirst: false,
            TextNormalization.None, addPrefixSpace: false, bos, eos);
    }

    /// <summary>A Hugging Face <c>tokenizer.json</c> whose model is byte-level BPE.</summary>
    public static Tokenizer LoadTokenizerJson(string path, TokenizerLoadOptions options) =>
        FromTokenizerJson(Path.GetFileName(path), File.ReadAllBytes(path), TokenizerConfigFile.FindSibling(path), options, path);

    internal static BytePairTokenizer FromTokenizerJson(string name, byte[] bytes, TokenizerConfigFile? config, TokenizerLoadOptions options, string path)
    {
        try
        {
            using var document = JsonDocument.Parse(bytes, new JsonDocumentOptions { MaxDepth = 64 });
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                throw new InvalidDataException($"{path}: the top level is not a JSON object");
            var model = Property(root, "model", path, JsonValueKind.Object);
            if (model.TryGetProperty("type", out var type) && type.GetString() != "BPE")
                throw new NotSupportedException($"{path}: model type '{type}' is not byte-level BPE (Terse reads SentencePiece models from .model files)");
            RejectOption(model, "dropout", path);
            RejectOption(model, "continuing_subword_prefix", path);
            RejectOption(model, "end_of_word_suffix", path);
            if (model.TryGetProperty("byte_fallback", out var byteFallback) && byteFallback.ValueKind == JsonValueKind.True)
                throw new NotSupportedException($"{path}: a BPE model with byte_fallback is SentencePiece-style, not byte-level");
            bool ignoreMerges = model.TryGetProperty("ignore_merges", out var ignore) && ignore.ValueKind == JsonValueKind.True;

            var vocab = ReadVocab(Property(model, "vocab", path, JsonValueKind.Object), path);
            var merges = ReadMergesJson(Property(model, "merges", path, JsonValueKind.Array), path);

            var specials = new List<SpecialToken>();
            if (root.TryGetProperty("added_tokens", out var added) && added.ValueKind != JsonValueKind.Null)
            {
                if (added.ValueKind != JsonValueKind.Array)
                    throw new InvalidDataException($"{path}: 'added_tokens' is not an array");
                int index = 0;
                foreach (var token in added.EnumerateArray())
                {
                    var where = $"{path}: added_tokens[{index++}]";
                    if (token.ValueKind != JsonValueKind.Object || !token.TryGetProperty("id", out var id) || id.ValueKind != JsonValueKind.Number
                        || !id.TryGetInt32(out int idValue) || idValue < 0)
                        throw new InvalidDataException($"{where}: 'id' is missing or not a non-negative integer");
                    specials.Add(AddedToken.Read(token, idValue, where));
                }
            }

            var (preTokenizer, addPrefixSpace) = ReadPreTokenizer(root, path, options);
            var normalization = ReadNormalizer(root, path);

            int? bos, eos;
            if (config is not null)
            {
                bos = IdOfAdded(specials, config.BosText, config.Path, "bos_token");
                eos = IdOfAdded(specials, config.EosText, config.Path, "eos_token");
            }
            else
                (bos, eos) = ReadTemplate(root, specials);

            return Build(name, vocab, merges, specials, preTokenizer, path, path, ignoreMerges, normalization, addPrefixSpace, bos, eos);
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException)
        {
            // InvalidOperationException: a string that is not valid UTF-8 (or a lone surrogate escape).
            throw new InvalidDataException($"{path}: malformed JSON ({e.Message})", e);
        }
    }

    private static BytePairTokenizer Build(string name, Dictionary<string, int> vocab, List<(string Left, string Right, int Line)> merges,
        IReadOnlyList<SpecialToken> specials, PreTokenizer preTokenizer, string vocabSource, string mergesSource, bool wholePieceFirst,
        TextNormalization normalization, bool addPrefixSpace, int? bos, int? eos)
    {
        int maxId = vocab.Count == 0 ? -1 : vocab.Values.Max();
        foreach (var special in specials)
            maxId = Math.Max(maxId, special.Id);
        if (maxId >= vocab.Count + specials.Count + Tiktoken.TiktokenRankFile.MaxRankSlack)
            throw new InvalidDataException($"{vocabSource}: id {maxId} is implausibly large for {vocab.Count} tokens");

        var spelled = new byte[]?[vocab.Values.DefaultIfEmpty(-1).Max() + 1];
        var tokenNames = new string?[spelled.Length];
        var mergeable = new List<(byte[] Key, int Value)>(vocab.Count);
        foreach (var (token, id) in vocab)
        {
            if (tokenNames[id] is { } other)
                throw new InvalidDataException($"{vocabSource}: tokens '{TokenizerConfigFile.Truncate(other)}' and '{TokenizerConfigFile.Truncate(token)}' have the same id {id}");
            tokenNames[id] = token;
            // An entry outside the byte alphabet cannot come out of merging bytes; it still decodes, as its UTF-8.
            if (ByteLevelAlphabet.TryGetBytes(token, out var bytes))
            {
                spelled[id] = bytes;
                mergeable.Add((bytes, id));
            }
            else
                spelled[id] = Encoding.UTF8.GetBytes(token);
        }
        var map = ByteSequenceMap.TryBuild(mergeable, out var duplicate)
            ?? throw new InvalidDataException($"{vocabSource}: ids {duplicate.First} and {duplicate.Second} spell the same bytes");

        var byteIds = new int[256];
        for (int b = 0; b < 256; b++)
        {
            if (!vocab.TryGetValue(ByteLevelAlphabet.CharOf((byte)b).ToString(), out byteIds[b]))
                throw new InvalidDataException($"{vocabSource}: no token for the byte 0x{b:X2} ('{ByteLevelAlphabet.CharOf((byte)b)}'), which byte-level BPE needs");
        }

        var rules = new List<MergeRule>(merges.Count);
        for (int priority = 0; priority < merges.Count; priority++)
        {
            var (left, right, line) = merges[priority];
            if (!vocab.TryGetValue(left, out int leftId) || !vocab.TryGetValue(right, out int rightId))
                throw new InvalidDataException($"{mergesSource}: merge {line} ('{TokenizerConfigFile.Truncate(left)} {TokenizerConfigFile.Truncate(right)}') has a part that is not in the vocabulary");
            if (!vocab.TryGetValue(left + right, out int mergedId))
                throw new InvalidDataException($"{mergesSource}: merge {line} makes '{TokenizerConfigFile.Truncate(left + right)}', which is not in the vocabulary");
            rules.Add(new MergeRule(leftId, rightId, priority, mergedId));
        }
        var model = new BytePairModel(byteIds, map, new MergeTable(rules), wholePieceFirst);
        return new BytePairTokenizer(name, model, spelled, specials, preTokenizer, bos, eos, normalization, addPrefixSpace,
            vocabSource == mergesSource ? vocabSource : $"{vocabSource} (+ {Path.GetFileName(mergesSource)})");
    }

    // ---- vocab and merges ----

    private static Dictionary<string, int> ReadVocab(byte[] json, string path)
    {
        try
        {
            using var document = JsonDocument.Parse(json);
            if (document.RootElement.ValueKind != JsonValueKind.Object)
                throw new InvalidDataException($"{path}: the vocabulary is not a JSON object");
            return ReadVocab(document.RootElement, path);
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException)
        {
            // InvalidOperationException: a string that is not valid UTF-8 (or a lone surrogate escape).
            throw new InvalidDataException($"{path}: malformed JSON ({e.Message})", e);
        }
    }

    private static Dictionary<string, int> ReadVocab(JsonElement vocabObject, string path)
    {
        var vocab = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var entry in vocabObject.EnumerateObject())
        {
            if (entry.Value.ValueKind != JsonValueKind.Number || !entry.Value.TryGetInt32(out int id) || id < 0)
                throw new InvalidDataException($"{path}: the id of '{TokenizerConfigFile.Truncate(entry.Name)}' is not a non-negative integer");
            if (entry.Name.Length == 0)
                throw new InvalidDataException($"{path}: the vocabulary has an empty token");
            if (!vocab.TryAdd(entry.Name, id))
                throw new InvalidDataException($"{path}: the token '{TokenizerConfigFile.Truncate(entry.Name)}' appears twice");
        }
        if (vocab.Count == 0)
            throw new InvalidDataException($"{path}: the vocabulary is empty");
        if (vocab.Values.Max() >= vocab.Count + Tiktoken.TiktokenRankFile.MaxRankSlack)
            throw new InvalidDataException($"{path}: id {vocab.Values.Max()} is implausibly large for {vocab.Count} tokens");
        return vocab;
    }

    /// <summary><c>merges.txt</c>: an optional <c>#version</c> line, then one "left right" pair per line.</summary>
    private static List<(string, string, int)> ReadMergesText(byte[] content, string path)
    {
        string text;
        try
        {
            text = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(content);
        }
        catch (DecoderFallbackException)
        {
            throw new InvalidDataException($"{path}: not valid UTF-8");
        }
        var merges = new List<(string, string, int)>();
        int lineNumber = 0;
        foreach (var rawLine in text.Split('\n'))
        {
            lineNumber++;
            var line = rawLine.EndsWith('\r') ? rawLine[..^1] : rawLine;
            if (line.Length == 0 || (lineNumber == 1 && line.StartsWith("#version", StringComparison.Ordinal)))
                continue;
            var parts = line.Split(' ');
            if (parts.Length != 2 || parts[0].Length == 0 || parts[1].Length == 0)
                throw new InvalidDataException($"{path}, line {lineNumber}: expected two tokens separated by one space");
            merges.Add((parts[0], parts[1], lineNumber));
        }
        return merges;
    }

    /// <summary>tokenizer.json merges: "left right" strings or ["left", "right"] arrays.</summary>
    private static List<(string, string, int)> ReadMergesJson(JsonElement array, string path)
    {
        var merges = new List<(string, string, int)>(array.GetArrayLength());
        int index = 0;
        foreach (var merge in array.EnumerateArray())
        {
            index++;
            string? left = null, right = null;
            if (merge.ValueKind == JsonValueKind.String)
            {
                var parts = merge.GetString()!.Split(' ');
                if (parts.Length == 2)
                    (left, right) = (parts[0], parts[1]);
            }
            else if (merge.ValueKind == JsonValueKind.Array && merge.GetArrayLength() == 2
                && merge[0].ValueKind == JsonValueKind.String && merge[1].ValueKind == JsonValueKind.String)
                (left, right) = (merge[0].GetString(), merge[1].GetString());
            if (string.IsNullOrEmpty(left) || string.IsNullOrEmpty(right))
                throw new InvalidDataException($"{path}: model.merges[{index - 1}] is neither \"left right\" nor [\"left\", \"right\"]");
            merges.Add((left, right, index));
        }
        return merges;
    }

    // ---- tokenizer.json parts ----

    private static JsonElement Property(JsonElement element, string name, string path, JsonValueKind kind)
    {
        if (!element.TryGetProperty(name, out var value) || value.ValueKind != kind)
            throw new InvalidDataException($"{path}: '{name}' is missing or not a JSON {kind.ToString().ToLowerInvariant()}");
        return value;
    }

    private static void RejectOption(JsonElement model, string name, string path)
    {
        if (model.TryGetProperty(name, out var value) && value.ValueKind != JsonValueKind.Null
            && !(value.ValueKind == JsonValueKind.String && value.GetString() == ""))
            throw new NotSupportedException($"{path}: model.{name} = {value.GetRawText()} is not supported");
    }

    private static TextNormalization ReadNormalizer(JsonElement root, string path)
    {
        if (!root.TryGetProperty("normalizer", out var normalizer) || normalizer.ValueKind == JsonValueKind.Null)
            return TextNormalization.None;
        var types = new List<string?>();
        if (normalizer.TryGetProperty("type", out var type) && type.GetString() == "Sequence"
            && normalizer.TryGetProperty("normalizers", out var list) && list.ValueKind == JsonValueKind.Array)
            types.AddRange(list.EnumerateArray().Select(n => n.TryGetProperty("type", out var t) ? t.GetString() : null));
        else
            types.Add(normalizer.TryGetProperty("type", out var t) ? t.GetString() : null);
        return types switch
        {
            [] => TextNormalization.None,
            ["NFC"] => TextNormalization.Nfc,
            _ => throw new NotSupportedException($"{path}: normalizer {string.Join(", ", types)} is not supported (only NFC)"),
        };
    }

    /// <summary>ByteLevel (GPT-2's pattern, or none with use_regex false), optionally after one Split regex.</summary>
    private static (PreTokenizer, bool AddPrefixSpace) ReadPreTokenizer(JsonElement root, string path, TokenizerLoadOptions options)
    {
        if (!root.TryGetProperty("pre_tokenizer", out var preTokenizer) || preTokenizer.ValueKind != JsonValueKind.Object)
            throw new NotSupportedException($"{path}: no pre_tokenizer; Terse reads byte-level BPE, whose tokenizer.json has a ByteLevel pre-tokenizer");
        var steps = new List<JsonElement>();
        if (TypeOf(preTokenizer) == "Sequence")
        {
            if (!preTokenizer.TryGetProperty("pretokenizers", out var list) || list.ValueKind != JsonValueKind.Array)
                throw new InvalidDataException($"{path}: pre_tokenizer.pretokenizers is missing");
            steps.AddRange(list.EnumerateArray());
        }
        else
            steps.Add(preTokenizer);

        string? pattern = null;
        bool byteLevel = false, addPrefixSpace = false;
        foreach (var step in steps)
        {
            switch (TypeOf(step))
            {
                case "ByteLevel":
                    if (byteLevel)
                        throw new NotSupportedException($"{path}: two ByteLevel pre-tokenizers");
                    byteLevel = true;
                    addPrefixSpace = step.TryGetProperty("add_prefix_space", out var prefix) && prefix.ValueKind == JsonValueKind.True;
                    bool useRegex = !step.TryGetProperty("use_regex", out var regex) || regex.ValueKind != JsonValueKind.False;
                    if (useRegex)
                        pattern = pattern is null ? PreTokenizers.Gpt2Pattern : throw new NotSupportedException($"{path}: a Split followed by a ByteLevel that splits again");
                    break;
                case "Split" when !byteLevel && pattern is null:
                    if (step.TryGetProperty("invert", out var invert) && invert.ValueKind == JsonValueKind.True)
                        throw new NotSupportedException($"{path}: an inverted Split");
                    if (!step.TryGetProperty("behavior", out var behavior) || behavior.GetString() != "Isolated")
                        throw new NotSupportedException($"{path}: Split behavior other than Isolated");
                    if (!step.TryGetProperty("pattern", out var patternObject) || patternObject.ValueKind != JsonValueKind.Object)
                        throw new InvalidDataException($"{path}: Split without a pattern");
                    if (patternObject.TryGetProperty("Regex", out var regexText) && regexText.ValueKind == JsonValueKind.String)
                        pattern = regexText.GetString();
                    else if (patternObject.TryGetProperty("String", out var literal) && literal.ValueKind == JsonValueKind.String)
                        pattern = string.Concat(literal.GetString()!.EnumerateRunes().Select(r => $"\\x{{{r.Value:X}}}"));
                    else
                        throw new InvalidDataException($"{path}: Split pattern is neither Regex nor String");
                    break;
                default:
                    throw new NotSupportedException($"{path}: pre-tokenizer step {TypeOf(step) ?? "(untyped)"} is not supported here (byte-level BPE: [Split,] ByteLevel)");
            }
        }
        if (!byteLevel)
            throw new NotSupportedException($"{path}: no ByteLevel pre-tokenizer, so this is not byte-level BPE");
        if (options.PreTokenizer is { } name)
            return (PreTokenizers.ByName(name), addPrefixSpace);
        if (pattern is null)
            return (WholeText.Instance, addPrefixSpace);
        return (PreTokenizers.ScannerFor(pattern) ?? (PreTokenizer)new RegexPreTokenizer(pattern), addPrefixSpace);
    }

    private static string? TypeOf(JsonElement element) =>
        element.ValueKind == JsonValueKind.Object && element.TryGetProperty("type", out var type) && type.ValueKind == JsonValueKind.String ? type.GetString() : null;

    /// <summary>BOS/EOS from a TemplateProcessing post-processor: a special token opening or closing the single-sequence template.</summary>
    private static (int?, int?) ReadTemplate(JsonElement root, List<SpecialToken> specials)
    {
        if (!root.TryGetProperty("post_processor", out var post) || TypeOf(post) != "TemplateProcessing"
            || !post.TryGetProperty("single", out var single) || single.ValueKind != JsonValueKind.Array || single.GetArrayLength() == 0)
            return (null, null);
        int? Special(JsonElement item) =>
            item.ValueKind == JsonValueKind.Object && item.TryGetProperty("SpecialToken", out var token) && token.TryGetProperty("id", out var id)
                && id.ValueKind == JsonValueKind.String && specials.FirstOrDefault(s => s.Text == id.GetString()) is { } found ? found.Id : null;
        var items = single.EnumerateArray().ToList();
        return (Special(items[0]), items.Count > 1 ? Special(items[^1]) : null);
    }

    private static int? IdOfAdded(List<SpecialToken> specials, string? text, string configPath, string what)
    {
        if (text is null)
            return null;
        return specials.FirstOrDefault(s => s.Text == text)?.Id
            ?? throw new InvalidDataException($"{configPath}: the {what} '{text}' is not one of the tokenizer's added tokens");
    }

    /// <summary>ByteLevel with use_regex false: the whole text is one piece.</summary>
    private sealed class WholeText : ScanningPreTokenizer
    {
        public static WholeText Instance { get; } = new();
        public override string Id => "whole";
        public override int PieceEnd(ReadOnlySpan<byte> utf8, int start) => utf8.Length;
    }
}
