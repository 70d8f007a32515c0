using Terse.IO;

namespace Terse.ZTokens;

/// <summary>How one segment is stored: its Z code and corrections, or (fallback) its token ids.</summary>
/// <param name="Code">Z-token ids (empty for a raw segment).</param>
/// <param name="Corrections">Where greedy decoding of the code must be overridden (none for an exact code).</param>
/// <param name="Raw">The segment's token ids when stored as they are, else null.</param>
public sealed record StoredSegment(int[] Code, Corrections Corrections, int[]? Raw)
{
    public bool IsRaw => Raw is not null;
}

/// <summary>The header of a Z-token container (docs/formats.md, "Z-token container").</summary>
public sealed record ZTokenContainerHeader
{
    public required string ModelName { get; init; }
    /// <summary><see cref="ZTokenModel.Identity"/>: base, new rows and both adapters.</summary>
    public required byte[] ModelIdentity { get; init; }
    public required string TokenizerName { get; init; }
    public required byte[] TokenizerFingerprint { get; init; }
    public required int BaseVocabulary { get; init; }
    public required int Codes { get; init; }
    public required int SegmentLength { get; init; }
    public required int MaxCodeLength { get; init; }
    public required int OriginalLength { get; init; }
    public required uint OriginalCrc { get; init; }
    public required int TokenCount { get; init; }

    public int SegmentCount => (int)(((long)TokenCount + SegmentLength - 1) / SegmentLength);

    public int SegmentLengthAt(int index) => (int)Math.Min(SegmentLength, TokenCount - (long)index * SegmentLength);
}

/// <summary>
/// What follows a container's header. Version 1: one bit-packed record per segment, parsed without
/// the model. Version 2: blocks of <see cref="BlockSegments"/> segments, each its own range-coded
/// stream (so blocks decode in parallel) that only the model can read (<see cref="ZTokenBlockCoder"/>).
/// </summary>
/// <param name="Blocks">Version 2: each block's offset and length in the container.</param>
internal sealed record ZTokenPayload(byte Version, StoredSegment[] Segments, int BlockSegments, (int Offset, int Length)[] Blocks);

/// <summary>
/// Reads and writes the TZTK container: magic, version, model and tokenizer identities, the code
/// shape, the original's length and CRC-32C, the token count, then the payload (<see cref="ZTokenPayload"/>),
/// then a CRC-32C of all that precedes it. Reading validates everything it can without the model.
/// </summary>
internal static class ZTokenContainer
{
    public static ReadOnlySpan<byte> Magic => "TZTK"u8;
    /// <summary>The version written: range-coded blocks with residuals (2). Version 1 (bit-packed corrections) is still read.</summary>
    public const byte Version = 2;
    public const byte BitPackedVersion = 1;
    public const int MaxSegmentLength = 4096, MaxCodeLengthLimit = 4096, MaxBlockSegments = 1 << 16;
    internal const string Name = "Z-token container";

    /// <summary>Bit widths of the payload's fields for a header's shape.</summary>
    internal readonly record struct Widths(int CodeLength, int Code, int CorrectionCount, int Position, int Token)
    {
        public static Widths Of(int codes, int maxCodeLength, int segmentLength, int vocabulary) => new(
            BitWriter.WidthFor(maxCodeLength - 1), BitWriter.WidthFor(codes - 1), BitWriter.WidthFor(segmentLength),
            BitWriter.WidthFor(segmentLength - 1), BitWriter.WidthFor(vocabulary - 1));

        /// <summary>Bits a segment takes as a code with corrections, and as raw ids.</summary>
        public long CodeBits(int codeLength, int corrections) => 1 + CodeLength + (long)codeLength * Code + CorrectionCount + (long)corrections * (Position + Token);

        public long RawBits(int segmentLength) => 1 + (long)segmentLength * Token;
    }

    /// <summary>A version 2 container: the header, then each block's range-coded stream behind its length.</summary>
    public static byte[] Write(ZTokenContainerHeader header, int blockSegments, IReadOnlyList<byte[]> blocks)
    {
        if (blockSegments < 1 || blockSegments > MaxBlockSegments || blocks.Count != BlockCount(header.SegmentCount, blockSegments))
            throw new ArgumentException($"{blocks.Count} blocks of {blockSegments} segments for a header that declares {header.SegmentCount} segments");
        using var payload = new MemoryStream();
        foreach (var block in blocks)
        {
            VarInt.Write(payload, (ulong)block.Length);
            payload.Write(block);
        }
        return Assemble(header, Version, blockSegments, payload.ToArray());
    }

    /// <summary>A version 1 container (bit-packed codes, corrections and raw ids): what earlier builds wrote, kept to test that they still read.</summary>
    public static byte[] WriteBitPacked(ZTokenContainerHeader header, IReadOnlyList<StoredSegment> segments, int firstCode)
    {
        if (segments.Count != header.SegmentCount)
            throw new ArgumentException($"{segments.Count} segments for a header that declares {header.SegmentCount}");
        var widths = Widths.Of(header.Codes, header.MaxCodeLength, header.SegmentLength, header.BaseVocabulary);
        var payload = new BitWriter();
        for (int i = 0; i < segments.Count; i++)
        {
            var segment = segments[i];
            payload.Write(segment.IsRaw ? 1u : 0u, 1);
            if (segment.Raw is { } raw)
            {
                if (raw.Length != header.SegmentLengthAt(i))
                    throw new ArgumentException($"raw segment {i} has {raw.Length} tokens, expected {header.SegmentLengthAt(i)}");
                foreach (int token in raw)
                    payload.Write((uint)token, widths.Token);
                continue;
            }
            payload.Write((uint)(segment.Code.Length - 1), widths.CodeLength);
            foreach (int code in segment.Code)
                payload.Write((uint)(code - firstCode), widths.Code);
            payload.Write((uint)segment.Corrections.Count, widths.CorrectionCount);
            for (int c = 0; c < segment.Corrections.Count; c++)
            {
                payload.Write((uint)segment.Corrections.Positions[c], widths.Position);
                payload.Write((uint)segment.Corrections.Tokens[c], widths.Token);
            }
        }
        return Assemble(header, BitPackedVersion, 0, payload.ToArray());
    }

    public static int BlockCount(int segments, int blockSegments) => (segments + blockSegments - 1) / blockSegments;

    private static byte[] Assemble(ZTokenContainerHeader header, byte version, int blockSegments, byte[] payloadBytes)
    {
        using var stream = new MemoryStream();
        stream.Write(Magic);
        stream.WriteByte(version);
        VarInt.Write(stream, 0); // flags: none defined
        ContainerFields.WriteBinding(stream, new ModelBinding(header.ModelName, header.ModelIdentity, header.TokenizerName, header.TokenizerFingerprint));
        foreach (int value in new[] { header.BaseVocabulary, header.Codes, header.SegmentLength, header.MaxCodeLength, header.OriginalLength })
            VarInt.Write(stream, (ulong)value);
        ContainerFields.WriteUInt32(stream, header.OriginalCrc);
        VarInt.Write(stream, (ulong)header.TokenCount);
        if (version != BitPackedVersion)
            VarInt.Write(stream, (ulong)blockSegments);
        VarInt.Write(stream, (ulong)payloadBytes.Length);
        stream.Write(payloadBytes);
        ContainerFields.WriteChecksum(stream);
        return stream.ToArray();
    }

    /// <summary>The header alone (structure and checksum validated).</summary>
    public static ZTokenContainerHeader ReadHeader(ReadOnlySpan<byte> container) => Read(container, firstCode: 0, parseSegments: false).Header;

    /// <summary>
    /// Parses and validates the whole container: version 1's segments (codes come back as ids from
    /// <paramref name="firstCode"/>), or version 2's block boundaries.
    /// </summary>
    public static (ZTokenContainerHeader Header, ZTokenPayload Payload) Read(ReadOnlySpan<byte> container, int firstCode, bool parseSegments = true)
    {
        int minimum = Magic.Length + 1 + ContainerFields.ChecksumBytes;
        if (container.Length < minimum || !container[..Magic.Length].SequenceEqual(Magic))
            throw new InvalidDataException("not a Terse Z-token container (missing magic 'TZTK')");
        byte version = container[Magic.Length];
        if (version is not (BitPackedVersion or Version))
            throw new InvalidDataException($"Z-token container version {version} is not supported (this build reads versions {BitPackedVersion} and {Version})");
        var body = ContainerFields.ChecksummedBody(container, Name);
        int position = Magic.Length + 1;
        ulong flags = VarInt.Read(body, ref position);
        if (flags != 0)
            throw new InvalidDataException($"Z-token container has unknown flags {flags:x}");
        var (modelName, modelIdentity, tokenizerName, tokenizerFingerprint) = ContainerFields.ReadBinding(body, ref position, Name);
        int vocabulary = VarInt.ReadBounded(body, ref position, 1 << 22, "base vocabulary size");
        int codes = VarInt.ReadBounded(body, ref position, ZVocabulary.MaxCodes, "code count");
        int segmentLength = VarInt.ReadBounded(body, ref position, MaxSegmentLength, "segment length");
        int maxCode = VarInt.ReadBounded(body, ref position, MaxCodeLengthLimit, "longest code");
        if (vocabulary < 1 || codes < ZVocabulary.MinCodes || segmentLength < 1 || maxCode < 1)
            throw new InvalidDataException($"Z-token container declares an impossible shape (vocabulary {vocabulary}, {codes} codes, segments of {segmentLength}, codes of up to {maxCode})");
        int originalLength = VarInt.ReadBounded(body, ref position, int.MaxValue, "original length");
        uint originalCrc = ContainerFields.ReadUInt32(body, ref position, "original checksum", Name);
        int tokenCount = VarInt.ReadBounded(body, ref position, int.MaxValue, "token count");
        int blockSegments = version == BitPackedVersion ? 0 : VarInt.ReadBounded(body, ref position, MaxBlockSegments, "segments per block");
        if (version != BitPackedVersion && blockSegments < 1)
            throw new InvalidDataException("Z-token container declares blocks of 0 segments");
        int payloadLength = VarInt.ReadBounded(body, ref position, int.MaxValue, "payload length");
        if (payloadLength != body.Length - position)
            throw new InvalidDataException($"Z-token container declares a payload of {payloadLength} bytes, but {body.Length - position} remain");
        if ((tokenCount == 0) != (originalLength == 0))
            throw new InvalidDataException($"Z-token container has {tokenCount} tokens for {originalLength} original bytes");
        var header = new ZTokenContainerHeader
        {
            ModelName = modelName,
            ModelIdentity = modelIdentity,
            TokenizerName = tokenizerName,
            TokenizerFingerprint = tokenizerFingerprint,
            BaseVocabulary = vocabulary,
            Codes = codes,
            SegmentLength = segmentLength,
            MaxCodeLength = maxCode,
            OriginalLength = originalLength,
            OriginalCrc = originalCrc,
            TokenCount = tokenCount,
        };
        // Bound the count before anything is allocated for it. A version 1 segment takes at least its
        // flag bit; a version 2 segment at least 0.005 bits (its kind, under an adaptive model), and
        // its tokens decode to text, so there are not many more of them than bytes.
        long segmentLimit = version == BitPackedVersion ? payloadLength * 8L : payloadLength * 8L * 200;
        if (header.SegmentCount > segmentLimit || (version != BitPackedVersion && tokenCount > 2L * originalLength + 16))
            throw new InvalidDataException($"Z-token container declares {tokenCount} tokens ({header.SegmentCount} segments), more than {payloadLength} payload bytes and {originalLength} original bytes can hold");
        if (version != BitPackedVersion)
            return (header, new ZTokenPayload(version, [], blockSegments, parseSegments ? ReadBlocks(body, position, header.SegmentCount, blockSegments) : []));
        if (!parseSegments)
            return (header, new ZTokenPayload(version, [], 0, []));

        var widths = Widths.Of(codes, maxCode, segmentLength, vocabulary);
        var reader = new BitReader(body[position..]);
        var segments = new StoredSegment[header.SegmentCount];
        for (int i = 0; i < segments.Length; i++)
        {
            int length = header.SegmentLengthAt(i);
            string where = $"segment {i}";
            if (reader.Read(1, $"the flag of {where}") == 1)
            {
                if (reader.RemainingBits < (long)length * widths.Token)
                    throw new InvalidDataException($"Z-token payload ends inside the tokens of {where}");
                var raw = new int[length];
                for (int t = 0; t < length; t++)
                    raw[t] = ReadToken(ref reader, widths, vocabulary, $"a token of {where}");
                segments[i] = new StoredSegment([], Corrections.None, raw);
                continue;
            }
            int codeLength = (int)reader.Read(widths.CodeLength, $"the code length of {where}") + 1;
            if (codeLength > maxCode)
                throw new InvalidDataException($"{where} has a code of {codeLength} Z-tokens; at most {maxCode} are allowed");
            var code = new int[codeLength];
            for (int k = 0; k < codeLength; k++)
            {
                uint value = reader.Read(widths.Code, $"a Z-token of {where}");
                if (value >= (uint)codes)
                    throw new InvalidDataException($"{where} has Z-token {value}; the model has {codes}");
                code[k] = firstCode + (int)value;
            }
            int count = (int)reader.Read(widths.CorrectionCount, $"the correction count of {where}");
            if (count > length)
                throw new InvalidDataException($"{where} has {count} corrections for {length} tokens");
            var positions = new int[count];
            var tokens = new int[count];
            for (int c = 0; c < count; c++)
            {
                positions[c] = (int)reader.Read(widths.Position, $"a correction position of {where}");
                if (positions[c] >= length || (c > 0 && positions[c] <= positions[c - 1]))
                    throw new InvalidDataException($"{where}: correction positions must increase within 0..{length - 1} (found {positions[c]})");
                tokens[c] = ReadToken(ref reader, widths, vocabulary, $"a correction token of {where}");
            }
            segments[i] = new StoredSegment(code, new Corrections(positions, tokens), null);
        }
        reader.RequireEnd();
        return (header, new ZTokenPayload(version, segments, 0, []));
    }

    private static (int Offset, int Length)[] ReadBlocks(ReadOnlySpan<byte> body, int position, int segments, int blockSegments)
    {
        var blocks = new (int Offset, int Length)[BlockCount(segments, blockSegments)];
        for (int b = 0; b < blocks.Length; b++)
        {
            int length = VarInt.ReadBounded(body, ref position, body.Length - position, $"the length of block {b}");
            blocks[b] = (position, length);
            position += length;
        }
        if (position != body.Length)
            throw new InvalidDataException($"Z-token container has {body.Length - position} bytes after its {blocks.Length} blocks");
        return blocks;
    }

    private static int ReadToken(ref BitReader reader, Widths widths, int vocabulary, string what)
    {
        uint token = reader.Read(widths.Token, what);
        if (token >= (uint)vocabulary)
            throw new InvalidDataException($"{what} is {token}, outside the vocabulary of {vocabulary}");
        return (int)token;
    }
}
