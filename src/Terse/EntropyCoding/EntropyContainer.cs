using Terse.IO;

namespace Terse.EntropyCoding;

/// <summary>How a chunk's payload holds its bytes: the smallest of these is kept for each chunk.</summary>
internal enum ChunkMode : byte
{
    /// <summary>The original bytes, verbatim (when neither the model nor Brotli makes them smaller).</summary>
    Stored = 0,
    /// <summary>A range-coder stream of the chunk's tokens.</summary>
    Tokens = 1,
    /// <summary>A range-coder stream of the chunk's tokens and escapes (raw bytes, segment breaks) among them.</summary>
    TokensWithEscapes = 2,
    /// <summary>A Brotli stream of the original bytes (version 3 on: where a general-purpose codec beats the model).</summary>
    Brotli = 3,
}

/// <param name="PayloadLength">Bytes of the chunk's payload: the stream, or for a stored chunk its original bytes.</param>
/// <param name="TokenCount">Tokens a model-coded chunk decodes to; 0 otherwise.</param>
/// <param name="BrotliLength">Bytes a Brotli chunk decodes to; 0 otherwise.</param>
internal readonly record struct ChunkEntry(ChunkMode Mode, int PayloadLength, int TokenCount, int BrotliLength = 0)
{
    /// <summary>Coded with the model (tokens and possibly escapes).</summary>
    public bool IsCoded => Mode is ChunkMode.Tokens or ChunkMode.TokensWithEscapes;

    /// <summary>What the entry costs in the chunk table.</summary>
    public int TableBytes => EntropyContainer.VarIntBytes(EntropyContainer.PackedLength(Mode, PayloadLength))
        + (IsCoded ? EntropyContainer.VarIntBytes((ulong)TokenCount) : 0)
        + (Mode == ChunkMode.Brotli ? EntropyContainer.VarIntBytes((ulong)BrotliLength) : 0);
}

/// <summary>Everything in an entropy-coded container except the payloads themselves.</summary>
internal sealed class ContainerHeader
{
    /// <summary>The format version: <see cref="EntropyContainer.Version"/> when written, 2 to 4 when read.</summary>
    public int Version { get; init; } = EntropyContainer.Version;
    public required string ModelName { get; init; }
    public required byte[] ModelIdentity { get; init; }
    public required string TokenizerName { get; init; }
    public required byte[] TokenizerFingerprint { get; init; }
    public required int FrequencyTotalBits { get; init; }
    public required ContextPolicy Context { get; init; }
    public required int OriginalLength { get; init; }
    public required uint OriginalCrc { get; init; }
    public required ChunkEntry[] Chunks { get; init; }

    public long TokenCount => Chunks.Sum(c => (long)c.TokenCount);
}

/// <summary>A parsed container: the header plus where each chunk's payload lies.</summary>
internal sealed class ParsedContainer
{
    public required ContainerHeader Header { get; init; }
    public required int[] PayloadOffsets { get; init; }
}

/// <summary>
/// The entropy-coded container (format in docs/formats.md, "Entropy-coded container"). The reader
/// checks the trailing CRC first, then bounds every count by the bytes that remain, so corrupt
/// input fails fast with <see cref="InvalidDataException"/> and never allocates more than it holds.
/// </summary>
internal static class EntropyContainer
{
    public static ReadOnlySpan<byte> Magic => "TSEC"u8;

    /// <summary>
    /// The version written. 4: the token tables mix the model with the chunk's match model and
    /// token counts (<see cref="TokenMixer"/>). 3 (still read): the model's logits alone, from
    /// portable arithmetic, the same bits on every machine; chunks may be Brotli streams. 2 (still
    /// read): logits from the engine's fast arithmetic, no Brotli chunks.
    /// </summary>
    public const byte Version = 4;

    /// <summary>The first version whose token tables are <see cref="TokenMixer"/>'s.</summary>
    public const byte MixingVersion = 4;

    /// <summary>The oldest version read.</summary>
    public const byte OldestVersion = 2;
    public const int MaxNameBytes = ContainerFields.MaxNameBytes;
    public const int MaxIdentityBytes = ContainerFields.MaxIdentityBytes;
    private const string Name = "entropy-coded container";
    public const int MinFrequencyTotalBits = 16;

    /// <summary>
    /// The most tokens a coded chunk may declare (also at most twice the original length plus one):
    /// bounds the model work and memory a forged file can ask for. The encoder stores a chunk whose
    /// tokenization is longer.
    /// </summary>
    public const int MaxChunkTokens = 1 << 17;

    /// <summary>The largest chunk the encoder makes; keeps a stored chunk's table entry at 3 bytes.</summary>
    public const int MaxChunkBytes = 1 << 16;

    private const int ModeBits = 2;

    /// <summary>A chunk entry's first varint: the payload length and the mode in its low two bits.</summary>
    public static ulong PackedLength(ChunkMode mode, int payloadLength) => ((ulong)payloadLength << ModeBits) | (byte)mode;

    public static int VarIntBytes(ulong value)
    {
        int bytes = 1;
        for (; value >= 0x80; value >>= 7)
            bytes++;
        return bytes;
    }

    /// <param name="payloads">Each chunk's stream, or for a stored chunk its original bytes.</param>
    public static byte[] Write(ContainerHeader header, IReadOnlyList<ReadOnlyMemory<byte>> payloads)
    {
        if (payloads.Count != header.Chunks.Length)
            throw new ArgumentException("one payload per chunk is required", nameof(payloads));
        using var stream = new MemoryStream();
        stream.Write(Magic);
        stream.WriteByte((byte)header.Version);
        ContainerFields.WriteBinding(stream, new ModelBinding(header.ModelName, header.ModelIdentity, header.TokenizerName, header.TokenizerFingerprint));
        stream.WriteByte((byte)header.FrequencyTotalBits);
        VarInt.Write(stream, (ulong)header.Context.Window);
        VarInt.Write(stream, (ulong)header.Context.Carry);
        VarInt.Write(stream, (ulong)header.OriginalLength);
        ContainerFields.WriteUInt32(stream, header.OriginalCrc);
        VarInt.Write(stream, (ulong)header.Chunks.Length);
        for (int i = 0; i < header.Chunks.Length; i++)
        {
            var chunk = header.Chunks[i];
            if (chunk.PayloadLength != payloads[i].Length)
                throw new ArgumentException($"chunk {i}: header says {chunk.PayloadLength} bytes, payload has {payloads[i].Length}");
            VarInt.Write(stream, PackedLength(chunk.Mode, chunk.PayloadLength));
            if (chunk.IsCoded)
                VarInt.Write(stream, (ulong)chunk.TokenCount);
            else if (chunk.Mode == ChunkMode.Brotli)
                VarInt.Write(stream, (ulong)chunk.BrotliLength);
        }
        foreach (var payload in payloads)
            stream.Write(payload.Span);
        ContainerFields.WriteChecksum(stream);
        return stream.ToArray();
    }

    /// <summary>Parses and validates the structure (the model's window is checked by the caller, after the model's identity).</summary>
    public static ParsedContainer Read(ReadOnlySpan<byte> container)
    {
        if (container.Length < Magic.Length + 1 || !container[..Magic.Length].SequenceEqual(Magic))
            throw new InvalidDataException("not a Terse entropy-coded container (missing magic 'TSEC')");
        byte version = container[Magic.Length];
        if (version < OldestVersion || version > Version)
            throw new InvalidDataException($"entropy-coded container version {version} is not supported: this build reads versions {OldestVersion} to {Version}");
        if (container.Length < Magic.Length + 1 + ContainerFields.ChecksumBytes)
            throw new InvalidDataException("entropy-coded container is truncated: it ends before its checksum");
        var body = ContainerFields.ChecksummedBody(container, Name);
        int position = Magic.Length + 1;
        var (modelName, modelIdentity, tokenizerName, tokenizerFingerprint) = ContainerFields.ReadBinding(body, ref position, Name);
        int totalBits = ReadByte(body, ref position, "frequency precision");
        if (totalBits < MinFrequencyTotalBits || totalBits > RangeCoding.MaxTotalBits)
            throw new InvalidDataException($"frequency precision {totalBits} bits is outside {MinFrequencyTotalBits}..{RangeCoding.MaxTotalBits}");
        int window = VarInt.ReadBounded(body, ref position, int.MaxValue, "context window");
        int carry = VarInt.ReadBounded(body, ref position, int.MaxValue, "context carry");
        var context = new ContextPolicy(window, carry);
        if (context.Problem(int.MaxValue) is { } problem)
            throw new InvalidDataException($"entropy-coded container: {problem}");
        int originalLength = VarInt.ReadBounded(body, ref position, int.MaxValue, "original length");
        uint originalCrc = ContainerFields.ReadUInt32(body, ref position, "original checksum", Name);

        // Every chunk entry takes at least one byte of the table and holds at least one original byte.
        int chunkCount = ReadCount(body, ref position, bytesPerItem: 1, "chunk count");
        if (chunkCount > originalLength)
            throw new InvalidDataException($"entropy-coded container has {chunkCount} chunks for {originalLength} original bytes (each holds at least one)");
        var chunks = new ChunkEntry[chunkCount];
        long payloadBytes = 0, storedBytes = 0;
        int tokenLimit = (int)Math.Min(MaxChunkTokens, 2L * originalLength + 1);
        for (int i = 0; i < chunkCount; i++)
        {
            ulong packed = VarInt.Read(body, ref position);
            var mode = (ChunkMode)(packed & ((1 << ModeBits) - 1));
            if (mode == ChunkMode.Brotli && version < 3)
                throw new InvalidDataException($"chunk {i} has unknown mode {(int)mode} (Brotli chunks came with version 3)");
            ulong length = packed >> ModeBits;
            if (length > (ulong)(body.Length - position))
                throw new InvalidDataException($"payload length of chunk {i} is {length}, more than the {body.Length - position} remaining bytes");
            int tokens = 0, brotliLength = 0;
            if (mode == ChunkMode.Stored)
            {
                if (length == 0)
                    throw new InvalidDataException($"stored chunk {i} is empty");
                storedBytes += (long)length;
            }
            else if (mode == ChunkMode.Brotli)
            {
                // At most a chunk's size, so a small forged stream cannot ask for much memory.
                brotliLength = VarInt.ReadBounded(body, ref position, Math.Min(MaxChunkBytes, originalLength), $"Brotli length of chunk {i}");
                if (brotliLength == 0 || length == 0)
                    throw new InvalidDataException($"Brotli chunk {i} is empty");
                storedBytes += brotliLength;
            }
            else
            {
                tokens = VarInt.ReadBounded(body, ref position, tokenLimit, $"token count of chunk {i}");
                // Only escapes (raw bytes) can stand without tokens.
                if (tokens == 0 && mode == ChunkMode.Tokens)
                    throw new InvalidDataException($"chunk {i} is empty");
            }
            chunks[i] = new ChunkEntry(mode, (int)length, tokens, brotliLength);
            payloadBytes += (long)length;
        }
        if (payloadBytes != body.Length - position)
            throw new InvalidDataException($"entropy-coded container has {body.Length - position} payload bytes where the chunk table declares {payloadBytes}");
        if (storedBytes > originalLength)
            throw new InvalidDataException($"stored and Brotli chunks hold {storedBytes} bytes, more than the declared original length {originalLength}");

        var offsets = new int[chunkCount];
        long offset = position;
        for (int i = 0; i < chunkCount; i++)
        {
            offsets[i] = (int)offset;
            offset += chunks[i].PayloadLength;
        }
        var header = new ContainerHeader
        {
            Version = version,
            ModelName = modelName,
            ModelIdentity = modelIdentity,
            TokenizerName = tokenizerName,
            TokenizerFingerprint = tokenizerFingerprint,
            FrequencyTotalBits = totalBits,
            Context = context,
            OriginalLength = originalLength,
            OriginalCrc = originalCrc,
            Chunks = chunks,
        };
        return new ParsedContainer { Header = header, PayloadOffsets = offsets };
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
}
