namespace Terse.IO;

/// <summary>
/// How much a decoder may produce from a container, so that a few hundred hostile bytes cannot
/// expand to gigabytes: by default 1024 times the container's size, and never less than 64 MiB
/// (docs/formats.md, "Limits"). Every container reader (meta-token, entropy-coded, Z-token) checks
/// the size its header declares against the limit before allocating anything of that size, and its
/// output as it grows; a caller that expects a larger expansion passes its own limit.
/// </summary>
public static class DecodeLimits
{
    public const long FloorBytes = 64L << 20;
    public const long Ratio = 1024;

    /// <summary>The default limit for a container of <paramref name="containerBytes"/> bytes, in bytes (and in tokens, each at least a byte).</summary>
    public static long For(long containerBytes) =>
        Math.Min(Array.MaxLength, Math.Max(FloorBytes, Math.Min(containerBytes, long.MaxValue / Ratio) * Ratio));

    /// <summary>Marks the <see cref="InvalidDataException"/> of an exceeded limit in its <see cref="Exception.Data"/> (with the limit as value), so a caller can offer to raise it.</summary>
    public const string ExceededKey = "Terse.DecodeLimit";

    /// <summary>Throws <see cref="InvalidDataException"/> (marked with <see cref="ExceededKey"/>) when <paramref name="declared"/> is above <paramref name="limit"/>.</summary>
    public static void Check(string container, long declared, long limit, string unit = "bytes")
    {
        if (declared <= limit)
            return;
        var e = new InvalidDataException($"{container} would expand to {declared:N0} {unit}, above the limit of {limit:N0}");
        e.Data[ExceededKey] = limit;
        throw e;
    }
}
