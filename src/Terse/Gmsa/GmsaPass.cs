using System.Numerics.Tensors;
using Terse.Neural;
using Terse.Neural.Checkpoints;
using Terse.Neural.Training;

namespace Terse.Gmsa;

/// <summary>
/// Forward and backward of GMSA on a batch of segments, on the engine's <see cref="BatchPass"/>:
/// encoder (base layers [0, k) + LoRA) → group merging → LSA blocks → soft tokens; then the
/// decoder (the whole base, optionally with the KEFT adapter) reads
/// <c>[BOS] [soft tokens] ([AE]) text…</c> as input embeddings and predicts the text. The
/// gradient w.r.t. the decoder's inputs flows back through LSA, merging and the encoder
/// (<see cref="Backward"/>). Batches are right-padded (causal attention keeps padding from
/// affecting real positions), so every sample can have its own compression rate.
/// </summary>
internal sealed class GmsaPass
{
    private readonly GmsaModel _g;
    private readonly LlamaConfig _c;
    private readonly int _encoderTime;
    private readonly BatchPass _encoder;
    private readonly BatchPass? _lsa;
    private readonly float[] _encoderInput, _merged, _dMerged, _dHidden;
    private readonly int[] _lengths, _rates, _softCounts, _firstPrediction;
    private BatchPass? _decoder;
    private readonly Dictionary<(int Time, string? Adapter), BatchPass> _decoders = [];
    private float[] _decoderInput = [];
    private int[] _targets = [];
    private bool _markerUsed, _decoded;

    /// <param name="maxSoftTokens">The most soft tokens a segment may get (at the smallest rate used).</param>
    /// <param name="gradients">The parameters to train (others get no gradient); empty for inference.</param>
    public GmsaPass(GmsaModel model, int batch, int maxSoftTokens, Gradients gradients)
    {
        _g = model;
        _c = model.Decoder.Config;
        Batch = batch;
        MaxSoftTokens = maxSoftTokens;
        Gradients = gradients;
        int d = _c.Dim, segment = model.Settings.SegmentLength;
        if (model.Settings.Merge == MergeMode.Memory && maxSoftTokens > model.Memory!.Shape[0])
            throw new ArgumentOutOfRangeException(nameof(maxSoftTokens), maxSoftTokens, $"this compressor has {model.Memory.Shape[0]} memory tokens");
        _encoderTime = 1 + segment + (model.Settings.Merge == MergeMode.Memory ? maxSoftTokens : 0);
        _encoder = new BatchPass(model.Decoder, batch, _encoderTime, 0, model.Settings.EncoderLayers, gradients, model.Encoder, head: false);
        if (model.Lsa is { } lsa)
            _lsa = new BatchPass(lsa, batch, maxSoftTokens, 0, lsa.Config.Layers, gradients, head: false);
        _encoderInput = new float[batch * _encoderTime * d];
        _dHidden = new float[_encoderInput.Length];
        _merged = new float[batch * maxSoftTokens * d];
        _dMerged = new float[_merged.Length];
        _lengths = new int[batch];
        _rates = new int[batch];
        _softCounts = new int[batch];
        _firstPrediction = new int[batch];
    }

    public int Batch { get; }
    public int MaxSoftTokens { get; }
    public Gradients Gradients { get; }

    /// <summary>Runs encoder, merging and LSA on one segment per batch row (1 … SegmentLength tokens) at the given rates.</summary>
    public void Encode(IReadOnlyList<int[]> segments, IReadOnlyList<int> rates)
    {
        if (segments.Count != Batch || rates.Count != Batch)
            throw new ArgumentException($"expected {Batch} segments and rates");
        int d = _c.Dim;
        var table = _g.Decoder.Parameters[HuggingFaceLlamaNames.Embedding].Value.Span;
        Array.Clear(_encoderInput);
        Array.Clear(_merged);
        for (int b = 0; b < Batch; b++)
        {
            int n = segments[b].Length, rate = rates[b];
            if (n < 1 || n > _g.Settings.SegmentLength)
                throw new ArgumentException($"segment {b} has {n} tokens; 1..{_g.Settings.SegmentLength} fit");
            int m = GroupMerging.GroupCount(n, rate);
            if (m > MaxSoftTokens)
                throw new ArgumentException($"rate {rate} gives {m} soft tokens; this pass holds {MaxSoftTokens}");
            (_lengths[b], _rates[b], _softCounts[b]) = (n, rate, m);
            var rows = _encoderInput.AsSpan(b * _encoderTime * d, _encoderTime * d);
            table.Slice(_g.Bos * d, d).CopyTo(rows);
            for (int i = 0; i < n; i++)
            {
                int token = segments[b][i];
                if ((uint)token >= (uint)_c.VocabSize)
                    throw new ArgumentOutOfRangeException(nameof(segments), token, "token id outside the vocabulary");
                table.Slice(token * d, d).CopyTo(rows.Slice((1 + i) * d, d));
            }
            if (_g.Memory is { } memory)
                memory.Value.Span[..(m * d)].CopyTo(rows.Slice((1 + n) * d));
        }
        _encoder.Forward(_encoderInput);
        var hidden = _encoder.HiddenState(_g.Settings.EncoderLayers);
        for (int b = 0; b < Batch; b++)
        {
            int n = _lengths[b], m = _softCounts[b];
            var text = hidden.Slice((b * _encoderTime + 1) * d);
            var merged = _merged.AsSpan(b * MaxSoftTokens * d, m * d);
            if (_g.Settings.Merge == MergeMode.Memory)
                text.Slice(n * d, m * d).CopyTo(merged);
            else
                GroupMerging.Forward(text[..(n * d)], n, d, _rates[b], _g.Settings.Merge, merged);
        }
        _lsa?.Forward(_merged);
        _decoded = false;
    }

    /// <summary>Soft tokens of the last <see cref="Encode"/>.</summary>
    public int SoftCount(int b) => _softCounts[b];

    /// <summary>The soft tokens of batch row <paramref name="b"/>: [SoftCount(b), dim].</summary>
    public ReadOnlySpan<float> Soft(int b)
    {
        int d = _c.Dim;
        ReadOnlySpan<float> all = _lsa is null ? _merged : _lsa.HiddenState(_lsa.EndLayer);
        return all.Slice(b * MaxSoftTokens * d, _softCounts[b] * d);
    }

    /// <summary>
    /// Decoder forward on <c>[BOS] [soft] ([AE] if <paramref name="marker"/>) text[0 … len−2]</c>,
    /// predicting every token of each text; returns the mean cross-entropy (nats per token).
    /// </summary>
    public float Decode(IReadOnlyList<int[]> texts, bool marker, LoraAdapter? adapter)
    {
        if (texts.Count != Batch)
            throw new ArgumentException($"expected {Batch} texts");
        int d = _c.Dim, longest = texts.Max(t => t.Length);
        if (texts.Any(t => t.Length == 0))
            throw new ArgumentException("every text needs at least one token to predict");
        int time = 1 + MaxSoftTokens + (marker ? 1 : 0) + longest - 1;
        if (time > _c.MaxSequenceLength)
            throw new ArgumentException($"{time} decoder positions exceed the model's {_c.MaxSequenceLength}");
        if (_decoder is null || _decoder.Time != time || _decoder.Adapter != adapter)
        {
            // Evaluation alternates adapters on the same shapes: keep one decoder pass per (length, adapter).
            if (!_decoders.TryGetValue((time, adapter?.Name), out _decoder))
                _decoders[(time, adapter?.Name)] = _decoder = new BatchPass(_g.Decoder, Batch, time, 0, null, Gradients, adapter);
            if (_decoderInput.Length != Batch * time * d)
            {
                _decoderInput = new float[Batch * time * d];
                _targets = new int[Batch * time];
            }
        }
        var table = _g.Decoder.Parameters[HuggingFaceLlamaNames.Embedding].Value.Span;
        Array.Clear(_decoderInput);
        Array.Fill(_targets, -1);
        for (int b = 0; b < Batch; b++)
        {
            var rows = _decoderInput.AsSpan(b * time * d, time * d);
            int m = _softCounts[b];
            table.Slice(_g.Bos * d, d).CopyTo(rows);
            Soft(b).CopyTo(rows.Slice(d));
            if (marker)
                _g.Marker.Value.Span.CopyTo(rows.Slice((1 + m) * d, d));
            int first = m + (marker ? 1 : 0); // this row's output predicts text[0]
            _firstPrediction[b] = first;
            var text = texts[b];
            for (int i = 0; i < text.Length; i++)
            {
                if ((uint)text[i] >= (uint)_c.VocabSize)
                    throw new ArgumentOutOfRangeException(nameof(texts), text[i], "token id outside the vocabulary");
                _targets[b * time + first + i] = text[i];
                if (i + 1 < text.Length)
                    table.Slice(text[i] * d, d).CopyTo(rows.Slice((first + 1 + i) * d, d));
            }
        }
        _markerUsed = marker;
        _decoder.Forward(_decoderInput);
        _decoded = true;
        return _decoder.Loss(_targets);
    }

    /// <summary>Per-position losses of the last <see cref="Decode"/> for batch row b, one per text token.</summary>
    public ReadOnlySpan<float> TextLosses(int b, int length) =>
        _decoder!.RowLosses.Slice(b * _decoder.Time + _firstPrediction[b], length);

    /// <summary>Positions of batch row b where the decoder's most likely token (teacher-forced) is the text's.</summary>
    public int TeacherForcedMatches(int b, int[] text)
    {
        int vocabulary = _c.VocabSize, matches = 0;
        var logits = _decoder!.Logits;
        for (int i = 0; i < text.Length; i++)
        {
            int row = b * _decoder.Time + _firstPrediction[b] + i;
            matches += Neural.Sampler.ArgMax(logits.Slice(row * vocabulary, vocabulary)) == text[i] ? 1 : 0;
        }
        return matches;
    }

    /// <summary>
    /// Backward of the last <see cref="Decode"/> loss: decoder adapter gradients, and (when
    /// <paramref name="intoEncoder"/>) on through the [AE] marker, LSA, merging, the encoder adapter
    /// and the memory tokens.
    /// </summary>
    public void Backward(bool intoEncoder)
    {
        if (!_decoded)
            throw new InvalidOperationException("run Decode first");
        _decoder!.Backward();
        _decoded = false;
        if (!intoEncoder)
            return;
        int d = _c.Dim, time = _decoder.Time;
        var dInput = _decoder.InputGradient;
        var dMarker = Gradients.Of(_g.Marker);
        Array.Clear(_dMerged);
        for (int b = 0; b < Batch; b++)
        {
            int m = _softCounts[b];
            dInput.Slice((b * time + 1) * d, m * d).CopyTo(_dMerged.AsSpan(b * MaxSoftTokens * d));
            if (_markerUsed && !dMarker.IsEmpty)
                TensorPrimitives.Add(dMarker, dInput.Slice((b * time + 1 + m) * d, d), dMarker);
        }
        ReadOnlySpan<float> dMerged = _dMerged;
        if (_lsa is not null)
        {
            _lsa.Backward(_dMerged);
            dMerged = _lsa.InputGradient;
        }
        Array.Clear(_dHidden);
        for (int b = 0; b < Batch; b++)
        {
            int n = _lengths[b], m = _softCounts[b];
            var upstream = dMerged.Slice(b * MaxSoftTokens * d, m * d);
            var text = _dHidden.AsSpan((b * _encoderTime + 1) * d);
            if (_g.Settings.Merge == MergeMode.Memory)
                upstream.CopyTo(text.Slice(n * d));
            else
                GroupMerging.Backward(upstream, n, d, _rates[b], _g.Settings.Merge, text[..(n * d)]);
        }
        _encoder.Backward(_dHidden);
        if (_g.Memory is { } memory && Gradients.Of(memory) is { IsEmpty: false } dMemory)
            for (int b = 0; b < Batch; b++)
            {
                int n = _lengths[b], m = _softCounts[b];
                var rows = _encoder.InputGradient.Slice((b * _encoderTime + 1 + n) * d, m * d);
                TensorPrimitives.Add(dMemory[..(m * d)], rows, dMemory[..(m * d)]);
            }
    }
}
