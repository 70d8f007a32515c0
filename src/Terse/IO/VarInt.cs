namespace Terse.IO;

/// <summary>
/// LEB128 unsigned variable-length integers (7 bits per byte, low group first), as in protobuf.
/// Readers bound every value so corrupt input fails with a clear error instead of a huge allocation.
/// </summary>
public static class VarInt
{
    public static void Write(Stream stream, ulong value)
    {
        Span<byte> buffer = stackalloc byte[10];
        stream.Write(buffer[..Encode(value, buffer)]);
    }

    /// <summary>Writes <paramref name="value"/> into <paramref name="destination"/>; returns the byte count (1..10).</summary>
    public static int Encode(ulong value, Span<byte> destination)
    {
        int n = 0;
        while (value >= 0x80)
        {
            destination[n++] = (byte)(value | 0x80);
            value >>= 7;
        }
        destination[n++] = (byte)value;
        return n;
    }

    /// <summary>Reads one value at <paramref name="position"/> and advances it. Throws <see cref="InvalidDataException"/> on truncation or overflow.</summary>
    public static ulong Read(ReadOnlySpan<byte> source, ref int position)
    {
        ulong result = 0;
        for (int shift = 0; shift < 64; shift += 7)
        {
            if (position >= source.Length)
                throw new InvalidDataException("truncated variable-length integer");
            byte b = source[position++];
            if (shift == 63 && b > 1)
                throw new InvalidDataException("variable-length integer overflows 64 bits");
            result |= (ulong)(b & 0x7F) << shift;
            if (b < 0x80)
                return result;
        }
        throw new InvalidDataException("variable-length integer longer than 10 bytes");
    }

    /// <summary>Reads a value that must lie in [0, <paramref name="maxInclusive"/>]; <paramref name="what"/> names it in the error.</summary>
    public static int ReadBounded(ReadOnlySpan<byte> source, ref int position, int maxInclusive, string what)
    {
        ulong value = Read(source, ref position);
        if (value > (ulong)maxInclusive)
            throw new InvalidDataException($"{what} is {value}, above the limit {maxInclusive}");
        return (int)value;
    }
}
