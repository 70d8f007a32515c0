using System.Buffers.Binary;
using System.Text;
using Terse.IO;

namespace Terse.EntropyCoding;

internal readonly record struct ChunkEntry(int TokenCount, int CodedLength);

/// <summary>Everything in an entropy-coded container except the coded bytes themselves.</summary>
internal sealed class ContainerHeader
{
    public required string ModelName { get; init; }
    public required byte[] ModelIdentity { get; init; }
    public required string TokenizerName { get; init; }
    public required byte[] TokenizerFingerprint { get; init; }
    public required int FrequencyTotalBits { get; init; }
    public required int OriginalLength { get; init; }
    public required uint OriginalCrc { get; init; }
    /// <summary>Whether the chunks code escapes (raw bytes, segment breaks) among the tokens.</summary>
    public required bool Escapes { get; init; }
    public required ChunkEntry[] Chunks { get; init; }

    public long TokenCount => Chunks.Sum(c => (long)c.TokenCount);
}

/// <summary>A parsed container: the header plus where each chunk's stream lies.</summary>
internal sealed class ParsedContainer
{
    public required ContainerHeader Header { get; init; }
    public required int[] ChunkOffsets { get; init; }
}

/// <summary>
/// The entropy-coded container (format in docs/formats.md, "Entropy-coded container"). The reader
/// checks the trailing CRC first, then bounds every count by the bytes that remain, so corrupt
/// input fails fast with <see cref="InvalidDataException"/> and never allocates more than it holds.
/// </summary>
internal static class EntropyContainer
{
    public static ReadOnlySpan<byte> Magic => "TSEC"u8;
    public const byte Version = 1;
    public const int MaxNameBytes = 256;
    public const int MaxIdentityBytes = 64;
    public const int MinFrequencyTotalBits = 16;
    private const int TrailerBytes = 4;

    private const ulong EscapesFlag = 1;

    public static byte[] Write(ContainerHeader header, IReadOnlyList<byte[]> chunkStreams)
    {
        if (chunkStreams.Count != header.Chunks.Length)
            throw new ArgumentException("one stream per chunk is required", nameof(chunkStreams));
        using var stream = new MemoryStream();
        stream.Write(Magic);
        stream.WriteByte(Version);
        VarInt.Write(stream, header.Escapes ? EscapesFlag : 0);
        WriteBytes(stream, Encoding.UTF8.GetBytes(header.ModelName), MaxNameBytes, "model name");
        WriteBytes(stream, header.ModelIdentity, MaxIdentityBytes, "model identity");
        WriteBytes(stream, Encoding.UTF8.GetBytes(header.TokenizerName), MaxNameBytes, "tokenizer name");
        WriteBytes(stream, header.TokenizerFingerprint, MaxIdentityBytes, "tokenizer fingerprint");
        stream.WriteByte((byte)header.FrequencyTotalBits);
        VarInt.Write(stream, (ulong)header.OriginalLength);
        WriteUInt32(stream, header.OriginalCrc);
        VarInt.Write(stream, (ulong)header.Chunks.Length);
        for (int i = 0; i < header.Chunks.Length; i++)
        {
            if (header.Chunks[i].CodedLength != chunkStreams[i].Length)
                throw new ArgumentException($"chunk {i}: header says {header.Chunks[i].CodedLength} bytes, stream has {chunkStreams[i].Length}");
            VarInt.Write(stream, (ulong)header.Chunks[i].TokenCount);
            VarInt.Write(stream, (ulong)header.Chunks[i].CodedLength);
        }
        foreach (var chunk in chunkStreams)
            stream.Write(chunk);
        WriteUInt32(stream, Crc32C.Compute(stream.GetBuffer().AsSpan(0, (int)stream.Length)));
        return stream.ToArray();
    }

    /// <summary>Parses and validates the structure (the model's window is checked by the caller, after the model's identity).</summary>
    public static ParsedContainer Read(ReadOnlySpan<byte> container)
    {
        int minimum = Magic.Length + 1 + TrailerBytes;
        if (container.Length < minimum || !container[..Magic.Length].SequenceEqual(Magic))
            throw new InvalidDataException("not a Terse entropy-coded container (missing magic 'TSEC')");
        byte version = container[Magic.Length];
        if (version != Version)
            throw new InvalidDataException($"entropy-coded container version {version} is not supported (this build reads version {Version})");
        int bodyEnd = container.Length - TrailerBytes;
        uint storedCrc = BinaryPrimitives.ReadUInt32LittleEndian(container[bodyEnd..]);
        uint actualCrc = Crc32C.Compute(container[..bodyEnd]);
        if (storedCrc != actualCrc)
            throw new InvalidDataException($"entropy-coded container is corrupt or truncated: checksum {actualCrc:x8} does not match the stored {storedCrc:x8}");

        var body = container[..bodyEnd];
        int position = Magic.Length + 1;
        ulong flags = VarInt.Read(body, ref position);
        if ((flags & ~EscapesFlag) != 0)
            throw new InvalidDataException($"entropy-coded container has unknown flags {flags:x}");
        bool escapes = (flags & EscapesFlag) != 0;
        string modelName = ReadName(body, ref position, "model name");
        byte[] modelIdentity = ReadBytes(body, ref position, MaxIdentityBytes, "model identity");
        string tokenizerName = ReadName(body, ref position, "tokenizer name");
        byte[] tokenizerFingerprint = ReadBytes(body, ref position, MaxIdentityBytes, "tokenizer fingerprint");
        int totalBits = ReadByte(body, ref position, "frequency precision");
        if (totalBits < MinFrequencyTotalBits || totalBits > RangeCoding.MaxTotalBits)
            throw new InvalidDataException($"frequency precision {totalBits} bits is outside {MinFrequencyTotalBits}..{RangeCoding.MaxTotalBits}");
        int originalLength = VarInt.ReadBounded(body, ref position, int.MaxValue, "original length");
        if (position + 4 > body.Length)
            throw new InvalidDataException("entropy-coded container truncated in the original checksum");
        uint originalCrc = BinaryPrimitives.ReadUInt32LittleEndian(body[position..]);
        position += 4;

        // Every chunk entry takes at least two bytes of the table.
        int chunkCount = ReadCount(body, ref position, bytesPerItem: 2, "chunk count");
        if ((chunkCount == 0) != (originalLength == 0))
            throw new InvalidDataException($"entropy-coded container has {chunkCount} chunks for {originalLength} original bytes");
        var chunks = new ChunkEntry[chunkCount];
        long chunkTokens = 0, codedBytes = 0;
        for (int i = 0; i < chunkCount; i++)
        {
            int tokens = VarInt.ReadBounded(body, ref position, int.MaxValue, $"token count of chunk {i}");
            // Without escapes a chunk holds tokens; with them, only a lone chunk of raw bytes may have none.
            if (tokens == 0 && (!escapes || chunkCount > 1))
                throw new InvalidDataException($"chunk {i} is empty");
            int coded = ReadCount(body, ref position, bytesPerItem: 1, $"coded length of chunk {i}");
            chunks[i] = new ChunkEntry(tokens, coded);
            chunkTokens += tokens;
            codedBytes += coded;
        }
        if (codedBytes != body.Length - position)
            throw new InvalidDataException($"entropy-coded container has {body.Length - position} payload bytes where the chunk table declares {codedBytes}");
        if (chunkTokens > int.MaxValue)
            throw new InvalidDataException($"entropy-coded container declares {chunkTokens} tokens, more than supported");

        var offsets = new int[chunkCount];
        long offset = position;
        for (int i = 0; i < chunkCount; i++)
        {
            offsets[i] = (int)offset;
            offset += chunks[i].CodedLength;
        }
        var header = new ContainerHeader
        {
            ModelName = modelName,
            ModelIdentity = modelIdentity,
            TokenizerName = tokenizerName,
            TokenizerFingerprint = tokenizerFingerprint,
            FrequencyTotalBits = totalBits,
            OriginalLength = originalLength,
            OriginalCrc = originalCrc,
            Escapes = escapes,
            Chunks = chunks,
        };
        return new ParsedContainer { Header = header, ChunkOffsets = offsets };
    }

    private static void WriteBytes(Stream stream, ReadOnlySpan<byte> bytes, int max, string what)
    {
        if (bytes.Length > max)
            throw new ArgumentException($"{what} is {bytes.Length} bytes; at most {max} fit in the container");
        VarInt.Write(stream, (ulong)bytes.Length);
        stream.Write(bytes);
    }

    private static void WriteUInt32(Stream stream, uint value)
    {
        Span<byte> buffer = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(buffer, value);
        stream.Write(buffer);
    }

    /// <summary>Reads a count of items that each take at least <paramref name="bytesPerItem"/> of the bytes after it.</summary>
    private static int ReadCount(ReadOnlySpan<byte> body, ref int position, int bytesPerItem, string what)
    {
        ulong value = VarInt.Read(body, ref position);
        int fits = (body.Length - position) / bytesPerItem;
        if (value > (ulong)fits)
            throw new InvalidDataException($"{what} is {value}, more than the {body.Length - position} remaining bytes can hold");
        return (int)value;
    }

    private static byte ReadByte(ReadOnlySpan<byte> body, ref int position, string what)
    {
        if (position >= body.Length)
            throw new InvalidDataException($"entropy-coded container truncated in the {what}");
        return body[position++];
    }

    private static byte[] ReadBytes(ReadOnlySpan<byte> body, ref int position, int max, string what)
    {
        int length = VarInt.ReadBounded(body, ref position, max, $"length of the {what}");
        if (length > body.Length - position)
            throw new InvalidDataException($"entropy-coded container truncated in the {what} ({length} bytes declared, {body.Length - position} left)");
        var bytes = body.Slice(position, length).ToArray();
        position += length;
        return bytes;
    }

    private static string ReadName(ReadOnlySpan<byte> body, ref int position, string what)
    {
        var bytes = ReadBytes(body, ref position, MaxNameBytes, what);
        try
        {
            return new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(bytes);
        }
        catch (DecoderFallbackException)
        {
            throw new InvalidDataException($"the {what} in the entropy-coded container is not valid UTF-8");
        }
    }
}
