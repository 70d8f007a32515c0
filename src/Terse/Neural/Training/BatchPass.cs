using System.Numerics.Tensors;
using Terse.Neural.Checkpoints;
using Terse.Neural.Layers;
using Terse.Neural.Numerics;

namespace Terse.Neural.Training;

/// <summary>
/// Forward and backward of a [batch, time] block of sequences (each starting at position 0) through
/// layers [<see cref="FirstLayer"/>, <see cref="EndLayer"/>) of a model, keeping every activation the
/// backward pass needs. Inputs are token ids or embeddings (any vectors of width dim: soft tokens,
/// or hidden states entering <see cref="FirstLayer"/>). When the stack ends at the last layer the
/// final norm and classifier follow, and <see cref="Loss"/> gives the cross-entropy. Backward adds
/// parameter gradients to <see cref="Gradients"/> (frozen parameters get none) and leaves the
/// gradient w.r.t. the inputs in <see cref="InputGradient"/>. Matrix products go through
/// <see cref="LlamaModel.Gemm"/>; the result agrees with <see cref="InferenceSession"/> to float
/// rounding, not bit for bit.
/// </summary>
public sealed class BatchPass
{
    private readonly LlamaModel _model;
    private readonly LlamaConfig _c;
    private readonly int _n;
    private readonly FloatBuffer[] _hidden;
    private readonly LayerActivations[] _layers;
    private readonly FloatBuffer? _finalNormed, _finalRstd, _logits, _rowLosses, _lossScratch;
    private readonly FloatBuffer _keysTransposed;
    private readonly RopeAngles _rope;
    private readonly FloatBuffer _dResidual, _dNormed, _dQuery, _dKey, _dValue, _dAttention, _dGate, _dUp, _dHidden;
    private Random _dropoutRandom;
    private readonly Dictionary<(int Layer, LlamaProjection Projection), LoraActivations> _lora = [];
    private FloatBuffer? _loraScratch;
    private int[] _tokens = [];
    private int[] _targets = [];
    private int _counted;
    private Stage _stage;

    private enum Stage { Empty, Forward, Loss, Backward }

    /// <param name="adapter">A LoRA adapter of the model to apply (and train), or null for the base alone.</param>
    /// <param name="seed">Seeds the adapter's dropout masks.</param>
    /// <param name="head">
    /// Whether a stack that reaches the last layer ends with the final norm and classifier; false
    /// makes it output (and take gradients of) the last hidden state, for a block used as a module.
    /// </param>
    public BatchPass(LlamaModel model, int batch, int time, int firstLayer = 0, int? endLayer = null, Gradients? gradients = null,
        LoraAdapter? adapter = null, int seed = 0, bool head = true)
    {
        _model = model;
        _c = model.Config;
        model.Applies(adapter);
        Adapter = adapter;
        _dropoutRandom = new Random(seed);
        int end = endLayer ?? _c.Layers;
        ArgumentOutOfRangeException.ThrowIfLessThan(batch, 1);
        if (time < 1 || time > _c.MaxSequenceLength)
            throw new ArgumentOutOfRangeException(nameof(time), time, $"time must be in 1..{_c.MaxSequenceLength}");
        if (firstLayer < 0 || end > _c.Layers || firstLayer >= end)
            throw new ArgumentOutOfRangeException(nameof(firstLayer), $"layers [{firstLayer}, {end}) are not a non-empty range within 0..{_c.Layers}");
        Batch = batch;
        Time = time;
        FirstLayer = firstLayer;
        EndLayer = end;
        HasHead = head && end == _c.Layers;
        _n = checked(batch * time);
        // Every row is a whole sequence of `time` positions, one forward call in transformers' terms.
        _rope = model.Rope.For(0, time);
        Gradients = gradients ?? new Gradients(adapter is null ? model.Parameters : model.Parameters.Concat(adapter.Parameters));
        int d = _c.Dim, kv = _c.KvDim, h = _c.HiddenDim;
        _hidden = new FloatBuffer[end - firstLayer + 1];
        for (int i = 0; i < _hidden.Length; i++)
            _hidden[i] = new FloatBuffer(checked(_n * d));
        _layers = new LayerActivations[end - firstLayer];
        for (int i = 0; i < _layers.Length; i++)
            _layers[i] = new LayerActivations(_n, d, kv, h, checked(batch * _c.Heads * time * time));
        if (HasHead)
        {
            _finalNormed = new FloatBuffer(_n * d);
            _finalRstd = new FloatBuffer(_n);
            _logits = new FloatBuffer(checked(_n * _c.VocabSize));
            _rowLosses = new FloatBuffer(_n);
            _lossScratch = new FloatBuffer(_c.VocabSize);
        }
        _keysTransposed = new FloatBuffer(_n * kv);
        _dResidual = new FloatBuffer(_n * d);
        _dNormed = new FloatBuffer(_n * d);
        _dQuery = new FloatBuffer(_n * d);
        _dKey = new FloatBuffer(_n * kv);
        _dValue = new FloatBuffer(_n * kv);
        _dAttention = new FloatBuffer(_n * d);
        _dGate = new FloatBuffer(_n * h);
        _dUp = new FloatBuffer(_n * h);
        _dHidden = new FloatBuffer(_n * h);
    }

    public LlamaModel Model => _model;
    public int Batch { get; }
    public int Time { get; }
    public int FirstLayer { get; }
    public int EndLayer { get; }

    /// <summary>The stack ends with the final norm and the classifier (it reaches the last layer and was not built without its head).</summary>
    public bool HasHead { get; }

    public Gradients Gradients { get; }

    public LoraAdapter? Adapter { get; }

    /// <summary>Restarts the adapter's dropout masks from <paramref name="seed"/> (a trainer reseeds each micro-batch).</summary>
    public void SetDropoutSeed(int seed) => _dropoutRandom = new Random(seed);

    /// <summary>Forward from token ids [batch·time] (the stack must start at layer 0).</summary>
    public void Forward(ReadOnlySpan<int> tokens)
    {
        if (FirstLayer != 0)
            throw new InvalidOperationException("token ids can only enter at layer 0; pass hidden states instead");
        CheckLength(tokens.Length, _n, nameof(tokens));
        Embedding.Forward(tokens, _model.Embedding.Value.Span, _hidden[0].Span, _c.Dim);
        _tokens = tokens.ToArray();
        RunLayers();
    }

    /// <summary>Forward from input vectors [batch·time·dim]: embeddings, or hidden states entering <see cref="FirstLayer"/>.</summary>
    public void Forward(ReadOnlySpan<float> inputs)
    {
        CheckLength(inputs.Length, _n * _c.Dim, nameof(inputs));
        inputs.CopyTo(_hidden[0].Span);
        _tokens = [];
        RunLayers();
    }

    /// <summary>
    /// The residual stream after <paramref name="layers"/> layers, [batch·time·dim], for
    /// <see cref="FirstLayer"/> ≤ layers ≤ <see cref="EndLayer"/> (the inputs at FirstLayer).
    /// </summary>
    public ReadOnlySpan<float> HiddenState(int layers)
    {
        if (layers < FirstLayer || layers > EndLayer)
            throw new ArgumentOutOfRangeException(nameof(layers), layers, $"hidden states exist for {FirstLayer}..{EndLayer}");
        RequireAtLeast(Stage.Forward);
        return _hidden[layers - FirstLayer].Span;
    }

    /// <summary>Logits [batch·time·vocab] of the last forward (overwritten by <see cref="Backward()"/>).</summary>
    public ReadOnlySpan<float> Logits
    {
        get
        {
            RequireHead();
            RequireAtLeast(Stage.Forward);
            if (_stage == Stage.Backward)
                throw new InvalidOperationException("the logits were overwritten by the backward pass");
            return _logits!.Span;
        }
    }

    /// <summary>
    /// Mean cross-entropy (nats per counted token) of predicting <paramref name="targets"/>
    /// [batch·time]; a negative target marks a position to ignore. Returns 0 when all are ignored.
    /// </summary>
    public float Loss(ReadOnlySpan<int> targets)
    {
        RequireHead();
        RequireAtLeast(Stage.Forward);
        if (_stage == Stage.Backward)
            throw new InvalidOperationException("run Forward again before computing a loss");
        CheckLength(targets.Length, _n, nameof(targets));
        _targets = targets.ToArray();
        _counted = CrossEntropy.Forward(_logits!.Span, targets, _rowLosses!.Span, _lossScratch!.Span, _n, _c.VocabSize);
        _stage = Stage.Loss;
        return _counted == 0 ? 0f : (float)(SumDouble(_rowLosses.Span) / _counted);
    }

    /// <summary>Per-position losses of the last <see cref="Loss"/> (0 where ignored).</summary>
    public ReadOnlySpan<float> RowLosses => _stage >= Stage.Loss ? _rowLosses!.Span : throw new InvalidOperationException("no loss computed");

    /// <summary>Backward of the mean loss from <see cref="Loss"/>.</summary>
    public void Backward()
    {
        if (_stage != Stage.Loss)
            throw new InvalidOperationException("Backward() follows Loss()");
        float scale = _counted == 0 ? 0f : 1f / _counted;
        CrossEntropy.Backward(_logits!.Span, _targets, _logits.Span, _n, _c.VocabSize, scale);
        BackwardFromLogits();
    }

    /// <summary>
    /// Backward from a gradient w.r.t. the stack's output: the logits [batch·time·vocab] when it has
    /// the head, else the last hidden state [batch·time·dim].
    /// </summary>
    public void Backward(ReadOnlySpan<float> dOutput)
    {
        RequireAtLeast(Stage.Forward);
        if (_stage == Stage.Backward)
            throw new InvalidOperationException("run Forward again before another backward");
        if (HasHead)
        {
            CheckLength(dOutput.Length, _n * _c.VocabSize, nameof(dOutput));
            dOutput.CopyTo(_logits!.Span);
            BackwardFromLogits();
        }
        else
        {
            CheckLength(dOutput.Length, _n * _c.Dim, nameof(dOutput));
            dOutput.CopyTo(_dResidual.Span);
            BackwardLayers();
        }
    }

    /// <summary>Gradient w.r.t. the inputs of the last backward pass, [batch·time·dim].</summary>
    public ReadOnlySpan<float> InputGradient => _stage == Stage.Backward ? _dResidual.Span : throw new InvalidOperationException("no backward pass yet");

    private void RunLayers()
    {
        int d = _c.Dim, kv = _c.KvDim, h = _c.HiddenDim;
        var gemm = _model.Gemm;
        for (int i = 0; i < _layers.Length; i++)
        {
            var w = _model.Layers[FirstLayer + i];
            var a = _layers[i];
            var x = _hidden[i].Span;
            RmsNorm.Forward(x, w.AttentionNorm.Value.Span, a.Normed1.Span, a.Rstd1.Span, _n, d, _c.NormEpsilon);
            Project(i, LlamaProjection.Query, a.Normed1.Span, a.Query.Span);
            Project(i, LlamaProjection.Key, a.Normed1.Span, a.Key.Span);
            Project(i, LlamaProjection.Value, a.Normed1.Span, a.Value.Span);
            for (int r = 0; r < _n; r++)
            {
                _rope.Forward(a.Query.Span.Slice(r * d, d), r % Time);
                _rope.Forward(a.Key.Span.Slice(r * kv, kv), r % Time);
            }
            Attention.Forward(a.Query.Span, a.Key.Span, a.Value.Span, _keysTransposed.Span, a.Probabilities.Span, a.Attended.Span, Batch, Time, _c.Heads, _c.KvHeads, _c.HeadSize);
            Project(i, LlamaProjection.Output, a.Attended.Span, a.Middle.Span);
            TensorPrimitives.Add(a.Middle.Span, x, a.Middle.Span);

            RmsNorm.Forward(a.Middle.Span, w.FeedForwardNorm.Value.Span, a.Normed2.Span, a.Rstd2.Span, _n, d, _c.NormEpsilon);
            Project(i, LlamaProjection.Gate, a.Normed2.Span, a.Gate.Span);
            Project(i, LlamaProjection.Up, a.Normed2.Span, a.Up.Span);
            SwiGlu.Forward(a.Gate.Span, a.Up.Span, a.Activated.Span);
            var output = _hidden[i + 1].Span;
            Project(i, LlamaProjection.Down, a.Activated.Span, output);
            TensorPrimitives.Add(output, a.Middle.Span, output);
        }
        if (HasHead)
        {
            RmsNorm.Forward(_hidden[^1].Span, _model.FinalNorm.Value.Span, _finalNormed!.Span, _finalRstd!.Span, _n, d, _c.NormEpsilon);
            Linear.Forward(gemm, _finalNormed.Span, _model.Classifier.Value.Span, default, _logits!.Span, _n, d, _c.VocabSize);
        }
        _stage = Stage.Forward;
    }

    private void BackwardFromLogits()
    {
        int d = _c.Dim;
        var gemm = _model.Gemm;
        var classifier = _model.Classifier;
        Linear.Backward(gemm, _logits!.Span, _finalNormed!.Span, classifier.Value.Span, _dNormed.Span, false,
            Gradients.Of(classifier), default, _n, d, _c.VocabSize);
        _dResidual.Clear();
        RmsNorm.Backward(_dNormed.Span, _hidden[^1].Span, _model.FinalNorm.Value.Span, _finalRstd!.Span,
            _dResidual.Span, Gradients.Of(_model.FinalNorm), _n, d);
        BackwardLayers();
    }

    /// <summary>From d(output of the stack) in _dResidual down to d(inputs), adding parameter gradients on the way.</summary>
    private void BackwardLayers()
    {
        int d = _c.Dim, kv = _c.KvDim, h = _c.HiddenDim;
        var gemm = _model.Gemm;
        var dResidual = _dResidual.Span;
        for (int i = _layers.Length - 1; i >= 0; i--)
        {
            var w = _model.Layers[FirstLayer + i];
            var a = _layers[i];
            // Feed-forward block: out = middle + down(swiglu(gate(n2), up(n2))), n2 = norm(middle).
            ProjectBackward(i, LlamaProjection.Down, dResidual, a.Activated.Span, _dHidden.Span, false);
            SwiGlu.Backward(_dHidden.Span, a.Gate.Span, a.Up.Span, _dGate.Span, _dUp.Span);
            ProjectBackward(i, LlamaProjection.Gate, _dGate.Span, a.Normed2.Span, _dNormed.Span, false);
            ProjectBackward(i, LlamaProjection.Up, _dUp.Span, a.Normed2.Span, _dNormed.Span, true);
            RmsNorm.Backward(_dNormed.Span, a.Middle.Span, w.FeedForwardNorm.Value.Span, a.Rstd2.Span, dResidual, Gradients.Of(w.FeedForwardNorm), _n, d);

            // Attention block: middle = x + o(attention(rope(q(n1)), rope(k(n1)), v(n1))), n1 = norm(x).
            ProjectBackward(i, LlamaProjection.Output, dResidual, a.Attended.Span, _dAttention.Span, false);
            _dQuery.Clear();
            _dKey.Clear();
            _dValue.Clear();
            Attention.Backward(_model.Gemm, _dAttention.Span, a.Query.Span, a.Key.Span, a.Value.Span, a.Probabilities.Span,
                _dQuery.Span, _dKey.Span, _dValue.Span, Batch, Time, _c.Heads, _c.KvHeads, _c.HeadSize);
            for (int r = 0; r < _n; r++)
            {
                _rope.Backward(_dQuery.Span.Slice(r * d, d), r % Time);
                _rope.Backward(_dKey.Span.Slice(r * kv, kv), r % Time);
            }
            ProjectBackward(i, LlamaProjection.Query, _dQuery.Span, a.Normed1.Span, _dNormed.Span, false);
            ProjectBackward(i, LlamaProjection.Key, _dKey.Span, a.Normed1.Span, _dNormed.Span, true);
            ProjectBackward(i, LlamaProjection.Value, _dValue.Span, a.Normed1.Span, _dNormed.Span, true);
            RmsNorm.Backward(_dNormed.Span, _hidden[i].Span, w.AttentionNorm.Value.Span, a.Rstd1.Span, dResidual, Gradients.Of(w.AttentionNorm), _n, d);
        }
        if (_tokens.Length > 0 && Gradients.Of(_model.Embedding) is { IsEmpty: false } dTable)
            Embedding.Backward(_tokens, dResidual, dTable, d);
        _stage = Stage.Backward;
    }

    private Span<float> Gradient(Parameter? parameter) => parameter is null ? default : Gradients.Of(parameter);

    /// <summary>
    /// y = x·Wᵀ + b for a projection of layer FirstLayer + i, plus the adapter's scale·(drop(x)·Aᵀ)·Bᵀ,
    /// keeping drop(x)·Aᵀ (and the dropped input) for the backward pass.
    /// </summary>
    private void Project(int i, LlamaProjection projection, ReadOnlySpan<float> x, Span<float> y)
    {
        int layer = FirstLayer + i;
        var weight = _model.Layers[layer].Weight(projection);
        int outputs = weight.Shape[0], inputs = weight.Shape[1];
        Linear.Forward(_model.Gemm, x, weight.Value.Span, Values(_model.Layers[layer].Bias(projection)), y, _n, inputs, outputs);
        if (!_model.Applies(Adapter) || Adapter!.Pair(layer, projection) is not { } pair)
            return;
        int rank = Adapter.Settings.Rank;
        if (!_lora.TryGetValue((i, projection), out var state))
            _lora[(i, projection)] = state = new LoraActivations(_n, inputs, rank, Adapter.Settings.Dropout > 0);
        ReadOnlySpan<float> input = x;
        if (state.Dropped is { } dropped)
        {
            // Inverted dropout: kept elements are scaled by 1/(1 − p) so the expectation is unchanged.
            float p = Adapter.Settings.Dropout, keep = 1f / (1f - p);
            var mask = state.Mask!.Span;
            for (int e = 0; e < mask.Length; e++)
                mask[e] = _dropoutRandom.NextSingle() < p ? 0f : keep;
            TensorPrimitives.Multiply(x, mask, dropped.Span);
            input = dropped.Span;
        }
        Linear.Forward(_model.Gemm, input, pair.A.Value.Span, default, state.Down.Span, _n, inputs, rank);
        _model.Gemm.Multiply(false, true, _n, outputs, rank, Adapter.Scale, state.Down.Span, rank, pair.B.Value.Span, rank, 1f, y, outputs);
    }

    /// <summary>Backward of <see cref="Project"/>: dx (+)= dy·W (+ the adapter path); parameter gradients added.</summary>
    private void ProjectBackward(int i, LlamaProjection projection, ReadOnlySpan<float> dy, ReadOnlySpan<float> x, Span<float> dx, bool accumulate)
    {
        int layer = FirstLayer + i;
        var gemm = _model.Gemm;
        var weight = _model.Layers[layer].Weight(projection);
        int outputs = weight.Shape[0], inputs = weight.Shape[1];
        Linear.Backward(gemm, dy, x, weight.Value.Span, dx, accumulate, Gradients.Of(weight), Gradient(_model.Layers[layer].Bias(projection)), _n, inputs, outputs);
        if (!_model.Applies(Adapter) || Adapter!.Pair(layer, projection) is not { } pair)
            return;
        var state = _lora[(i, projection)];
        int rank = Adapter.Settings.Rank;
        float scale = Adapter.Scale;
        ReadOnlySpan<float> input = state.Dropped is { } droppedInput ? droppedInput.Span : x;
        // dB += scale·dyᵀ·u;  du = scale·dy·B;  dA += duᵀ·input;  d(input) = du·A
        if (Gradients.Of(pair.B) is { IsEmpty: false } dB)
            gemm.Multiply(true, false, outputs, rank, _n, scale, dy, outputs, state.Down.Span, rank, 1f, dB, rank);
        var du = state.Down.Span; // u is no longer needed: reuse its storage for du
        gemm.Multiply(false, false, _n, rank, outputs, scale, dy, outputs, pair.B.Value.Span, rank, 0f, du, rank);
        if (Gradients.Of(pair.A) is { IsEmpty: false } dA)
            gemm.Multiply(true, false, rank, inputs, _n, 1f, du, rank, input, inputs, 1f, dA, inputs);
        if (state.Dropped is null)
        {
            gemm.Multiply(false, false, _n, inputs, rank, 1f, du, rank, pair.A.Value.Span, inputs, 1f, dx, inputs);
            return;
        }
        if (_loraScratch is null || _loraScratch.Length < _n * inputs)
            _loraScratch = new FloatBuffer(_n * Math.Max(_c.Dim, _c.HiddenDim));
        var dInput = _loraScratch.Span[..(_n * inputs)];
        gemm.Multiply(false, false, _n, inputs, rank, 1f, du, rank, pair.A.Value.Span, inputs, 0f, dInput, inputs);
        // Through the dropout: dx += d(input) ⊙ mask.
        TensorPrimitives.FusedMultiplyAdd(dInput, state.Mask!.Span, dx[..dInput.Length], dx[..dInput.Length]);
    }

    private static ReadOnlySpan<float> Values(Parameter? parameter) => parameter is null ? default : parameter.Value.Span;

    private static double SumDouble(ReadOnlySpan<float> values)
    {
        double sum = 0;
        foreach (float value in values)
            sum += value;
        return sum;
    }

    private void RequireHead()
    {
        if (!HasHead)
            throw new InvalidOperationException($"this pass stops before the head (layers {FirstLayer}..{EndLayer} of {_c.Layers})");
    }

    private void RequireAtLeast(Stage stage)
    {
        if (_stage < stage)
            throw new InvalidOperationException("run Forward first");
    }

    private static void CheckLength(int actual, int expected, string name)
    {
        if (actual != expected)
            throw new ArgumentException($"{name} has {actual} elements; this pass expects {expected}", name);
    }

    /// <summary>An adapter's forward state on one projection: u = drop(x)·Aᵀ, the dropout mask (0 or 1/(1 − p)) and the dropped input.</summary>
    private sealed class LoraActivations(int n, int inputs, int rank, bool dropout)
    {
        public readonly FloatBuffer Down = new(n * rank);
        public readonly FloatBuffer? Mask = dropout ? new FloatBuffer(n * inputs) : null;
        public readonly FloatBuffer? Dropped = dropout ? new FloatBuffer(n * inputs) : null;
    }

    /// <summary>What one layer's forward keeps for its backward.</summary>
    private sealed class LayerActivations(int n, int d, int kv, int h, int probabilities)
    {
        public readonly FloatBuffer Normed1 = new(n * d), Rstd1 = new(n), Query = new(n * d), Key = new(n * kv), Value = new(n * kv);
        public readonly FloatBuffer Probabilities = new(probabilities), Attended = new(n * d), Middle = new(n * d);
        public readonly FloatBuffer Normed2 = new(n * d), Rstd2 = new(n), Gate = new(n * h), Up = new(n * h), Activated = new(n * h);
    }
}
