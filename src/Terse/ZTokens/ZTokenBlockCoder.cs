using Terse.EntropyCoding;

namespace Terse.ZTokens;

/// <summary>How a segment is stored in a version 2 block.</summary>
internal enum SegmentKind
{
    /// <summary>Its Z code, which greedy decoding restores on its own.</summary>
    Exact = 0,
    /// <summary>Its Z code, then every token under the decompressor's distribution after the code.</summary>
    Residual = 1,
    /// <summary>Its token ids, uniform over the vocabulary (the fallback).</summary>
    Raw = 2,
}

/// <summary>What was stored for one segment (for the compression report).</summary>
internal readonly record struct SegmentOutcome(SegmentKind Kind, int CodeLength, int Deviations, int Tokens);

/// <summary>
/// Codes the segments of one block of a version 2 Z-token container as one range-coded stream:
/// per segment its kind, then for a code its length and Z-tokens (adaptive order-0 models, reset
/// per block) and, for a residual, each token in the frequency table of the decompressor's
/// distribution (<see cref="ZTokenCodec.MeasureResidual"/>), or for a raw segment its ids. The
/// encoder takes, per segment, whichever kind costs fewest bits now. The decompressor runs in
/// portable arithmetic, so a block decodes to the same tokens on every machine.
/// </summary>
internal sealed class ZTokenBlockCoder
{
    private readonly ZTokenCodec _codec;
    private readonly ZVocabulary _v;
    private readonly int _maxCode;
    private readonly AdaptiveSymbolModel _kinds = new(3), _lengths, _codes;
    private readonly ResidualSymbol[] _residual;   // [segment length]

    public ZTokenBlockCoder(ZTokenCodec codec)
    {
        _codec = codec;
        _v = codec.Model.Vocabulary;
        _maxCode = codec.Model.Shape.MaxCodeLength;
        _lengths = new AdaptiveSymbolModel(_maxCode);
        _codes = new AdaptiveSymbolModel(_v.CodeCount);
        _residual = new ResidualSymbol[codec.Model.Shape.SegmentLength];
    }

    public ZTokenCodec Codec => _codec;

    private void Reset()
    {
        _kinds.Reset();
        _lengths.Reset();
        _codes.Reset();
    }

    /// <summary>
    /// Encodes <paramref name="segments"/> (their token ids) with the Z code <paramref name="encode"/>
    /// gives each; <paramref name="repair"/> false stores a segment whose code is not exact raw.
    /// </summary>
    public byte[] Encode(IReadOnlyList<int[]> segments, Func<ZTokenCodec, int[], int[]> encode, bool repair, Span<SegmentOutcome> outcomes)
    {
        Reset();
        var encoder = new RangeEncoder();
        double bitsPerRawToken = Math.Log2(_v.BaseSize);
        for (int s = 0; s < segments.Count; s++)
        {
            var segment = segments[s];
            var code = encode(_codec, segment);
            var residual = _residual.AsSpan(0, segment.Length);
            var (corrections, residualBits) = _codec.MeasureResidual(code, segment, residual);
            double codeBits = _lengths.CostBits(code.Length - 1);
            foreach (int id in code)
                codeBits += _codes.CostBits(id - _v.FirstCode);
            var kind = corrections.Count == 0 ? SegmentKind.Exact : SegmentKind.Residual;
            double codedBits = _kinds.CostBits((int)kind) + codeBits + (kind == SegmentKind.Residual ? residualBits : 0);
            if ((kind == SegmentKind.Residual && !repair) || _kinds.CostBits((int)SegmentKind.Raw) + segment.Length * bitsPerRawToken < codedBits)
                kind = SegmentKind.Raw;
            _kinds.Encode(encoder, (int)kind);
            if (kind == SegmentKind.Raw)
            {
                foreach (int token in segment)
                    encoder.Encode((uint)token, 1, (uint)_v.BaseSize);
                outcomes[s] = new SegmentOutcome(kind, 0, 0, segment.Length);
                continue;
            }
            _lengths.Encode(encoder, code.Length - 1);
            foreach (int id in code)
                _codes.Encode(encoder, id - _v.FirstCode);
            if (kind == SegmentKind.Residual)
                foreach (var symbol in residual)
                    encoder.Encode(symbol.Cumulative, symbol.Frequency, 1u << FrequencyTable.DefaultTotalBits);
            outcomes[s] = new SegmentOutcome(kind, code.Length, corrections.Count, segment.Length);
        }
        return encoder.Finish();
    }

    /// <summary>Decodes a block into <paramref name="tokens"/>: segments of <paramref name="segmentLength"/> tokens, the last one possibly shorter.</summary>
    public void Decode(ReadOnlySpan<byte> stream, Span<int> tokens, int segmentLength)
    {
        Reset();
        var decoder = new RangeDecoder(stream);
        var code = new int[_maxCode];
        for (int start = 0; start < tokens.Length; start += segmentLength)
        {
            var segment = tokens.Slice(start, Math.Min(segmentLength, tokens.Length - start));
            var kind = (SegmentKind)_kinds.Decode(ref decoder);
            if (kind == SegmentKind.Raw)
            {
                for (int i = 0; i < segment.Length; i++)
                {
                    uint token = decoder.GetTarget((uint)_v.BaseSize);
                    decoder.Consume(token, 1);
                    segment[i] = (int)token;
                }
                decoder.CheckNotBeyondEnd();
                continue;
            }
            int length = _lengths.Decode(ref decoder) + 1;
            for (int k = 0; k < length; k++)
                code[k] = _v.FirstCode + _codes.Decode(ref decoder);
            if (kind == SegmentKind.Exact)
                _codec.Decode(code.AsSpan(0, length), segment.Length, Corrections.None).CopyTo(segment);
            else
                _codec.DecodeResidual(code.AsSpan(0, length), segment, ref decoder);
        }
        decoder.CheckNotBeyondEnd();
        if (decoder.Position < stream.Length)
            throw new InvalidDataException($"{stream.Length - decoder.Position} coded bytes left over after a block of {tokens.Length} tokens");
    }
}
