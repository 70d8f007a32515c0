using System.Collections.ObjectModel;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Unicode;

namespace Terse.Neural.Checkpoints;

/// <summary>Where one tensor lives in a safetensors file, as its header declares it (already validated).</summary>
public sealed class TensorInfo
{
    internal TensorInfo(string name, TensorDType dtype, long[] shape, long elementCount, long byteOffset, long byteLength)
    {
        Name = name;
        DType = dtype;
        ShapeArray = shape;
        Shape = Array.AsReadOnly(shape);
        ElementCount = elementCount;
        ByteOffset = byteOffset;
        ByteLength = byteLength;
    }

    public string Name { get; }

    public TensorDType DType { get; }

    /// <summary>Dimensions, outermost first (row-major); empty for a scalar.</summary>
    public ReadOnlyCollection<long> Shape { get; }

    public long ElementCount { get; }

    /// <summary>Start of the tensor's bytes, relative to the start of the data section.</summary>
    public long ByteOffset { get; }

    public long ByteLength { get; }

    internal long[] ShapeArray { get; }

    public override string ToString() => $"{Name} {DType.FileName()} {NamedTensor.FormatShape(ShapeArray)}";
}

/// <summary>
/// The JSON header of a safetensors file: parsing with strict validation, and writing in the
/// reference implementation's exact layout.
/// </summary>
internal static class SafetensorsHeader
{
    /// <summary>The reference implementation's limit; real headers are at most a few MB.</summary>
    public const long MaxHeaderLength = 100_000_000;

    public const string MetadataKey = "__metadata__";

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>
    /// Parses and validates a header against a data section of <paramref name="dataLength"/> bytes.
    /// Returns the tensors in data order. Throws <see cref="InvalidDataException"/> naming the first problem.
    /// </summary>
    public static (TensorInfo[] Tensors, Dictionary<string, string> Metadata) Parse(byte[] header, long dataLength, string source)
    {
        if (!Utf8.IsValid(header))
            throw Invalid(source, "the header is not valid UTF-8");
        JsonDocument document;
        try
        {
            // The expected structure is three levels deep; a small depth limit stops nesting attacks early.
            document = JsonDocument.Parse(header, new JsonDocumentOptions { MaxDepth = 8 });
        }
        catch (JsonException e)
        {
            throw Invalid(source, $"the header is not valid JSON ({e.Message})");
        }
        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                throw Invalid(source, $"the header must be a JSON object, found {Describe(root)}");

            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            var tensors = new List<TensorInfo>();
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var property in root.EnumerateObject())
            {
                if (!seen.Add(property.Name))
                    throw Invalid(source, $"the header names '{property.Name}' twice");
                if (property.Name == MetadataKey)
                    ReadMetadata(property.Value, metadata, source);
                else
                    tensors.Add(ReadTensor(property.Name, property.Value, dataLength, source));
            }

            var ordered = tensors.OrderBy(t => t.ByteOffset).ThenBy(t => t.ByteLength).ToArray();
            CheckContiguous(ordered, dataLength, source);
            return (ordered, metadata);
        }
    }

    private static void ReadMetadata(JsonElement element, Dictionary<string, string> metadata, string source)
    {
        if (element.ValueKind != JsonValueKind.Object)
            throw Invalid(source, $"{MetadataKey} must be an object of strings, found {Describe(element)}");
        foreach (var entry in element.EnumerateObject())
        {
            if (entry.Value.ValueKind != JsonValueKind.String)
                throw Invalid(source, $"{MetadataKey} entry '{entry.Name}' must be a string, found {Describe(entry.Value)}");
            if (!metadata.TryAdd(entry.Name, entry.Value.GetString()!))
                throw Invalid(source, $"{MetadataKey} names '{entry.Name}' twice");
        }
    }

    private static TensorInfo ReadTensor(string name, JsonElement element, long dataLength, string source)
    {
        string where = $"tensor '{name}'";
        if (element.ValueKind != JsonValueKind.Object)
            throw Invalid(source, $"{where} must be an object with dtype, shape and data_offsets, found {Describe(element)}");

        JsonElement? dtypeElement = null, shapeElement = null, offsetsElement = null;
        foreach (var field in element.EnumerateObject())
        {
            ref JsonElement? slot = ref dtypeElement;
            switch (field.Name)
            {
                case "dtype": slot = ref dtypeElement; break;
                case "shape": slot = ref shapeElement; break;
                case "data_offsets": slot = ref offsetsElement; break;
                default: throw Invalid(source, $"{where} has an unknown field '{field.Name}' (expected dtype, shape, data_offsets)");
            }
            if (slot is not null)
                throw Invalid(source, $"{where} has field '{field.Name}' twice");
            slot = field.Value;
        }
        if (dtypeElement is not { } dtypeValue || shapeElement is not { } shapeValue || offsetsElement is not { } offsetsValue)
            throw Invalid(source, $"{where} lacks {(dtypeElement is null ? "dtype" : shapeElement is null ? "shape" : "data_offsets")}");

        if (dtypeValue.ValueKind != JsonValueKind.String)
            throw Invalid(source, $"{where}: dtype must be a string, found {Describe(dtypeValue)}");
        string dtypeName = dtypeValue.GetString()!;
        if (!TensorDTypes.TryParse(dtypeName, out var dtype))
            throw Invalid(source, $"{where}: unsupported dtype '{Truncate(dtypeName)}' (known: BOOL, U8, I8, F8_E5M2, F8_E4M3, I16, U16, F16, BF16, I32, U32, F32, F64, I64, U64)");

        ulong[] dims = ReadIntegers(shapeValue, where, "shape", expectedCount: null, source);
        ulong[] offsets = ReadIntegers(offsetsValue, where, "data_offsets", expectedCount: 2, source);
        ulong start = offsets[0], end = offsets[1];
        if (end < start)
            throw Invalid(source, $"{where}: data_offsets [{start}, {end}] end before they start");
        if (end > (ulong)dataLength)
            throw Invalid(source, $"{where}: data_offsets [{start}, {end}] reach past the data section, which holds {dataLength} bytes (truncated file?)");

        ulong elements = 1;
        foreach (ulong dim in dims)
        {
            if (dim != 0 && elements > ulong.MaxValue / dim)
                throw Invalid(source, $"{where}: the element count of shape [{string.Join(", ", dims)}] overflows");
            elements *= dim;
        }
        ulong size = (ulong)dtype.Size();
        if (elements > (ulong)long.MaxValue / size)
            throw Invalid(source, $"{where}: shape [{string.Join(", ", dims)}] of {dtype.FileName()} is too large");
        ulong expectedBytes = elements * size;
        if (end - start != expectedBytes)
            throw Invalid(source, $"{where}: shape [{string.Join(", ", dims)}] of {dtype.FileName()} needs {expectedBytes} bytes, but data_offsets [{start}, {end}] hold {end - start}");

        // Every dimension is at most the element count (or the count is 0), so it fits a long;
        // a zero-element tensor may still declare one huge dimension, which no reader can use.
        if (dims.Any(d => d > (ulong)long.MaxValue))
            throw Invalid(source, $"{where}: a dimension of shape [{string.Join(", ", dims)}] is too large");
        long[] shape = dims.Select(d => (long)d).ToArray();
        return new TensorInfo(name, dtype, shape, (long)elements, (long)start, (long)(end - start));
    }

    private static ulong[] ReadIntegers(JsonElement element, string where, string field, int? expectedCount, string source)
    {
        string expectation = expectedCount is { } n ? $"an array of {n} non-negative integers" : "an array of non-negative integers";
        if (element.ValueKind != JsonValueKind.Array)
            throw Invalid(source, $"{where}: {field} must be {expectation}, found {Describe(element)}");
        int length = element.GetArrayLength();
        if (expectedCount is { } count && length != count)
            throw Invalid(source, $"{where}: {field} must be {expectation}, found {length} values");
        var values = new ulong[length];
        int i = 0;
        foreach (var item in element.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.Number || !item.TryGetUInt64(out values[i]))
                throw Invalid(source, $"{where}: {field}[{i}] must be a non-negative integer, found {Describe(item)}");
            i++;
        }
        return values;
    }

    private static void CheckContiguous(TensorInfo[] ordered, long dataLength, string source)
    {
        long expected = 0;
        TensorInfo? previous = null;
        foreach (var tensor in ordered)
        {
            if (tensor.ByteOffset < expected)
                throw Invalid(source, $"tensor '{tensor.Name}' (bytes {tensor.ByteOffset}..{tensor.ByteOffset + tensor.ByteLength}) overlaps tensor '{previous!.Name}' (bytes {previous.ByteOffset}..{expected})");
            if (tensor.ByteOffset > expected)
                throw Invalid(source, $"a gap of {tensor.ByteOffset - expected} bytes precedes tensor '{tensor.Name}' at byte {tensor.ByteOffset}: tensor data must be contiguous");
            expected = tensor.ByteOffset + tensor.ByteLength;
            previous = tensor;
        }
        if (expected != dataLength)
            throw Invalid(source, $"the tensors cover {expected} bytes but the data section holds {dataLength}: {dataLength - expected} trailing bytes belong to no tensor");
    }

    /// <summary>
    /// The header for <paramref name="tensors"/> (already in data order) as the reference writer lays
    /// it out: compact JSON, metadata first, padded with spaces to a multiple of 8 bytes so the data
    /// section starts 8-byte aligned.
    /// </summary>
    public static byte[] Build(IReadOnlyList<NamedTensor> tensors, IReadOnlyDictionary<string, string>? metadata)
    {
        var json = new StringBuilder();
        json.Append('{');
        bool first = true;
        if (metadata is { Count: > 0 })
        {
            json.Append('"').Append(MetadataKey).Append("\":{");
            foreach (var (key, value) in metadata.OrderBy(pair => pair.Key, Utf8Ordinal.Instance))
            {
                if (!first)
                    json.Append(',');
                first = false;
                AppendString(json, key);
                json.Append(':');
                AppendString(json, value ?? throw new ArgumentException($"metadata entry '{key}' is null"));
            }
            json.Append('}');
            first = false;
        }
        long offset = 0;
        foreach (var tensor in tensors)
        {
            if (!first)
                json.Append(',');
            first = false;
            AppendString(json, tensor.Name);
            json.Append(":{\"dtype\":\"").Append(tensor.DType.FileName()).Append("\",\"shape\":[");
            json.AppendJoin(',', tensor.Shape.Select(d => d.ToString(CultureInfo.InvariantCulture)));
            long end = offset + tensor.Bytes.Length;
            json.Append("],\"data_offsets\":[").Append(offset.ToString(CultureInfo.InvariantCulture)).Append(',')
                .Append(end.ToString(CultureInfo.InvariantCulture)).Append("]}");
            offset = end;
        }
        json.Append('}');
        try
        {
            var bytes = StrictUtf8.GetBytes(json.ToString());
            int padding = (8 - bytes.Length % 8) % 8;
            if (padding == 0)
                return bytes;
            var padded = new byte[bytes.Length + padding];
            bytes.CopyTo(padded, 0);
            padded.AsSpan(bytes.Length).Fill((byte)' ');
            return padded;
        }
        catch (EncoderFallbackException e)
        {
            throw new ArgumentException("a tensor name or metadata string is not valid Unicode (lone surrogate)", e);
        }
    }

    /// <summary>JSON string escaping as serde_json does it: only quote, backslash and control characters.</summary>
    private static void AppendString(StringBuilder json, string value)
    {
        json.Append('"');
        foreach (char c in value)
        {
            switch (c)
            {
                case '"': json.Append("\\\""); break;
                case '\\': json.Append("\\\\"); break;
                case '\b': json.Append("\\b"); break;
                case '\f': json.Append("\\f"); break;
                case '\n': json.Append("\\n"); break;
                case '\r': json.Append("\\r"); break;
                case '\t': json.Append("\\t"); break;
                case < ' ': json.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture)); break;
                default: json.Append(c); break;
            }
        }
        json.Append('"');
    }

    internal static InvalidDataException Invalid(string source, string message) => new($"{source}: {message}");

    private static string Describe(JsonElement element) => element.ValueKind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.String => $"the string \"{Truncate(element.GetString()!)}\"",
        JsonValueKind.Number => $"the number {Truncate(element.GetRawText())}",
        JsonValueKind.True or JsonValueKind.False => element.GetRawText(),
        _ => "null",
    };

    private static string Truncate(string text) => text.Length <= 40 ? text : text[..40] + "…";
}

/// <summary>Orders strings by their UTF-8 bytes, as the reference implementation (Rust) does.</summary>
internal sealed class Utf8Ordinal : IComparer<string>
{
    public static readonly Utf8Ordinal Instance = new();

    public int Compare(string? x, string? y) =>
        Encoding.UTF8.GetBytes(x ?? "").AsSpan().SequenceCompareTo(Encoding.UTF8.GetBytes(y ?? ""));
}
