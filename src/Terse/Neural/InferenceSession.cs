using System.Buffers;
using System.Numerics.Tensors;
using Terse.Neural.Checkpoints;
using Terse.Neural.Layers;
using Terse.Neural.Numerics;

namespace Terse.Neural;

/// <summary>
/// Decoding state of one sequence: a KV cache and the position reached. <see cref="Step(int)"/> feeds
/// one token and returns the logits for the next; <see cref="Prefill(ReadOnlySpan{int})"/> feeds many
/// at once.
/// </summary>
/// <remarks>
/// <para><b>Determinism.</b> The logits are a pure function of the model's weights (and adapter) and the
/// inputs fed since the last <see cref="Reset"/>: bit-identical whatever <see cref="Compute.Threads"/>
/// is, whichever <see cref="Gemm"/> backend is loaded (none is used here), whether other sessions run
/// at the same time, and whether the inputs came one <see cref="Step(int)"/> at a time or in
/// <see cref="Prefill(ReadOnlySpan{int}, Span{float})"/> chunks of any size. Every matrix-product
/// element is the canonical fixed-order dot product of <see cref="FixedOrder"/> (the same bits with
/// AVX-512 or AVX2), every attention row comes from <see cref="Attention.AttendOne"/>, and each is
/// computed by one thread: threads only split independent outputs. Element-wise functions (exp,
/// sigmoid) are the same <c>TensorPrimitives</c> calls on every path. Promised for one build of the
/// library on one kind of machine (exp and friends may differ between runtime versions).</para>
/// <para>A session made with <see cref="ForwardArithmetic.Portable"/> (<see cref="LlamaModel.CreatePortableSession"/>,
/// what the entropy coder uses) keeps every promise above and also gives the same bits on every
/// machine: its kernels (<see cref="Portable"/>) depend on no vector width, intrinsic, fused
/// multiply-add or library function. An adapter is applied in the same arithmetic: its products
/// in the portable kernels, its scaled sum as separately rounded multiplies and adds.</para>
/// <para>A session is not thread-safe; use one per sequence (they may share the model).</para>
/// </remarks>
public sealed class InferenceSession
{
    /// <summary>Rows processed per pass; bounds the scratch memory of long prefills.</summary>
    private const int ChunkRows = 64;

    private readonly LlamaModel _model;
    private readonly LlamaConfig _config;
    private readonly FloatBuffer[] _keys, _values;
    private readonly FloatBuffer _x, _normed, _query, _keyRows, _attention, _projected, _gate, _up, _hidden, _logits;
    private readonly LoraAdapter? _adapter;
    private readonly FloatBuffer? _loraRank, _loraOut;
    private readonly ForwardArithmetic _arithmetic;
    private readonly Rope _rope;

    internal InferenceSession(LlamaModel model, int capacity, LoraAdapter? adapter, ForwardArithmetic arithmetic)
    {
        _model = model;
        _config = model.Config;
        model.Applies(adapter);
        _adapter = adapter;
        _arithmetic = arithmetic;
        _rope = arithmetic.Rope(model);
        if (adapter is not null)
        {
            _loraRank = new FloatBuffer(ChunkRows * adapter.Settings.Rank);
            _loraOut = new FloatBuffer(ChunkRows * Math.Max(_config.Dim, _config.HiddenDim));
        }
        if (capacity < 1 || capacity > _config.MaxSequenceLength)
            throw new ArgumentOutOfRangeException(nameof(capacity), capacity, $"capacity must be in 1..{_config.MaxSequenceLength} (the model's sequence length)");
        Capacity = capacity;
        int d = _config.Dim, kv = _config.KvDim, h = _config.HiddenDim;
        // Keys are cached transposed, [kv head][dimension][position], so attention scores vectorise
        // over positions; values stay one row per position.
        _keys = new FloatBuffer[_config.Layers];
        _values = new FloatBuffer[_config.Layers];
        for (int l = 0; l < _config.Layers; l++)
        {
            _keys[l] = new FloatBuffer(checked(capacity * kv));
            _values[l] = new FloatBuffer(checked(capacity * kv));
        }
        _x = new FloatBuffer(ChunkRows * d);
        _normed = new FloatBuffer(ChunkRows * d);
        _query = new FloatBuffer(ChunkRows * d);
        _keyRows = new FloatBuffer(ChunkRows * kv);
        _attention = new FloatBuffer(ChunkRows * d);
        _projected = new FloatBuffer(ChunkRows * d);
        _gate = new FloatBuffer(ChunkRows * h);
        _up = new FloatBuffer(ChunkRows * h);
        _hidden = new FloatBuffer(ChunkRows * h);
        _logits = new FloatBuffer(_config.VocabSize);
    }

    public LlamaModel Model => _model;

    /// <summary>The LoRA adapter applied on top of the base, if any.</summary>
    public LoraAdapter? Adapter => _adapter;

    /// <summary>Positions fed so far (the position the next input takes).</summary>
    public int Position { get; private set; }

    /// <summary>Positions the cache holds.</summary>
    public int Capacity { get; }

    /// <summary>Logits produced by the last call (vocabulary-sized).</summary>
    public ReadOnlySpan<float> Logits => _logits.Span;

    /// <summary>Forgets every position.</summary>
    public void Reset() => Position = 0;

    /// <summary>Goes back to <paramref name="position"/> (≤ <see cref="Position"/>); later positions are forgotten.</summary>
    public void Rewind(int position)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(position);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(position, Position);
        Position = position;
    }

    /// <summary>Feeds one token; returns the next-token logits (valid until the next call).</summary>
    public ReadOnlySpan<float> Step(int token)
    {
        Advance([token], default, 1, default);
        return _logits.Span;
    }

    /// <summary>Feeds one input embedding (a soft token, width <c>Dim</c>) in place of a token's.</summary>
    public ReadOnlySpan<float> Step(ReadOnlySpan<float> embedding)
    {
        CheckEmbeddings(embedding, 1);
        Advance(default, embedding, 1, default);
        return _logits.Span;
    }

    /// <summary>Feeds several tokens; returns the logits after the last one.</summary>
    public ReadOnlySpan<float> Prefill(ReadOnlySpan<int> tokens)
    {
        if (tokens.IsEmpty)
            throw new ArgumentException("nothing to prefill", nameof(tokens));
        Advance(tokens, default, tokens.Length, default);
        return _logits.Span;
    }

    /// <summary>
    /// Feeds several tokens and writes the logits after each of them into
    /// <paramref name="logits"/> (tokens.Length × vocabulary, row-major) — the same values a
    /// <see cref="Step(int)"/> per token would return.
    /// </summary>
    public void Prefill(ReadOnlySpan<int> tokens, Span<float> logits)
    {
        if (logits.Length < (long)tokens.Length * _config.VocabSize)
            throw new ArgumentException($"logits needs {tokens.Length}×{_config.VocabSize} floats", nameof(logits));
        Advance(tokens, default, tokens.Length, logits);
    }

    /// <summary>Feeds several input embeddings (count × Dim, row-major); returns the logits after the last.</summary>
    public ReadOnlySpan<float> PrefillEmbeddings(ReadOnlySpan<float> embeddings)
    {
        int count = embeddings.Length / _config.Dim;
        CheckEmbeddings(embeddings, count);
        if (count == 0)
            throw new ArgumentException("nothing to prefill", nameof(embeddings));
        Advance(default, embeddings, count, default);
        return _logits.Span;
    }

    private void CheckEmbeddings(ReadOnlySpan<float> embeddings, int count)
    {
        if (embeddings.Length != count * _config.Dim)
            throw new ArgumentException($"expected {count} embedding(s) of width {_config.Dim}, got {embeddings.Length} floats", nameof(embeddings));
    }

    private void Advance(ReadOnlySpan<int> tokens, ReadOnlySpan<float> embeddings, int count, Span<float> allLogits)
    {
        if (Position + count > Capacity)
            throw new InvalidOperationException($"the session holds {Capacity} positions; {Position} are used and {count} more were fed");
        foreach (int token in tokens)
            if ((uint)token >= (uint)_config.VocabSize)
                throw new ArgumentOutOfRangeException(nameof(tokens), token, $"token id outside the vocabulary (0..{_config.VocabSize - 1})");
        int d = _config.Dim;
        // One call of the caller's is one forward call: dynamic rope scaling follows where it ends,
        // not the internal chunks.
        var angles = _rope.For(Position, Position + count);
        for (int done = 0; done < count; done += ChunkRows)
        {
            int rows = Math.Min(ChunkRows, count - done);
            var x = _x.Span[..(rows * d)];
            if (!tokens.IsEmpty)
                for (int r = 0; r < rows; r++)
                    _model.Embedding.Value.Span.Slice(tokens[done + r] * d, d).CopyTo(x.Slice(r * d, d));
            else
                embeddings.Slice(done * d, rows * d).CopyTo(x);
            bool last = done + rows == count;
            ForwardChunk(rows, allLogits.IsEmpty ? default : allLogits.Slice(done * _config.VocabSize, rows * _config.VocabSize), last, angles);
            Position += rows;
        }
    }

    /// <summary>Runs rows x[0..rows) at positions Position.. through every layer and the classifier.</summary>
    private void ForwardChunk(int rows, Span<float> allLogits, bool produceLastLogits, RopeAngles angles)
    {
        var c = _config;
        int d = c.Dim, kv = c.KvDim, h = c.HiddenDim, p0 = Position;
        var x = _x.Span[..(rows * d)];
        var normed = _normed.Span[..(rows * d)];
        for (int l = 0; l < c.Layers; l++)
        {
            var w = _model.Layers[l];
            var keys = _keys[l].Span;
            var values = _values[l].Span;
            _arithmetic.RmsNorm(x, w.AttentionNorm.Value.Span, normed, rows, d, c.NormEpsilon);
            var query = _query.Span[..(rows * d)];
            Project(l, LlamaProjection.Query, normed, d, query, d, rows);
            var keyRows = _keyRows.Span[..(rows * kv)];
            Project(l, LlamaProjection.Key, normed, d, keyRows, kv, rows);
            Project(l, LlamaProjection.Value, normed, d, values[(p0 * kv)..], kv, rows);
            for (int r = 0; r < rows; r++)
            {
                angles.Forward(query.Slice(r * d, d), p0 + r);
                angles.Forward(keyRows.Slice(r * kv, kv), p0 + r);
            }
            Attention.TransposeKeys(keyRows, kv, rows, c.KvHeads, c.HeadSize, keys, Capacity, p0);
            Attend(l, rows, p0);
            Project(l, LlamaProjection.Output, _attention.Span, d, _projected.Span, d, rows);
            TensorPrimitives.Add(x, _projected.Span[..(rows * d)], x);

            _arithmetic.RmsNorm(x, w.FeedForwardNorm.Value.Span, normed, rows, d, c.NormEpsilon);
            Project(l, LlamaProjection.Gate, normed, d, _gate.Span, h, rows);
            Project(l, LlamaProjection.Up, normed, d, _up.Span, h, rows);
            _arithmetic.SwiGlu(_gate.Span[..(rows * h)], _up.Span[..(rows * h)], _hidden.Span[..(rows * h)]);
            Project(l, LlamaProjection.Down, _hidden.Span, h, _projected.Span, d, rows);
            TensorPrimitives.Add(x, _projected.Span[..(rows * d)], x);
        }
        // Only rows whose logits are wanted go through the final norm and the classifier.
        int first = allLogits.IsEmpty ? rows - 1 : 0;
        if (allLogits.IsEmpty && !produceLastLogits)
            return;
        var wanted = normed[(first * d)..];
        _arithmetic.RmsNorm(x[(first * d)..], _model.FinalNorm.Value.Span, wanted, rows - first, d, c.NormEpsilon);
        var classifier = _model.Classifier.Value.Span;
        if (!allLogits.IsEmpty)
        {
            _arithmetic.MultiplyTransposed(wanted, d, classifier, default, allLogits, c.VocabSize, rows, c.VocabSize, d);
            if (produceLastLogits)
                allLogits[((rows - 1) * c.VocabSize)..].CopyTo(_logits.Span);
        }
        else
            _arithmetic.MultiplyTransposed(wanted, d, classifier, default, _logits.Span, c.VocabSize, 1, c.VocabSize, d);
    }

    private static ReadOnlySpan<float> Bias(Parameter? bias) => bias is null ? default : bias.Value.Span;

    /// <summary>y = x·Wᵀ + b (+ scale·(x·Aᵀ)·Bᵀ with an unmerged adapter), all in the session's arithmetic.</summary>
    private void Project(int layer, LlamaProjection projection, ReadOnlySpan<float> x, int ldx, Span<float> y, int ldy, int rows)
    {
        var weight = _model.Layers[layer].Weight(projection);
        int outputs = weight.Shape[0], inputs = weight.Shape[1];
        _arithmetic.MultiplyTransposed(x, ldx, weight.Value.Span, Bias(_model.Layers[layer].Bias(projection)), y, ldy, rows, outputs, inputs);
        if (_adapter is null || !_model.Applies(_adapter) || _adapter.Pair(layer, projection) is not { } pair)
            return;
        int rank = _adapter.Settings.Rank;
        _arithmetic.MultiplyTransposed(x, ldx, pair.A.Value.Span, default, _loraRank!.Span, rank, rows, rank, inputs);          // [rows, rank]
        _arithmetic.MultiplyTransposed(_loraRank.Span, rank, pair.B.Value.Span, default, _loraOut!.Span, outputs, rows, outputs, rank); // [rows, outputs]
        for (int r = 0; r < rows; r++)
        {
            var row = y.Slice(r * ldy, outputs);
            var delta = _loraOut.Span.Slice(r * outputs, outputs);
            if (_arithmetic.IsPortable)
            {
                // Whether a fused multiply-add exists must not change the bits: round the product, then the sum.
                TensorPrimitives.Multiply(delta, _adapter.Scale, delta);
                TensorPrimitives.Add(row, delta, row);
            }
            else
                TensorPrimitives.FusedMultiplyAdd(delta, _adapter.Scale, row, row);
        }
    }

    /// <summary>Attention of each new row (and head) over the cache up to its own position.</summary>
    private unsafe void Attend(int layer, int rows, int p0)
    {
        var job = new AttentionJob(_config, _arithmetic, _query.Pointer, _attention.Pointer, _keys[layer].Pointer, _values[layer].Pointer, p0, Capacity);
        Compute.For(rows * _config.Heads, 2L * _config.HeadSize * (p0 + rows), job);
    }

    private readonly unsafe struct AttentionJob(LlamaConfig config, ForwardArithmetic arithmetic, float* query, float* output, float* keys, float* values, int p0, int capacity) : IRangeJob
    {
        public void Run(int start, int end)
        {
            int heads = config.Heads, headSize = config.HeadSize, d = config.Dim, kv = config.KvDim, group = config.Heads / config.KvHeads;
            int longest = p0 + (end - 1) / heads + 1;
            var probabilities = ArrayPool<float>.Shared.Rent(longest);
            fixed (float* p = probabilities)
                for (int item = start; item < end; item++)
                {
                    int r = item / heads, head = item % heads, kvHead = head / group;
                    arithmetic.AttendOne(query + r * d + head * headSize, headSize, keys + (long)kvHead * headSize * capacity, capacity,
                        values + kvHead * headSize, kv, p0 + r + 1, p, output + r * d + head * headSize);
                }
            ArrayPool<float>.Shared.Return(probabilities);
        }
    }
}
