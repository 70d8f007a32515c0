using System.Buffers.Binary;
using System.Text;
using Terse.IO;
using Terse.Tokenization;

namespace Terse.MetaTokens;

/// <summary>Which tokenizer a container's ids belong to: its name and <see cref="Tokenizer.Fingerprint"/>.</summary>
public sealed record TokenizerIdentity(string Name, byte[] Fingerprint)
{
    public static TokenizerIdentity Of(Tokenizer tokenizer) => new(tokenizer.Name, tokenizer.Fingerprint.ToArray());

    public bool Matches(Tokenizer tokenizer) => Fingerprint.AsSpan().SequenceEqual(tokenizer.Fingerprint);

    public string FingerprintHex => Convert.ToHexStringLower(Fingerprint);
}

/// <summary>A meta-token sequence as stored in a container, with the tokenizer it needs.</summary>
public sealed record MetaTokenFile(TokenizerIdentity Tokenizer, MetaTokenSequence Sequence);

/// <summary>
/// The meta-token file format (stable, see docs/formats.md, "Meta-tokens"): magic <c>TMTK</c>,
/// version, tokenizer name and fingerprint, base vocabulary size, original token count,
/// dictionary, body, CRC-32C. Integers are LEB128 varints. Reading checks the checksum first and
/// then every count and id against what remains and what is defined, so corrupt or hostile input
/// ends in an <see cref="InvalidDataException"/>, never in a huge allocation.
/// </summary>
public static class MetaTokenContainer
{
    public static ReadOnlySpan<byte> Magic => "TMTK"u8;
    public const byte Version = 1;

    private const int MaxNameBytes = 1024;
    private const int MaxFingerprintBytes = 64;
    private const int HeaderBytes = 6; // magic, version, flags
    private const int ChecksumBytes = 4;

    public static bool HasMagic(ReadOnlySpan<byte> data) => data.StartsWith(Magic);

    public static byte[] Write(MetaTokenSequence sequence, TokenizerIdentity tokenizer)
    {
        var name = Encoding.UTF8.GetBytes(tokenizer.Name);
        if (name.Length is 0 or > MaxNameBytes)
            throw new ArgumentException($"tokenizer name must be 1..{MaxNameBytes} UTF-8 bytes (got {name.Length})");
        if (tokenizer.Fingerprint.Length is 0 or > MaxFingerprintBytes)
            throw new ArgumentException($"tokenizer fingerprint must be 1..{MaxFingerprintBytes} bytes (got {tokenizer.Fingerprint.Length})");

        long idCount = sequence.Body.Length + sequence.DictionaryTokenCount;
        var buffer = new byte[HeaderBytes + 10 + name.Length + 10 + tokenizer.Fingerprint.Length + 4 * 10 + idCount * 5 + ChecksumBytes];
        int at = 0;
        Magic.CopyTo(buffer);
        at += Magic.Length;
        buffer[at++] = Version;
        buffer[at++] = 0; // flags: none defined in version 1
        at += VarInt.Encode((ulong)name.Length, buffer.AsSpan(at));
        name.CopyTo(buffer, at);
        at += name.Length;
        at += VarInt.Encode((ulong)tokenizer.Fingerprint.Length, buffer.AsSpan(at));
        tokenizer.Fingerprint.CopyTo(buffer, at);
        at += tokenizer.Fingerprint.Length;
        at += VarInt.Encode((ulong)sequence.BaseVocabularySize, buffer.AsSpan(at));
        at += VarInt.Encode((ulong)sequence.OriginalLength, buffer.AsSpan(at));
        at += VarInt.Encode((ulong)sequence.Definitions.Count, buffer.AsSpan(at));
        foreach (var definition in sequence.Definitions)
            at = WriteIds(definition, buffer, at);
        at = WriteIds(sequence.Body, buffer, at);
        BinaryPrimitives.WriteUInt32LittleEndian(buffer.AsSpan(at), Crc32C.Compute(buffer.AsSpan(0, at)));
        at += ChecksumBytes;
        return buffer.AsSpan(0, at).ToArray();
    }

    private static int WriteIds(ReadOnlySpan<int> ids, byte[] buffer, int at)
    {
        at += VarInt.Encode((ulong)ids.Length, buffer.AsSpan(at));
        var span = buffer.AsSpan();
        foreach (int id in ids)
        {
            uint v = (uint)id;
            if (v < 0x80)
            {
                span[at++] = (byte)v;
            }
            else
            {
                at += VarInt.Encode(v, span[at..]);
            }
        }
        return at;
    }

    /// <summary>Reads and checks a container; throws <see cref="InvalidDataException"/> saying what is wrong and where.</summary>
    /// <param name="maxOutputTokens">The most tokens the container may expand to (default <see cref="DecodeLimits.For"/> its size).</param>
    public static MetaTokenFile Read(ReadOnlySpan<byte> data, long? maxOutputTokens = null)
    {
        long limit = maxOutputTokens ?? DecodeLimits.For(data.Length);
        if (!HasMagic(data))
            throw new InvalidDataException("not a Terse meta-token container (the file does not start with \"TMTK\")");
        if (data.Length < HeaderBytes + ChecksumBytes)
            throw new InvalidDataException($"meta-token container is truncated: {data.Length} bytes, less than the smallest possible container");
        if (data[4] != Version)
            throw new InvalidDataException($"meta-token container version {data[4]} is not supported (this build reads version {Version})");
        var payload = data[..^ChecksumBytes];
        uint stored = BinaryPrimitives.ReadUInt32LittleEndian(data[^ChecksumBytes..]);
        uint computed = Crc32C.Compute(payload);
        if (stored != computed)
            throw new InvalidDataException($"meta-token container is corrupt or truncated: CRC-32C is {computed:x8}, the file says {stored:x8}");
        if (payload[5] != 0)
            throw new InvalidDataException($"meta-token container has unknown flags {payload[5]:x2} at byte 5");

        int at = HeaderBytes;
        int nameLength = ReadCount(payload, ref at, 1, MaxNameBytes, "tokenizer name length");
        string name;
        try
        {
            name = new UTF8Encoding(false, true).GetString(payload.Slice(at, nameLength));
        }
        catch (DecoderFallbackException)
        {
            throw new InvalidDataException($"meta-token container: the tokenizer name at byte {at} is not valid UTF-8");
        }
        at += nameLength;
        int fingerprintLength = ReadCount(payload, ref at, 1, MaxFingerprintBytes, "tokenizer fingerprint length");
        var fingerprint = payload.Slice(at, fingerprintLength).ToArray();
        at += fingerprintLength;
        int baseSize = ReadCount(payload, ref at, 1, int.MaxValue - 1, "base vocabulary size", boundedByRemaining: false);
        ulong statedCount = ReadVarInt(payload, ref at, "original token count");
        DecodeLimits.Check("meta-token container", (long)Math.Min(statedCount, long.MaxValue), Math.Max(limit, 0), "tokens");
        long stated = (long)statedCount;

        // Every definition takes at least 3 bytes (its length and two ids), every id at least 1.
        int definitionCount = ReadCount(payload, ref at, 0, (payload.Length - at) / 3, "definition count");
        long metaLimit = (long)int.MaxValue - baseSize;
        if (definitionCount > metaLimit)
            throw new InvalidDataException($"meta-token container: {definitionCount} definitions do not fit above base vocabulary size {baseSize}");
        var definitions = new int[definitionCount][];
        for (int k = 0; k < definitionCount; k++)
            definitions[k] = ReadIds(payload, ref at, baseSize + k, new SequencePart(k));
        var body = ReadIds(payload, ref at, baseSize + definitionCount, SequencePart.Body);
        if (at != payload.Length)
            throw new InvalidDataException($"meta-token container: {payload.Length - at} unexpected bytes after the body at byte {at}");

        MetaTokenSequence sequence;
        try
        {
            sequence = new MetaTokenSequence(baseSize, definitions, body, owned: true);
        }
        catch (InvalidDataException e)
        {
            throw new InvalidDataException($"meta-token container: {e.Message}", e);
        }
        if (sequence.OriginalLength != stated)
            throw new InvalidDataException($"meta-token container: dictionary and body expand to {sequence.OriginalLength} tokens, the header says {stated}");
        return new MetaTokenFile(new TokenizerIdentity(name, fingerprint), sequence);
    }

    private static int ReadCount<TName>(ReadOnlySpan<byte> data, ref int at, int min, int max, TName what, bool boundedByRemaining = true)
    {
        int start = at;
        ulong value = ReadVarInt(data, ref at, what);
        int limit = boundedByRemaining ? Math.Min(max, data.Length - at) : max;
        if (value < (ulong)min || value > (ulong)Math.Max(limit, 0))
            throw new InvalidDataException($"meta-token container: {what} {value} at byte {start} is out of range {min}..{Math.Max(limit, 0)}");
        return (int)value;
    }

    private static int[] ReadIds(ReadOnlySpan<byte> data, ref int at, int idLimit, SequencePart what)
    {
        // Each id takes at least one byte, so the count is bounded by the bytes that remain.
        int count = ReadCount(data, ref at, 0, data.Length - at, new LengthOf(what));
        var ids = new int[count];
        int end = data.Length;
        for (int i = 0; i < count; i++)
        {
            int start = at;
            ulong id;
            if (at >= end)
                throw new InvalidDataException($"meta-token container: {what} is truncated after {i} of {count} ids");
            // Token ids take 1–3 bytes; those are decoded inline, anything longer by VarInt.
            uint b0 = data[at];
            if (b0 < 0x80)
            {
                id = b0;
                at++;
            }
            else if (at + 1 < end && data[at + 1] < 0x80)
            {
                id = (b0 & 0x7F) | ((uint)data[at + 1] << 7);
                at += 2;
            }
            else if (at + 2 < end && data[at + 1] >= 0x80 && data[at + 2] < 0x80)
            {
                id = (b0 & 0x7F) | ((uint)(data[at + 1] & 0x7F) << 7) | ((uint)data[at + 2] << 14);
                at += 3;
            }
            else
            {
                id = ReadVarInt(data, ref at, what);
            }
            if (id >= (ulong)idLimit)
                throw new InvalidDataException($"meta-token container: {what}: id {id} at byte {start} is not a base token or a meta-token defined before it (limit {idLimit})");
            ids[i] = (int)id;
        }
        return ids;
    }

    private readonly record struct LengthOf(SequencePart Part)
    {
        public override string ToString() => $"{Part} length";
    }

    private static ulong ReadVarInt<TName>(ReadOnlySpan<byte> data, ref int at, TName what)
    {
        try
        {
            return VarInt.Read(data, ref at);
        }
        catch (InvalidDataException e)
        {
            throw new InvalidDataException($"meta-token container: {what} at byte {at}: {e.Message}");
        }
    }
}
