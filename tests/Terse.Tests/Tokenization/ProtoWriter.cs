using System.Text;

namespace Terse.Tests.Tokenization;

/// <summary>Writes protobuf wire format by hand, to build small or deliberately broken SentencePiece models.</summary>
public sealed class ProtoWriter
{
    private readonly List<byte> _bytes = new();

    public byte[] ToArray() => _bytes.ToArray();

    public ProtoWriter Varint(int field, ulong value) => Tag(field, 0).Raw(value);

    public ProtoWriter Float(int field, float value)
    {
        Tag(field, 5);
        _bytes.AddRange(BitConverter.GetBytes(value));
        return this;
    }

    public ProtoWriter Bytes(int field, byte[] value)
    {
        Tag(field, 2).Raw((ulong)value.Length);
        _bytes.AddRange(value);
        return this;
    }

    public ProtoWriter String(int field, string value) => Bytes(field, Encoding.UTF8.GetBytes(value));

    public ProtoWriter Message(int field, ProtoWriter message) => Bytes(field, message.ToArray());

    public ProtoWriter Tag(int field, int wireType) => Raw(((ulong)field << 3) | (uint)wireType);

    public ProtoWriter Raw(ulong value)
    {
        while (value >= 0x80)
        {
            _bytes.Add((byte)(value | 0x80));
            value >>= 7;
        }
        _bytes.Add((byte)value);
        return this;
    }

    public ProtoWriter RawBytes(params byte[] bytes)
    {
        _bytes.AddRange(bytes);
        return this;
    }

    /// <summary>
    /// A small SentencePiece model: pieces given as (text, score, type) with type numbers as in the
    /// proto (1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte).
    /// </summary>
    public static byte[] Model(IEnumerable<(string Piece, float Score, int Type)> pieces, int modelType = 2, bool byteFallback = false,
        bool addDummyPrefix = true, bool removeExtraWhitespaces = false, byte[]? charsMap = null)
    {
        var model = new ProtoWriter();
        foreach (var (piece, score, type) in pieces)
            model.Message(1, new ProtoWriter().String(1, piece).Float(2, score).Varint(3, (ulong)type));
        model.Message(2, new ProtoWriter().Varint(3, (ulong)modelType).Varint(35, byteFallback ? 1UL : 0UL));
        var normalizer = new ProtoWriter().String(1, "identity").Varint(3, addDummyPrefix ? 1UL : 0).Varint(4, removeExtraWhitespaces ? 1UL : 0);
        if (charsMap is not null)
            normalizer.Bytes(2, charsMap);
        model.Message(3, normalizer);
        return model.ToArray();
    }

    /// <summary>&lt;unk&gt;, &lt;s&gt;, &lt;/s&gt; then the given normal pieces with descending scores (first = best).</summary>
    public static List<(string, float, int)> Pieces(params string[] normal)
    {
        var pieces = new List<(string, float, int)> { ("<unk>", 0, 2), ("<s>", 0, 3), ("</s>", 0, 3) };
        for (int i = 0; i < normal.Length; i++)
            pieces.Add((normal[i], -i, 1));
        return pieces;
    }
}
