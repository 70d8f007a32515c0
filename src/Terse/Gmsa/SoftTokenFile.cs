using System.Globalization;
using Terse.Neural.Checkpoints;

namespace Terse.Gmsa;

/// <summary>
/// Soft tokens on disk: a safetensors file with one F32 tensor <c>soft_tokens</c> [count, dim] and
/// metadata (format, rate, source token count, segment length, the base model's identity).
/// </summary>
public static class SoftTokenFile
{
    private const string Format = "terse-gmsa-soft/1", TensorName = "soft_tokens";

    public static void Write(string path, SoftContext context, byte[] baseIdentity) =>
        IO.AtomicFile.WriteAllBytes(path, Serialize(context, baseIdentity));

    internal static byte[] Serialize(SoftContext context, byte[] baseIdentity) =>
        Safetensors.Serialize(
            [NamedTensor.FromFloat32(TensorName, [context.Count, context.Dim], context.Values)],
            new Dictionary<string, string>
            {
                ["format"] = Format,
                ["rate"] = context.Rate.ToString(CultureInfo.InvariantCulture),
                ["source_tokens"] = context.SourceTokens.ToString(CultureInfo.InvariantCulture),
                ["segment_length"] = context.SegmentLength.ToString(CultureInfo.InvariantCulture),
                ["base_identity"] = Convert.ToHexStringLower(baseIdentity),
            });

    /// <summary>Reads a soft-token file; returns it with the identity of the base model it was made for.</summary>
    public static (SoftContext Context, string BaseIdentity) Read(string path) => Read(File.ReadAllBytes(path), path);

    internal static (SoftContext Context, string BaseIdentity) Read(byte[] file, string source)
    {
        using var reader = Safetensors.Open(file, source);
        string Field(string name) => reader.Metadata.TryGetValue(name, out var value) ? value
            : throw new InvalidDataException($"{source}: metadata field '{name}' is missing");
        int Positive(string name) => int.TryParse(Field(name), NumberStyles.None, CultureInfo.InvariantCulture, out int value) && value > 0 ? value
            : throw new InvalidDataException($"{source}: metadata field '{name}' must be a positive integer, found '{Field(name)}'");
        if (Field("format") != Format)
            throw new InvalidDataException($"{source}: not a GMSA soft-token file (format '{Field("format")}', expected '{Format}')");
        if (!reader.TryGetInfo(TensorName, out var info))
            throw new InvalidDataException($"{source}: tensor '{TensorName}' is missing");
        if (info.ShapeArray.Length != 2 || info.ShapeArray[0] < 1 || info.ShapeArray[1] < 1)
            throw new InvalidDataException($"{source}: tensor '{TensorName}' must be [count ≥ 1, dim ≥ 1], found {NamedTensor.FormatShape(info.ShapeArray)}");
        int rate = Positive("rate"), sourceTokens = Positive("source_tokens"), segment = Positive("segment_length");
        var values = reader.ReadFloat32(TensorName);
        if (values.Any(v => !float.IsFinite(v)))
            throw new InvalidDataException($"{source}: soft tokens hold a non-finite value");
        return (new SoftContext(values, (int)info.ShapeArray[0], (int)info.ShapeArray[1], rate, sourceTokens, segment), Field("base_identity"));
    }
}
