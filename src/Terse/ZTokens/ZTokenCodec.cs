using System.Numerics.Tensors;
using Terse.EntropyCoding;
using Terse.Neural;

namespace Terse.ZTokens;

/// <summary>
/// How a segment is restored from its code: the decompressor's greedy choice at every position,
/// except at the listed positions, where the stored token is taken instead (a correction). No
/// corrections means the Z code alone restores the segment.
/// </summary>
/// <param name="Positions">Strictly increasing positions within the segment.</param>
/// <param name="Tokens">The token at each position.</param>
public sealed record Corrections(int[] Positions, int[] Tokens)
{
    public static Corrections None { get; } = new([], []);

    public int Count => Positions.Length;
}

/// <summary>What a candidate code of <paramref name="segment"/> costs, and whether greedy decoding restores the segment from it alone.</summary>
public delegate (double Cost, bool Exact) CodeMeasure(int[] code, ReadOnlySpan<int> segment);

/// <summary>A token's interval in the decompressor's frequency table: what the range coder stores for it in a residual.</summary>
internal readonly record struct ResidualSymbol(uint Cumulative, uint Frequency);

/// <summary>
/// Greedy Z-token coding of single segments with a trained <see cref="ZTokenModel"/>: the compressor
/// emits the most likely choice at each step (a code, or End from the second step on) and the
/// decompressor restores the text by the most likely base token at each position. Both run on
/// <see cref="InferenceSession"/>, whose logits are bit-identical on every run, so a decoder given the
/// same code and corrections always rebuilds the same tokens. Not thread-safe: one codec per thread.
/// </summary>
public sealed class ZTokenCodec
{
    private readonly ZTokenModel _z;
    private readonly ZVocabulary _v;
    private readonly InferenceSession _compressor, _decompressor;
    private readonly float[] _emit;

    public ZTokenCodec(ZTokenModel model) : this(model, portableDecoding: false)
    {
    }

    /// <param name="portableDecoding">Decompress in <see cref="ForwardArithmetic.Portable"/>: the same
    /// greedy choices and residual probabilities on every machine, which a container read elsewhere
    /// needs (somewhat slower).</param>
    internal ZTokenCodec(ZTokenModel model, bool portableDecoding)
    {
        _z = model;
        _v = model.Vocabulary;
        _compressor = model.Model.CreateSession(model.Shape.CompressorPositions, model.Compressor);
        int positions = model.Shape.DecompressorPositions + 1;
        _decompressor = portableDecoding
            ? model.Model.CreatePortableSession(positions, model.Decompressor)
            : model.Model.CreateSession(positions, model.Decompressor);
        _emit = new float[_v.EmitChoices];
    }

    public ZTokenModel Model => _z;

    /// <summary>The greedy Z code of a segment (1 … MaxCodeLength Z-token ids).</summary>
    public int[] Encode(ReadOnlySpan<int> segment) => Encode(segment, minLength: 1);

    /// <summary>
    /// The greedy Z code of a segment when the compressor may not stop before
    /// <paramref name="minLength"/> Z-tokens: where it would have stopped, it takes its most likely
    /// code instead, and it stops at <paramref name="minLength"/> when it wanted to stop earlier.
    /// </summary>
    public int[] Encode(ReadOnlySpan<int> segment, int minLength)
    {
        CheckSegment(segment);
        ArgumentOutOfRangeException.ThrowIfLessThan(minLength, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(minLength, _z.Shape.MaxCodeLength);
        _compressor.Reset();
        int[] prompt = [_z.Bos, .. segment, _v.Begin];
        var logits = _compressor.Prefill(prompt);
        var code = new List<int>(_z.Shape.MaxCodeLength);
        var emit = _emit;
        bool wantedToStop = false;
        for (int k = 1; k <= _z.Shape.MaxCodeLength; k++)
        {
            _z.EmitLogits(logits, emit);
            if (k > minLength && wantedToStop)
                break;
            int choice = DiscreteBottleneck.Choose(emit, default, 1f, mayStop: k > minLength);
            if (choice == _v.CodeCount)
                break;
            if (k > 1 && k <= minLength && !wantedToStop)
                wantedToStop = DiscreteBottleneck.Choose(emit, default, 1f, mayStop: true) == _v.CodeCount;
            code.Add(_v.FirstCode + choice);
            if (k < _z.Shape.MaxCodeLength)
                logits = _compressor.Step(_v.FirstCode + choice);
        }
        return [.. code];
    }

    /// <summary>
    /// Encode-time search over code lengths: the greedy code, then, while greedy decoding does not
    /// restore the segment, the codes of each longer minimum length up to the longest code. Returns
    /// the candidate of least cost (<paramref name="measure"/> gives a code's cost and whether it is
    /// exact; the earlier wins ties). The search ends at the first exact code, since a longer one
    /// would restore no more. Costs up to MaxCodeLength encodes and measures.
    /// </summary>
    public int[] EncodeSearch(ReadOnlySpan<int> segment, CodeMeasure measure)
    {
        var best = Encode(segment);
        var (bestCost, exact) = measure(best, segment);
        for (int length = best.Length + 1; !exact && length <= _z.Shape.MaxCodeLength; length++)
        {
            var code = Encode(segment, length);
            (double cost, exact) = measure(code, segment);
            if (cost < bestCost)
                (best, bestCost) = (code, cost);
        }
        return best;
    }

    /// <summary>
    /// Decodes <paramref name="code"/> greedily against the true segment and lists where the greedy
    /// choice differs (the decoder is then fed the true token, so later positions see what decoding
    /// with the corrections will see). Empty when the code alone restores the segment.
    /// </summary>
    public Corrections FindCorrections(ReadOnlySpan<int> code, ReadOnlySpan<int> segment) => MeasureResidual(code, segment, default).Corrections;

    /// <summary>
    /// <see cref="FindCorrections"/>, and when <paramref name="symbols"/> is given (one per token of
    /// the segment) each token's interval in the frequency table of the decompressor's distribution
    /// at its position, with their total cost in bits: what coding the segment's residual takes.
    /// </summary>
    internal (Corrections Corrections, double Bits) MeasureResidual(ReadOnlySpan<int> code, ReadOnlySpan<int> segment, Span<ResidualSymbol> symbols)
    {
        CheckSegment(segment);
        if (!symbols.IsEmpty && symbols.Length != segment.Length)
            throw new ArgumentException($"{symbols.Length} residual symbols for a segment of {segment.Length}", nameof(symbols));
        var positions = new List<int>();
        var tokens = new List<int>();
        double bits = 0;
        var logits = StartDecoding(code);
        for (int i = 0; i < segment.Length; i++)
        {
            if (Greedy(logits) != segment[i])
            {
                positions.Add(i);
                tokens.Add(segment[i]);
            }
            if (!symbols.IsEmpty)
            {
                var table = ResidualTable(logits);
                symbols[i] = new ResidualSymbol((uint)table.Cumulative(segment[i]), (uint)table.Frequency(segment[i]));
                bits += table.CostBits(segment[i]);
            }
            if (i + 1 < segment.Length)
                logits = _decompressor.Step(segment[i]);
        }
        return (new Corrections([.. positions], [.. tokens]), bits);
    }

    /// <summary>Restores <paramref name="output"/>.Length tokens from their code and a residual that the range decoder reads under the decompressor's distributions.</summary>
    internal void DecodeResidual(scoped ReadOnlySpan<int> code, scoped Span<int> output, ref RangeDecoder decoder)
    {
        if (output.Length < 1 || output.Length > _z.Shape.SegmentLength)
            throw new ArgumentOutOfRangeException(nameof(output), output.Length, $"a segment has 1..{_z.Shape.SegmentLength} tokens");
        var logits = StartDecoding(code);
        for (int i = 0; i < output.Length; i++)
        {
            output[i] = ResidualTable(logits).Decode(ref decoder);
            decoder.CheckNotBeyondEnd();
            if (i + 1 < output.Length)
                logits = _decompressor.Step(output[i]);
        }
    }

    private FrequencyTable? _residualTable;

    private FrequencyTable ResidualTable(ReadOnlySpan<float> logits)
    {
        _residualTable ??= new FrequencyTable(_v.BaseSize);
        _residualTable.SetFromLogits(logits[.._v.BaseSize]);
        return _residualTable;
    }

    /// <summary>Restores a segment of <paramref name="length"/> tokens from its code and corrections.</summary>
    public int[] Decode(ReadOnlySpan<int> code, int length, Corrections corrections)
    {
        if (length < 1 || length > _z.Shape.SegmentLength)
            throw new ArgumentOutOfRangeException(nameof(length), length, $"a segment has 1..{_z.Shape.SegmentLength} tokens");
        var output = new int[length];
        var logits = StartDecoding(code);
        int next = 0;
        for (int i = 0; i < length; i++)
        {
            if (next < corrections.Count && corrections.Positions[next] == i)
                output[i] = corrections.Tokens[next++];
            else
                output[i] = Greedy(logits);
            if (i + 1 < length)
                logits = _decompressor.Step(output[i]);
        }
        if (next != corrections.Count)
            throw new InvalidDataException($"a correction at position {corrections.Positions[next]} lies outside a segment of {length} tokens");
        return output;
    }

    /// <summary>
    /// Cross-entropy (nats, summed) of <paramref name="text"/> after a Z code, through the decompressor:
    /// after End it is the reconstruction loss, after Continue the loss of predicting the following text.
    /// Restricted to the base vocabulary, as training and decoding are.
    /// </summary>
    public double CrossEntropyAfterCode(ReadOnlySpan<int> code, ReadOnlySpan<int> text, bool continuation)
    {
        CheckSegment(text);
        var logits = StartDecoding(code, continuation ? _v.Continue : _v.End);
        double nats = 0;
        for (int i = 0; i < text.Length; i++)
        {
            nats += ZTokenTrainer.RestrictedCrossEntropy(logits[.._v.BaseSize], text[i], default, 0).Nats;
            if (i + 1 < text.Length)
                logits = _decompressor.Step(text[i]);
        }
        return nats;
    }

    private ReadOnlySpan<float> StartDecoding(ReadOnlySpan<int> code, int separator = -1)
    {
        if (code.Length < 1 || code.Length > _z.Shape.MaxCodeLength)
            throw new ArgumentException($"a Z code has 1..{_z.Shape.MaxCodeLength} Z-tokens, this one {code.Length}", nameof(code));
        foreach (int id in code)
            if (!_v.IsCode(id))
                throw new ArgumentOutOfRangeException(nameof(code), id, $"not a Z-token id ({_v.FirstCode}..{_v.End - 1})");
        _decompressor.Reset();
        int[] prompt = [_v.Begin, .. code, separator < 0 ? _v.End : separator];
        return _decompressor.Prefill(prompt);
    }

    private int Greedy(ReadOnlySpan<float> logits) => TensorPrimitives.IndexOfMax(logits[.._v.BaseSize]);

    private void CheckSegment(ReadOnlySpan<int> segment)
    {
        if (segment.Length < 1 || segment.Length > _z.Shape.SegmentLength)
            throw new ArgumentException($"a segment has 1..{_z.Shape.SegmentLength} tokens, this one {segment.Length}", nameof(segment));
        foreach (int id in segment)
            if ((uint)id >= (uint)_v.BaseSize)
                throw new ArgumentOutOfRangeException(nameof(segment), id, $"token id outside the base vocabulary (0..{_v.BaseSize - 1})");
    }
}
