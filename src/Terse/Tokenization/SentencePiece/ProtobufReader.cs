using System.Buffers.Binary;
using Terse.IO;

namespace Terse.Tokenization.SentencePiece;

internal enum WireType
{
    Varint = 0,
    Fixed64 = 1,
    LengthDelimited = 2,
    StartGroup = 3,
    EndGroup = 4,
    Fixed32 = 5,
}

/// <summary>
/// A minimal protobuf wire-format reader over one message's bytes. Every length is checked against
/// the bytes that remain before it is used, so corrupt input fails with an
/// <see cref="InvalidDataException"/> naming the message path and absolute offset instead of
/// over-reading or allocating what the file claims.
/// </summary>
internal ref struct ProtobufReader
{
    private readonly ReadOnlySpan<byte> _data;
    private readonly int _baseOffset;
    private readonly string _path;
    private int _position;
    private int _tagOffset;

    /// <param name="data">The message's bytes.</param>
    /// <param name="baseOffset">Offset of <paramref name="data"/> in the file, for messages.</param>
    /// <param name="path">Where this message sits, e.g. <c>ModelProto.pieces[12]</c>, for messages.</param>
    public ProtobufReader(ReadOnlySpan<byte> data, int baseOffset, string path)
    {
        _data = data;
        _baseOffset = baseOffset;
        _path = path;
    }

    public int Field { get; private set; }
    public WireType WireType { get; private set; }

    /// <summary>Absolute offset of the value being read (just after the current tag).</summary>
    public int ValueOffset => _baseOffset + _position;

    public bool ReadTag()
    {
        if (_position >= _data.Length)
            return false;
        _tagOffset = _position;
        ulong tag = ReadRawVarint("tag");
        int wire = (int)(tag & 7);
        ulong field = tag >> 3;
        if (field == 0 || field > 536_870_911)
            throw Error($"invalid field number {field}");
        if (wire > 5)
            throw Error($"field {field} has invalid wire type {wire}");
        Field = (int)field;
        WireType = (WireType)wire;
        return true;
    }

    public ulong ReadVarint()
    {
        Expect(WireType.Varint);
        return ReadRawVarint("varint");
    }

    /// <summary>An int32 field: protobuf writes negative values as 10-byte varints and readers keep the low 32 bits.</summary>
    public int ReadInt32() => unchecked((int)ReadVarint());

    public bool ReadBool() => ReadVarint() != 0;

    public float ReadFloat()
    {
        Expect(WireType.Fixed32);
        var bytes = Take(4);
        return BinaryPrimitives.ReadSingleLittleEndian(bytes);
    }

    /// <summary>The payload of a length-delimited field, with its absolute offset.</summary>
    public ReadOnlySpan<byte> ReadBytes(out int offset)
    {
        Expect(WireType.LengthDelimited);
        ulong length = ReadRawVarint("length");
        if (length > (ulong)(_data.Length - _position))
            throw Error($"field {Field} claims {length} bytes but only {_data.Length - _position} remain");
        offset = _baseOffset + _position;
        return Take((int)length);
    }

    public string ReadString()
    {
        var bytes = ReadBytes(out int offset);
        try
        {
            return StrictUtf8.GetString(bytes);
        }
        catch (System.Text.DecoderFallbackException)
        {
            throw new InvalidDataException($"{_path}: field {Field} at offset {offset} is not valid UTF-8");
        }
    }

    public void Skip()
    {
        switch (WireType)
        {
            case WireType.Varint:
                ReadVarint();
                break;
            case WireType.Fixed64:
                Take(8);
                break;
            case WireType.Fixed32:
                Take(4);
                break;
            case WireType.LengthDelimited:
                ReadBytes(out _);
                break;
            default:
                // Groups are deprecated and absent from SentencePiece's schema; refusing them keeps the reader flat.
                throw Error($"field {Field} uses the group wire type {(int)WireType}, which this format never contains");
        }
    }

    public InvalidDataException Error(string message) =>
        new($"{_path}: {message} (offset {_baseOffset + _tagOffset})");

    private void Expect(WireType expected)
    {
        if (WireType != expected)
            throw Error($"field {Field} has wire type {(int)WireType} ({WireType}), expected {(int)expected} ({expected})");
    }

    private ReadOnlySpan<byte> Take(int count)
    {
        if (count > _data.Length - _position)
            throw Error($"field {Field} is truncated: needs {count} bytes, {_data.Length - _position} remain");
        var slice = _data.Slice(_position, count);
        _position += count;
        return slice;
    }

    private ulong ReadRawVarint(string what)
    {
        try
        {
            return VarInt.Read(_data, ref _position);
        }
        catch (InvalidDataException e)
        {
            throw Error($"bad {what}: {e.Message}");
        }
    }

    private static readonly System.Text.UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);
}
