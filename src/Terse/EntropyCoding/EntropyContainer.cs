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
    public required Segment[] Segments { get; init; }
    public required ChunkEntry[] Chunks { get; init; }

    public long TokenCount => Chunks.Sum(c => (long)c.TokenCount);
    public long RawByteCount => Segments.Where(s => s.Kind == SegmentKind.Raw).Sum(s => (long)s.Length);
}

/// <summary>A parsed container: the header plus where the raw bytes and each chunk's stream lie.</summary>
internal sealed class ParsedContainer
{
    public required ContainerHeader Header { get; init; }
    public required int RawOffset { get; init; }
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

    public static byte[] Write(ContainerHeader header, ReadOnlySpan<byte> rawBytes, IReadOnlyList<byte[]> chunkStreams)
    {
        if (chunkStreams.Count != header.Chunks.Length)
            throw new ArgumentException("one stream per chunk is required", nameof(chunkStreams));
        using var stream = new MemoryStream();
        stream.Write(Magic);
        stream.WriteByte(Version);
        VarInt.Write(stream, 0); // flags: none defined in version 1
        WriteBytes(stream, Encoding.UTF8.GetBytes(header.ModelName), MaxNameBytes, "model name");
        WriteBytes(stream, header.ModelIdentity, MaxIdentityBytes, "model identity");
        WriteBytes(stream, Encoding.UTF8.GetBytes(header.TokenizerName), MaxNameBytes, "tokenizer name");
        WriteBytes(stream, header.TokenizerFingerprint, MaxIdentityBytes, "tokenizer fingerprint");
        stream.WriteByte((byte)header.FrequencyTotalBits);
        VarInt.Write(stream, (ulong)header.OriginalLength);
        WriteUInt32(stream, header.OriginalCrc);
        VarInt.Write(stream, (ulong)header.Segments.Length);
        foreach (var segment in header.Segments)
            VarInt.Write(stream, ((ulong)segment.Length << 1) | (byte)segment.Kind);
        VarInt.Write(stream, (ulong)header.Chunks.Length);
        for (int i = 0; i < header.Chunks.Length; i++)
        {
            if (header.Chunks[i].CodedLength != chunkStreams[i].Length)
                throw new ArgumentException($"chunk {i}: header says {header.Chunks[i].CodedLength} bytes, stream has {chunkStreams[i].Length}");
            VarInt.Write(stream, (ulong)header.Chunks[i].TokenCount);
            VarInt.Write(stream, (ulong)header.Chunks[i].CodedLength);
        }
        stream.Write(rawBytes);
        foreach (var chunk in chunkStreams)
            stream.Write(chunk);
        WriteUInt32(stream, Crc32C.Compute(stream.GetBuffer().AsSpan(0, (int)stream.Length)));
        return stream.ToArray();
    }

    /// <summary>Parses and validates the structure. <paramref name="maxChunkTokens"/> bounds each chunk (the model's window), or null to bound by the file alone.</summary>
    public static ParsedContainer Read(ReadOnlySpan<byte> container, int? maxChunkTokens = null)
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
        if (flags != 0)
            throw new InvalidDataException($"entropy-coded container has unknown flags {flags:x}");
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

        // Every segment takes at least one byte of the table; every chunk at least two.
        int segmentCount = ReadCount(body, ref position, bytesPerItem: 1, "segment count");
        var segments = new Segment[segmentCount];
        long segmentBytes = 0, segmentTokens = 0;
        for (int i = 0; i < segmentCount; i++)
        {
            ulong value = VarInt.Read(body, ref position);
            var kind = (SegmentKind)(value & 1);
            ulong length = value >> 1;
            if (length == 0 || length > int.MaxValue)
                throw new InvalidDataException($"segment {i} has length {length}, outside 1..{int.MaxValue}");
            segments[i] = new Segment(kind, (int)length);
            if (kind == SegmentKind.Raw) segmentBytes += (long)length;
            else segmentTokens += (long)length;
        }
        if (segmentBytes > originalLength)
            throw new InvalidDataException($"raw segments hold {segmentBytes} bytes, more than the original length {originalLength}");

        int chunkCount = ReadCount(body, ref position, bytesPerItem: 2, "chunk count");
        var chunks = new ChunkEntry[chunkCount];
        long chunkTokens = 0, codedBytes = 0;
        int tokenLimit = maxChunkTokens ?? int.MaxValue;
        for (int i = 0; i < chunkCount; i++)
        {
            int tokens = VarInt.ReadBounded(body, ref position, tokenLimit, $"token count of chunk {i}");
            if (tokens == 0)
                throw new InvalidDataException($"chunk {i} is empty");
            int coded = ReadCount(body, ref position, bytesPerItem: 1, $"coded length of chunk {i}");
            chunks[i] = new ChunkEntry(tokens, coded);
            chunkTokens += tokens;
            codedBytes += coded;
        }
        if (chunkTokens != segmentTokens)
            throw new InvalidDataException($"chunks hold {chunkTokens} tokens but the token segments declare {segmentTokens}");
        if (segmentBytes + codedBytes != body.Length - position)
            throw new InvalidDataException($"entropy-coded container has {body.Length - position} payload bytes where the tables declare {segmentBytes + codedBytes}");
        if (chunkTokens > int.MaxValue)
            throw new InvalidDataException($"entropy-coded container declares {chunkTokens} tokens, more than supported");

        int rawOffset = position;
        var offsets = new int[chunkCount];
        long offset = rawOffset + segmentBytes;
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
            Segments = segments,
            Chunks = chunks,
        };
        return new ParsedContainer { Header = header, RawOffset = rawOffset, ChunkOffsets = offsets };
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
