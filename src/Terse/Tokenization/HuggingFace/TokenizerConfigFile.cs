using System.Globalization;
using System.Text.Json;
using Terse.Tokenization.BytePair;

namespace Terse.Tokenization.HuggingFace;

/// <summary>
/// What Terse reads from a Hugging Face <c>tokenizer_config.json</c>: the added/special tokens
/// (<c>added_tokens_decoder</c>), the BOS/EOS token texts and the tokenizer class.
/// </summary>
internal sealed record TokenizerConfigFile(string Path, IReadOnlyList<SpecialToken> AddedTokens, string? BosText, string? EosText, string? TokenizerClass)
{
    /// <summary>
    /// The config beside <paramref name="tokenizerPath"/>: <c>PREFIX_tokenizer_config.json</c> for a file
    /// named <c>PREFIX_…</c> (how the shared data names them), else <c>tokenizer_config.json</c>.
    /// </summary>
    public static TokenizerConfigFile? FindSibling(string tokenizerPath)
    {
        var directory = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(tokenizerPath))!;
        var fileName = System.IO.Path.GetFileName(tokenizerPath);
        var candidates = new List<string>();
        int separator = fileName.IndexOfAny(['_', '-']);
        if (separator > 0)
            candidates.Add(fileName[..(separator + 1)] + "tokenizer_config.json");
        candidates.Add("tokenizer_config.json");
        foreach (var candidate in candidates)
        {
            var path = System.IO.Path.Combine(directory, candidate);
            if (File.Exists(path))
                return Load(path);
        }
        return null;
    }

    public static TokenizerConfigFile Load(string path) => Parse(File.ReadAllBytes(path), path);

    public static TokenizerConfigFile Parse(byte[] bytes, string path)
    {
        try
        {
            using var document = JsonDocument.Parse(bytes);
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                throw new InvalidDataException($"{path}: the top level is not a JSON object");

            var added = new List<SpecialToken>();
            if (root.TryGetProperty("added_tokens_decoder", out var decoder))
            {
                if (decoder.ValueKind != JsonValueKind.Object)
                    throw new InvalidDataException($"{path}: 'added_tokens_decoder' is not an object");
                foreach (var entry in decoder.EnumerateObject())
                {
                    if (!int.TryParse(entry.Name, NumberStyles.None, CultureInfo.InvariantCulture, out int id))
                        throw new InvalidDataException($"{path}: added token id '{Truncate(entry.Name)}' is not an integer in 0..{int.MaxValue}");
                    added.Add(AddedToken.Read(entry.Value, id, $"{path}: added token {id}"));
                }
            }
            return new TokenizerConfigFile(path, added, TokenText(root, "bos_token", path), TokenText(root, "eos_token", path),
                root.TryGetProperty("tokenizer_class", out var cls) && cls.ValueKind == JsonValueKind.String ? cls.GetString() : null);
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException)
        {
            throw new InvalidDataException($"{path}: malformed JSON ({e.Message})", e);
        }
    }

    /// <summary>The id of <paramref name="text"/> among the added tokens; an error when it names none.</summary>
    public int? IdOf(string? text, string what)
    {
        if (text is null)
            return null;
        foreach (var token in AddedTokens)
            if (token.Text == text)
                return token.Id;
        throw new InvalidDataException($"{Path}: the {what} '{text}' is not one of its added tokens");
    }

    private static string? TokenText(JsonElement root, string property, string path)
    {
        if (!root.TryGetProperty(property, out var value))
            return null;
        return value.ValueKind switch
        {
            JsonValueKind.Null => null,
            JsonValueKind.String => value.GetString(),
            JsonValueKind.Object when value.TryGetProperty("content", out var content) && content.ValueKind == JsonValueKind.String => content.GetString(),
            _ => throw new InvalidDataException($"{path}: '{property}' is neither a string, null nor an object with 'content'"),
        };
    }

    internal static string Truncate(string text) => text.Length <= 40 ? text : text[..40] + "…";
}

/// <summary>Reads one Hugging Face added-token object (<c>{"content": …, "lstrip": …, …}</c>).</summary>
internal static class AddedToken
{
    public static SpecialToken Read(JsonElement element, int id, string where)
    {
        if (element.ValueKind != JsonValueKind.Object)
            throw new InvalidDataException($"{where}: not a JSON object");
        if (!element.TryGetProperty("content", out var content) || content.ValueKind != JsonValueKind.String || content.GetString() is not { Length: > 0 } text)
            throw new InvalidDataException($"{where}: 'content' is missing or not a non-empty string");
        if (Flag(element, "single_word", where))
            throw new NotSupportedException($"{where}: added token '{TokenizerConfigFile.Truncate(text)}' uses single_word, which Terse does not support");
        return new SpecialToken(text, id, Flag(element, "lstrip", where), Flag(element, "rstrip", where));
    }

    private static bool Flag(JsonElement element, string name, string where)
    {
        if (!element.TryGetProperty(name, out var value))
            return false;
        return value.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False or JsonValueKind.Null => false,
            _ => throw new InvalidDataException($"{where}: '{name}' is not a boolean"),
        };
    }
}
