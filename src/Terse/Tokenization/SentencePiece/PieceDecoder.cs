using System.Buffers;

namespace Terse.Tokenization.SentencePiece;

/// <summary>How one id turns back into bytes.</summary>
internal enum PieceOutput : byte
{
    /// <summary>A sequence marker (BOS, EOS, padding): no text at all.</summary>
    Nothing,
    /// <summary>Text whose leading space, if it is the first text of the sequence, is the dummy prefix and is dropped.</summary>
    Text,
    /// <summary>Text written as is, never stripped (the unknown surface, control tokens spelled out).</summary>
    Literal,
    /// <summary>One raw byte (<c>&lt;0xXX&gt;</c> pieces).</summary>
    Byte,
}

/// <summary>
/// The decoder shared by SentencePiece and llama2.c vocabularies: each id renders to fixed bytes
/// (spaces already restored), and the space that the encoder's dummy prefix put in front of the
/// text is dropped from the first text piece — SentencePiece's rule: the first piece that produces
/// output, markers being invisible, loses a leading space if it is a text piece.
/// </summary>
internal sealed class PieceDecoder
{
    private readonly byte[][] _bytes;
    private readonly PieceOutput[] _output;
    private readonly bool _stripDummyPrefix;
    private readonly bool _stripAllLeadingSpace;

    /// <param name="stripDummyPrefix">Drop the leading space of the first text piece.</param>
    /// <param name="stripAllLeadingSpace">
    /// Keep dropping while nothing has been written (SentencePiece does this when the normalizer
    /// removes extra whitespace, since such text never starts with a space).
    /// </param>
    public PieceDecoder(byte[][] bytes, PieceOutput[] output, bool stripDummyPrefix, bool stripAllLeadingSpace = false)
    {
        _bytes = bytes;
        _output = output;
        _stripDummyPrefix = stripDummyPrefix;
        _stripAllLeadingSpace = stripAllLeadingSpace;
    }

    public int Count => _bytes.Length;

    public PieceOutput OutputOf(int id) => _output[id];

    /// <summary>The rendered bytes of one id, without any sequence rule (a byte piece gives its one byte).</summary>
    public ReadOnlySpan<byte> BytesOf(int id) => _bytes[id];

    public void Decode(ReadOnlySpan<int> ids, IBufferWriter<byte> output, Func<int, Exception> outOfRange)
    {
        bool atStart = _stripDummyPrefix;
        foreach (int id in ids)
        {
            if ((uint)id >= (uint)_bytes.Length)
                throw outOfRange(id);
            var kind = _output[id];
            if (kind == PieceOutput.Nothing)
                continue;
            ReadOnlySpan<byte> piece = _bytes[id];
            if (atStart && kind == PieceOutput.Text)
            {
                bool stripped = piece.Length > 0 && piece[0] == (byte)' ';
                if (stripped)
                    piece = piece[1..];
                // An empty text piece leaves the start where it was; a stripped one ends it unless
                // all leading space goes.
                if (piece.Length == 0 && (!stripped || _stripAllLeadingSpace))
                    continue;
            }
            atStart = false;
            output.Write(piece);
        }
    }
}
