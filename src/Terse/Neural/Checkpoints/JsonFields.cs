using System.Text.Json;

namespace Terse.Neural.Checkpoints;

/// <summary>
/// Typed, strict access to the top-level fields of a small JSON configuration file. Every wrong
/// value becomes an <see cref="InvalidDataException"/> naming the file and the field.
/// </summary>
internal sealed class JsonFields
{
    /// <summary>Configuration files are a few KB; anything far larger is not one.</summary>
    public const long MaxFileLength = 16 << 20;

    private readonly Dictionary<string, JsonElement> fields;

    /// <summary>"outer." for the fields of a nested object, so that errors name the full path.</summary>
    private readonly string prefix;

    private JsonFields(Dictionary<string, JsonElement> fields, string source, string prefix = "")
    {
        this.fields = fields;
        this.prefix = prefix;
        Source = source;
    }

    public string Source { get; }

    public static string ReadFile(string path)
    {
        var info = new FileInfo(path);
        if (!info.Exists)
            throw new FileNotFoundException($"{path}: no such file", path);
        if (info.Length > MaxFileLength)
            throw new InvalidDataException($"{path}: {info.Length} bytes is too large for a configuration file (limit {MaxFileLength})");
        return File.ReadAllText(path);
    }

    /// <summary>Parses <paramref name="json"/>, which must be an object with no repeated field.</summary>
    public static T Parse<T>(string json, string source, Func<JsonFields, T> read)
    {
        ArgumentNullException.ThrowIfNull(json);
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json, new JsonDocumentOptions { MaxDepth = 16 });
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{source}: not valid JSON ({e.Message})");
        }
        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Object)
                throw new InvalidDataException($"{source}: expected a JSON object, found {document.RootElement.ValueKind}");
            return read(new JsonFields(Fields(document.RootElement, source, ""), source));
        }
    }

    private static Dictionary<string, JsonElement> Fields(JsonElement obj, string source, string prefix)
    {
        var fields = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
        foreach (var property in obj.EnumerateObject())
        {
            if (!fields.TryAdd(property.Name, property.Value))
                throw new InvalidDataException($"{source}: field '{prefix}{property.Name}' appears twice");
        }
        return fields;
    }

    /// <summary>The fields of a nested object (null when absent or JSON null); its errors name "field.inner".</summary>
    public JsonFields? Object(string field)
    {
        if (Get(field) is not { } value)
            return null;
        if (value.ValueKind != JsonValueKind.Object)
            throw Error(field, "must be an object or null");
        string inner = $"{prefix}{field}.";
        return new JsonFields(Fields(value, Source, inner), Source, inner);
    }

    /// <summary>The names of the fields present (JSON null included), in file order.</summary>
    public IEnumerable<string> Names => fields.Keys;

    public InvalidDataException Error(string field, string expectation) =>
        new($"{Source}: field '{prefix}{field}' {expectation}{(fields.TryGetValue(field, out var value) ? $", found {Describe(value)}" : "")}");

    /// <summary>The field's value, or null when it is absent or JSON null.</summary>
    public JsonElement? Get(string field) =>
        fields.TryGetValue(field, out var value) && value.ValueKind != JsonValueKind.Null ? value : null;

    public int? Int(string field, int minimum = int.MinValue)
    {
        if (Get(field) is not { } value)
            return null;
        if (value.ValueKind != JsonValueKind.Number || !value.TryGetInt32(out int result) || result < minimum)
            throw Error(field, minimum == 1 ? "must be a positive integer" : minimum == 0 ? "must be a non-negative integer" : "must be an integer");
        return result;
    }

    public int RequiredInt(string field, int minimum) =>
        Int(field, minimum) ?? throw Error(field, "is required");

    public double? Number(string field)
    {
        if (Get(field) is not { } value)
            return null;
        if (value.ValueKind != JsonValueKind.Number || !value.TryGetDouble(out double result) || !double.IsFinite(result))
            throw Error(field, "must be a finite number");
        return result;
    }

    public bool? Bool(string field)
    {
        if (Get(field) is not { } value)
            return null;
        return value.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw Error(field, "must be true or false"),
        };
    }

    public string? String(string field)
    {
        if (Get(field) is not { } value)
            return null;
        return value.ValueKind == JsonValueKind.String ? value.GetString() : throw Error(field, "must be a string");
    }

    public IReadOnlyList<string>? StringList(string field)
    {
        if (Get(field) is not { } value)
            return null;
        if (value.ValueKind != JsonValueKind.Array || value.EnumerateArray().Any(item => item.ValueKind != JsonValueKind.String))
            throw Error(field, "must be a list of strings");
        return value.EnumerateArray().Select(item => item.GetString()!).ToArray();
    }

    /// <summary>An integer or a list of integers (as eos_token_id and layers_to_transform may be).</summary>
    public IReadOnlyList<int>? IntOrIntList(string field, int minimum)
    {
        if (Get(field) is not { } value)
            return null;
        if (value.ValueKind == JsonValueKind.Number)
            return [Int(field, minimum)!.Value];
        var items = new List<int>();
        if (value.ValueKind == JsonValueKind.Array)
        {
            foreach (var item in value.EnumerateArray())
            {
                if (item.ValueKind != JsonValueKind.Number || !item.TryGetInt32(out int number) || number < minimum)
                    throw Error(field, $"must be an integer ≥ {minimum} or a list of them");
                items.Add(number);
            }
            return items;
        }
        throw Error(field, $"must be an integer ≥ {minimum} or a list of them");
    }

    /// <summary>Whether the field holds a non-empty object (used to refuse settings this code does not model).</summary>
    public bool IsNonEmptyObject(string field) =>
        Get(field) is { ValueKind: JsonValueKind.Object } value && value.EnumerateObject().Any();

    private static readonly JsonSerializerOptions WriteOptions = new()
    {
        WriteIndented = true,
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    /// <summary>Indented JSON with sorted keys and a final newline, as Hugging Face and PEFT write their configs.</summary>
    public static string Format(IDictionary<string, object?> fields) =>
        JsonSerializer.Serialize(new SortedDictionary<string, object?>(fields, StringComparer.Ordinal), WriteOptions) + "\n";

    private static string Describe(JsonElement value)
    {
        // Compact, so that an object from an indented file (Llama 3's rope_scaling) stays on the error's one line.
        string text = JsonSerializer.Serialize(value);
        return text.Length <= 60 ? text : text[..60] + "…";
    }
}
