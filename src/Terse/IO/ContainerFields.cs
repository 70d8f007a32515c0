using System.Buffers.Binary;
using System.Text;

namespace Terse.IO;

/// <summary>The names and identities that bind a container to the model and tokenizer that made it.</summary>
internal readonly record struct ModelBinding(string ModelName, byte[] ModelIdentity, string TokenizerName, byte[] TokenizerFingerprint);

/// <summary>
/// Fields the model-bound containers (entropy-coded TSEC, Z-token TZTK) share, so each reads them
/// with the same bounds and messages: the model binding (four varint-length-prefixed byte strings,
/// names in strict UTF-8), little-endian uint32 values, and the trailing CRC-32C of everything
/// before it. <c>container</c> names the format in messages ("Z-token container").
/// </summary>
internal static class ContainerFields
{
    public const int MaxNameBytes = 256;
    public const int MaxIdentityBytes = 64;
    public const int ChecksumBytes = 4;

    public static void WriteBinding(Stream stream, ModelBinding binding)
    {
        WriteBytes(stream, Encoding.UTF8.GetBytes(binding.ModelName), MaxNameBytes, "model name");
        WriteBytes(stream, binding.ModelIdentity, MaxIdentityBytes, "model identity");
        WriteBytes(stream, Encoding.UTF8.GetBytes(binding.TokenizerName), MaxNameBytes, "tokenizer name");
        WriteBytes(stream, binding.TokenizerFingerprint, MaxIdentityBytes, "tokenizer fingerprint");
    }

    public static ModelBinding ReadBinding(ReadOnlySpan<byte> body, ref int position, string container) => new(
        ReadName(body, ref position, "model name", container),
        ReadBytes(body, ref position, MaxIdentityBytes, "model identity", container),
        ReadName(body, ref position, "tokenizer name", container),
        ReadBytes(body, ref position, MaxIdentityBytes, "tokenizer fingerprint", container));

    public static void WriteUInt32(Stream stream, uint value)
    {
        Span<byte> buffer = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(buffer, value);
        stream.Write(buffer);
    }

    public static uint ReadUInt32(ReadOnlySpan<byte> body, ref int position, string what, string container)
    {
        if (position > body.Length - 4)
            throw new InvalidDataException($"{container} truncated in the {what}");
        uint value = BinaryPrimitives.ReadUInt32LittleEndian(body[position..]);
        position += 4;
        return value;
    }

    /// <summary>Appends the CRC-32C of everything written so far.</summary>
    public static void WriteChecksum(MemoryStream stream) =>
        WriteUInt32(stream, Crc32C.Compute(stream.GetBuffer().AsSpan(0, (int)stream.Length)));

    /// <summary>The container without its trailing CRC-32C, after checking that CRC (the caller has checked that the checksum fits).</summary>
    public static ReadOnlySpan<byte> ChecksummedBody(ReadOnlySpan<byte> container, string name)
    {
        int bodyEnd = container.Length - ChecksumBytes;
        uint stored = BinaryPrimitives.ReadUInt32LittleEndian(container[bodyEnd..]);
        uint actual = Crc32C.Compute(container[..bodyEnd]);
        if (stored != actual)
            throw new InvalidDataException($"{name} is corrupt or truncated: checksum {actual:x8} does not match the stored {stored:x8}");
        return container[..bodyEnd];
    }

    private static void WriteBytes(Stream stream, ReadOnlySpan<byte> bytes, int max, string what)
    {
        if (bytes.Length > max)
            throw new ArgumentException($"{what} is {bytes.Length} bytes; at most {max} fit in the container");
        VarInt.Write(stream, (ulong)bytes.Length);
        stream.Write(bytes);
    }

    private static byte[] ReadBytes(ReadOnlySpan<byte> body, ref int position, int max, string what, string container)
    {
        int length = VarInt.ReadBounded(body, ref position, max, $"length of the {what}");
        if (length > body.Length - position)
            throw new InvalidDataException($"{container} truncated in the {what} ({length} bytes declared, {body.Length - position} left)");
        var bytes = body.Slice(position, length).ToArray();
        position += length;
        return bytes;
    }

    private static string ReadName(ReadOnlySpan<byte> body, ref int position, string what, string container)
    {
        var bytes = ReadBytes(body, ref position, MaxNameBytes, what, container);
        try
        {
            return new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(bytes);
        }
        catch (DecoderFallbackException)
        {
            throw new InvalidDataException($"the {what} in the {container} is not valid UTF-8");
        }
    }
}
