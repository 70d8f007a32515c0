using System.Numerics.Tensors;
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
    private readonly FloatBuffer _dResidual, _dNormed, _dQuery, _dKey, _dValue, _dAttention, _dGate, _dUp, _dHidden;
    private int[] _tokens = [];
    private int[] _targets = [];
    private int _counted;
    private Stage _stage;

    private enum Stage { Empty, Forward, Loss, Backward }

    public BatchPass(LlamaModel model, int batch, int time, int firstLayer = 0, int? endLayer = null, Gradients? gradients = null)
    {
        _model = model;
        _c = model.Config;
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
        _n = checked(batch * time);
        Gradients = gradients ?? new Gradients(model.Parameters);
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

    /// <summary>The stack ends with the final norm and the classifier (it reaches the last layer).</summary>
    public bool HasHead => EndLayer == _c.Layers;

    public Gradients Gradients { get; }

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
            Linear.Forward(gemm, a.Normed1.Span, w.Query.Value.Span, Values(w.QueryBias), a.Query.Span, _n, d, d);
            Linear.Forward(gemm, a.Normed1.Span, w.Key.Value.Span, Values(w.KeyBias), a.Key.Span, _n, d, kv);
            Linear.Forward(gemm, a.Normed1.Span, w.Value.Value.Span, Values(w.ValueBias), a.Value.Span, _n, d, kv);
            for (int r = 0; r < _n; r++)
            {
                _model.Rope.Forward(a.Query.Span.Slice(r * d, d), r % Time);
                _model.Rope.Forward(a.Key.Span.Slice(r * kv, kv), r % Time);
            }
            Attention.Forward(a.Query.Span, a.Key.Span, a.Value.Span, a.Probabilities.Span, a.Attended.Span, Batch, Time, _c.Heads, _c.KvHeads, _c.HeadSize);
            Linear.Forward(gemm, a.Attended.Span, w.Output.Value.Span, default, a.Middle.Span, _n, d, d);
            TensorPrimitives.Add(a.Middle.Span, x, a.Middle.Span);

            RmsNorm.Forward(a.Middle.Span, w.FeedForwardNorm.Value.Span, a.Normed2.Span, a.Rstd2.Span, _n, d, _c.NormEpsilon);
            Linear.Forward(gemm, a.Normed2.Span, w.Gate.Value.Span, default, a.Gate.Span, _n, d, h);
            Linear.Forward(gemm, a.Normed2.Span, w.Up.Value.Span, default, a.Up.Span, _n, d, h);
            SwiGlu.Forward(a.Gate.Span, a.Up.Span, a.Activated.Span);
            var output = _hidden[i + 1].Span;
            Linear.Forward(gemm, a.Activated.Span, w.Down.Value.Span, default, output, _n, h, d);
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
            Linear.Backward(gemm, dResidual, a.Activated.Span, w.Down.Value.Span, _dHidden.Span, false, Gradients.Of(w.Down), default, _n, h, d);
            SwiGlu.Backward(_dHidden.Span, a.Gate.Span, a.Up.Span, _dGate.Span, _dUp.Span);
            Linear.Backward(gemm, _dGate.Span, a.Normed2.Span, w.Gate.Value.Span, _dNormed.Span, false, Gradients.Of(w.Gate), default, _n, d, h);
            Linear.Backward(gemm, _dUp.Span, a.Normed2.Span, w.Up.Value.Span, _dNormed.Span, true, Gradients.Of(w.Up), default, _n, d, h);
            RmsNorm.Backward(_dNormed.Span, a.Middle.Span, w.FeedForwardNorm.Value.Span, a.Rstd2.Span, dResidual, Gradients.Of(w.FeedForwardNorm), _n, d);

            // Attention block: middle = x + o(attention(rope(q(n1)), rope(k(n1)), v(n1))), n1 = norm(x).
            Linear.Backward(gemm, dResidual, a.Attended.Span, w.Output.Value.Span, _dAttention.Span, false, Gradients.Of(w.Output), default, _n, d, d);
            _dQuery.Clear();
            _dKey.Clear();
            _dValue.Clear();
            Attention.Backward(_dAttention.Span, a.Query.Span, a.Key.Span, a.Value.Span, a.Probabilities.Span,
                _dQuery.Span, _dKey.Span, _dValue.Span, Batch, Time, _c.Heads, _c.KvHeads, _c.HeadSize);
            for (int r = 0; r < _n; r++)
            {
                _model.Rope.Backward(_dQuery.Span.Slice(r * d, d), r % Time);
                _model.Rope.Backward(_dKey.Span.Slice(r * kv, kv), r % Time);
            }
            Linear.Backward(gemm, _dQuery.Span, a.Normed1.Span, w.Query.Value.Span, _dNormed.Span, false, Gradients.Of(w.Query), Gradient(w.QueryBias), _n, d, d);
            Linear.Backward(gemm, _dKey.Span, a.Normed1.Span, w.Key.Value.Span, _dNormed.Span, true, Gradients.Of(w.Key), Gradient(w.KeyBias), _n, d, kv);
            Linear.Backward(gemm, _dValue.Span, a.Normed1.Span, w.Value.Value.Span, _dNormed.Span, true, Gradients.Of(w.Value), Gradient(w.ValueBias), _n, d, kv);
            RmsNorm.Backward(_dNormed.Span, _hidden[i].Span, w.AttentionNorm.Value.Span, a.Rstd1.Span, dResidual, Gradients.Of(w.AttentionNorm), _n, d);
        }
        if (_tokens.Length > 0 && Gradients.Of(_model.Embedding) is { IsEmpty: false } dTable)
            Embedding.Backward(_tokens, dResidual, dTable, d);
        _stage = Stage.Backward;
    }

    private Span<float> Gradient(Parameter? parameter) => parameter is null ? default : Gradients.Of(parameter);

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

    /// <summary>What one layer's forward keeps for its backward.</summary>
    private sealed class LayerActivations(int n, int d, int kv, int h, int probabilities)
    {
        public readonly FloatBuffer Normed1 = new(n * d), Rstd1 = new(n), Query = new(n * d), Key = new(n * kv), Value = new(n * kv);
        public readonly FloatBuffer Probabilities = new(probabilities), Attended = new(n * d), Middle = new(n * d);
        public readonly FloatBuffer Normed2 = new(n * d), Rstd2 = new(n), Gate = new(n * h), Up = new(n * h), Activated = new(n * h);
    }
}
