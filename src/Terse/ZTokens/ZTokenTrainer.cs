using System.Globalization;
using System.Numerics.Tensors;
using Terse.Neural;
using Terse.Neural.Checkpoints;
using Terse.Neural.Training;

namespace Terse.ZTokens;

/// <summary>How a <see cref="ZTokenTrainer"/> trains.</summary>
public sealed record ZTokenTrainingSettings
{
    /// <summary>Text segments per update; each is coded twice (two samples, each the other's baseline).</summary>
    public int BatchSize { get; init; } = 8;
    public int TotalSteps { get; init; } = 1000;
    public int WarmupSteps { get; init; } = 50;
    public float LearningRate { get; init; } = 3e-3f;
    public float MinLearningRate { get; init; } = 3e-4f;
    /// <summary>Largest gradient norm before an update (0: no clipping).</summary>
    public float GradientClip { get; init; } = 1f;
    public float WeightDecay { get; init; } = 0f;
    /// <summary>The budget, as text tokens per Z-token: a segment of n tokens may use ⌈n / Budget⌉ Z-tokens before the over-budget penalty applies.</summary>
    public float Budget { get; init; } = 4f;
    /// <summary>β: every Z-token costs β·ln|Z| nats (β = 1: its full information content, a pure description-length objective).</summary>
    public float RateWeight { get; init; } = 0.1f;
    /// <summary>λ: every Z-token beyond the budget costs another λ·ln|Z| nats.</summary>
    public float OverBudgetWeight { get; init; } = 1f;
    /// <summary>Weight of the second task: predicting the text that follows a segment from the segment's Z code alone (0: off).</summary>
    public float ContinuationWeight { get; init; } = 0.25f;
    /// <summary>Gumbel-softmax temperature, annealed geometrically from the start to the end value.</summary>
    public float StartTemperature { get; init; } = 1f;
    public float EndTemperature { get; init; } = 0.3f;
    /// <summary>
    /// Updates at the start that teach a target code instead of sampling: the segment's tokens the base
    /// model mispredicts (its argmax is another token), in order, as the codes copied from them (see
    /// <see cref="ZTokenModel.InitializeCodesFrom"/>), at most MaxCodeLength. The compressor learns to
    /// emit it (cross-entropy) and the decompressor to restore the segment from it. 0: none.
    /// </summary>
    public int TeacherSteps { get; init; } = 0;
    /// <summary>What the teacher codes: the mispredicted tokens (content-adaptive) or simply the first MaxCodeLength tokens.</summary>
    public TeacherCode Teacher { get; init; } = TeacherCode.Mispredicted;
    /// <summary>Scale of the Gumbel noise (1: sampling from softmax(l/τ); 0: greedy choices and a deterministic soft relaxation).</summary>
    public float NoiseScale { get; init; } = 1f;
    /// <summary>
    /// Updates over which the decompressor's input is annealed from the relaxed code (the soft mixture
    /// Σ y_j·E_j) to the hard one (E of the chosen code) — linearly; after them the forward pass is
    /// hard, as at inference. 0: hard from the start.
    /// </summary>
    public int RelaxedSteps { get; init; } = 0;
    /// <summary>Seeds segment choice and the Gumbel noise: the same seed, data and machine give the same weights.</summary>
    public ulong Seed { get; init; } = 1;

    public void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(BatchSize, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(TotalSteps, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(WarmupSteps);
        ArgumentOutOfRangeException.ThrowIfNegative(RelaxedSteps);
        ArgumentOutOfRangeException.ThrowIfNegative(TeacherSteps);
        ArgumentOutOfRangeException.ThrowIfZero(Seed);
        if (!(LearningRate > 0) || !(MinLearningRate >= 0))
            throw new ArgumentOutOfRangeException(nameof(LearningRate), "learning rates must be positive");
        if (!(Budget > 0))
            throw new ArgumentOutOfRangeException(nameof(Budget), Budget, "the budget (text tokens per Z-token) must be positive");
        if (!(RateWeight >= 0) || !(OverBudgetWeight >= 0) || !(ContinuationWeight >= 0) || !(GradientClip >= 0) || !(WeightDecay >= 0))
            throw new ArgumentOutOfRangeException(nameof(RateWeight), "weights must be non-negative");
        if (!(StartTemperature > 0) || !(EndTemperature > 0))
            throw new ArgumentOutOfRangeException(nameof(StartTemperature), "temperatures must be positive");
    }
}

/// <summary>The target code of the teacher steps, made of the codes copied from base tokens.</summary>
public enum TeacherCode
{
    /// <summary>The tokens the base model (from BOS, no adapter) does not predict as its argmax, in order: more for surprising text.</summary>
    Mispredicted,
    /// <summary>The segment's first MaxCodeLength tokens.</summary>
    Prefix,
}

/// <summary>One update's figures. Reconstruction and continuation are teacher-forced, with codes sampled at the current temperature.</summary>
/// <param name="Loss">The objective (nats per text token): reconstruction + length costs + weighted continuation.</param>
/// <param name="ReconstructionBits">Reconstruction cross-entropy, bits per text token.</param>
/// <param name="TokenAccuracy">Fraction of text tokens the decompressor's argmax gets right.</param>
/// <param name="ExactRate">Fraction of coded segments whose every token the argmax gets right (greedy decoding would restore them exactly).</param>
/// <param name="MeanCodeLength">Mean Z-tokens per segment.</param>
/// <param name="ContinuationBits">Cross-entropy of the following text given only the Z code, bits per token (NaN when off).</param>
/// <param name="TeacherAccuracy">In a teacher step, the fraction of the teacher's choices (codes and End) the compressor's argmax matches; NaN otherwise.</param>
public sealed record ZTokenStepResult(int Step, float Loss, float ReconstructionBits, float TokenAccuracy, float ExactRate, float MeanCodeLength,
    float ContinuationBits, double GradientNorm, float LearningRate, float Temperature, float TeacherAccuracy = float.NaN);

/// <summary>
/// Trains a <see cref="ZTokenModel"/> end to end through its discrete bottleneck. Per update: B random
/// segments of the corpus; the compressor samples two codes for each (autoregressively, Gumbel-max at
/// temperature τ, until it emits End or reaches the maximum length); a teacher-forced pass of the
/// compressor over its own samples gives the logits the estimators need; the decompressor reconstructs
/// each segment from each code (and, with a continuation weight, predicts the next segment from the
/// first code alone); gradients reach the codes by straight-through Gumbel-softmax and the code lengths
/// by REINFORCE with the other sample as baseline (<see cref="DiscreteBottleneck"/>). The length cost is
/// budget-aware: β·ln|Z| per Z-token plus λ·ln|Z| per Z-token beyond ⌈n / budget⌉.
/// </summary>
public sealed class ZTokenTrainer
{
    private const string Format = "terse-ztokens-checkpoint/1";
    private const int Samples = 2;
    private readonly ZTokenModel _z;
    private readonly ZVocabulary _v;
    private readonly int _n, _maxCode, _dim, _rows, _continuationRows;
    private readonly Parameter[] _trainable;
    private readonly Gradients _gradients;
    private readonly AdamW _optimizer;
    private readonly BatchPass _compressorPass, _decompressorPass;
    private readonly InferenceSession[] _sessions, _baseSessions;
    private readonly float[] _compressorGradient, _decompressorGradient, _decompressorInputs;
    private readonly int[] _compressorIds;
    private ulong _rng;

    public ZTokenTrainer(ZTokenModel model, ZTokenTrainingSettings settings)
    {
        settings.Validate();
        _z = model;
        _v = model.Vocabulary;
        Settings = settings;
        _n = model.Shape.SegmentLength;
        _maxCode = model.Shape.MaxCodeLength;
        _dim = model.Model.Config.Dim;
        _rows = Samples * settings.BatchSize;
        _continuationRows = settings.ContinuationWeight > 0 ? settings.BatchSize : 0;
        _trainable = [.. model.Trainable];
        _gradients = new Gradients(_trainable);
        _optimizer = new AdamW(_trainable, new AdamWSettings(WeightDecay: settings.WeightDecay));
        _compressorPass = new BatchPass(model.Model, _rows, model.Shape.CompressorPositions, gradients: _gradients, adapter: model.Compressor);
        _decompressorPass = new BatchPass(model.Model, _rows + _continuationRows, model.Shape.DecompressorPositions, gradients: _gradients, adapter: model.Decompressor);
        _sessions = [.. Enumerable.Range(0, _rows).Select(_ => model.Model.CreateSession(model.Shape.CompressorPositions, model.Compressor))];
        _baseSessions = settings.TeacherSteps > 0 ? [.. Enumerable.Range(0, settings.BatchSize).Select(_ => model.Model.CreateSession(model.Shape.SegmentLength + 1))] : [];
        int vocabulary = _v.TotalSize;
        _compressorIds = new int[_rows * model.Shape.CompressorPositions];
        _compressorGradient = new float[_compressorIds.Length * vocabulary];
        int decoderPositions = (_rows + _continuationRows) * model.Shape.DecompressorPositions;
        _decompressorGradient = new float[decoderPositions * vocabulary];
        _decompressorInputs = new float[decoderPositions * _dim];
        _rng = settings.Seed;
    }

    public ZTokenTrainingSettings Settings { get; }

    /// <summary>Updates done so far.</summary>
    public int Step { get; private set; }

    /// <summary>The smallest corpus a step can draw from: a segment, and the next one for the continuation task.</summary>
    public int MinimumCorpusTokens => _continuationRows > 0 ? 2 * _n : _n;

    /// <summary>The Gumbel-softmax temperature at update <paramref name="step"/>.</summary>
    public float Temperature(int step) =>
        (float)(Settings.StartTemperature * Math.Pow(Settings.EndTemperature / Settings.StartTemperature, Math.Min(1.0, (double)step / Settings.TotalSteps)));

    /// <summary>Budget in Z-tokens for a segment of <paramref name="length"/> text tokens.</summary>
    public int BudgetFor(int length) => Math.Max(1, (int)Math.Ceiling(length / Settings.Budget));

    /// <summary>How relaxed the decompressor's input is at update <paramref name="step"/>: 1 = the soft mixture, 0 = the hard code.</summary>
    public float Softness(int step) => Settings.RelaxedSteps == 0 ? 0f : Math.Max(0f, 1f - (float)step / Settings.RelaxedSteps);

    public ZTokenStepResult TrainStep(ReadOnlySpan<int> corpus)
    {
        if (corpus.Length < MinimumCorpusTokens)
            throw new ArgumentException($"the corpus has {corpus.Length} tokens; a step needs at least {MinimumCorpusTokens}", nameof(corpus));
        foreach (int id in corpus)
            if ((uint)id >= (uint)_v.BaseSize)
                throw new ArgumentOutOfRangeException(nameof(corpus), id, $"token id outside the base vocabulary (0..{_v.BaseSize - 1})");
        int batch = Settings.BatchSize, n = _n;
        var segments = new int[batch][];
        var following = new int[batch][];
        for (int i = 0; i < batch; i++)
        {
            int start = (int)(NextRandom() % (ulong)(corpus.Length - MinimumCorpusTokens + 1));
            segments[i] = corpus.Slice(start, n).ToArray();
            following[i] = _continuationRows > 0 ? corpus.Slice(start + n, n).ToArray() : [];
        }
        ulong sampleSeed = NextRandom();
        bool teacher = Step < Settings.TeacherSteps;
        var work = new Batch(segments, following, Temperature(Step), teacher ? 0f : Softness(Step));
        work.Samples = teacher ? TeacherCodes(segments) : SampleCodes(segments, sampleSeed, work.Temperature);
        var figures = teacher ? Backpropagate(work, lengthGradient: false, teacher: true) : Backpropagate(work, lengthGradient: true);

        double norm = Settings.GradientClip > 0 ? _gradients.ClipNorm(Settings.GradientClip) : _gradients.Norm();
        float rate = LearningRateSchedule.WarmupCosine(Step, Settings.WarmupSteps, Settings.TotalSteps, Settings.LearningRate, Settings.MinLearningRate);
        _optimizer.Step(_gradients, rate);
        _z.InvalidateIdentity();
        Step++;
        return figures with { Step = Step, GradientNorm = norm, LearningRate = rate };
    }

    /// <summary>One update's segments, their sampled codes and the schedule's values.</summary>
    internal sealed class Batch(int[][] segments, int[][] following, float temperature, float softness)
    {
        public int[][] Segments { get; } = segments;
        public int[][] Following { get; } = following;
        public float Temperature { get; } = temperature;
        public float Softness { get; } = softness;
        public Sample[] Samples { get; set; } = [];
        /// <summary>The compressor's teacher-forced logits, [row, position, vocabulary].</summary>
        public float[] CompressorLogits { get; set; } = [];
    }

    internal sealed class Sample
    {
        public readonly List<int> Codes = [];
        public float[][] Noise = [];
        public int Length => Codes.Count;
    }

    /// <summary>Gradients of the trainer's parameters (reset first), for a batch whose codes are sampled.</summary>
    internal Gradients Gradients => _gradients;

    /// <summary>
    /// Forward and backward over a sampled batch: clears the gradients, then adds those of the objective
    /// (reconstruction, continuation, and — with <paramref name="lengthGradient"/> — the REINFORCE
    /// gradient of the length costs). Without the length part, and with softness 1, the result is
    /// the exact gradient of <see cref="Objective"/> for these samples.
    /// </summary>
    internal ZTokenStepResult Backpropagate(Batch work, bool lengthGradient, bool teacher = false)
    {
        int n = _n, batch = Settings.BatchSize;
        _gradients.Clear();
        work.CompressorLogits = RunCompressor(work.Segments, work.Samples);
        var decoded = RunDecompressor(work);

        Array.Clear(_compressorGradient);
        float teacherAccuracy = float.NaN;
        if (teacher)
            teacherAccuracy = TeachCompressor(work);
        else
            StraightThrough(work);

        double normaliser = (double)batch * n;
        var objective = new double[_rows];
        for (int r = 0; r < _rows; r++)
            objective[r] = decoded.ReconstructionNats[r] + LengthCost(work.Samples[r].Length);
        if (lengthGradient)
        {
            // REINFORCE on the lengths, each sample's baseline the other sample of its segment.
            for (int r = 0; r < _rows; r++)
            {
                int partner = r ^ 1, length = work.Samples[r].Length;
                float scale = (float)((objective[r] - objective[partner]) / Samples / normaliser);
                for (int k = 2; k <= Math.Min(length + 1, _maxCode); k++)
                {
                    int at = CompressorAt(r, k);
                    DiscreteBottleneck.StopDecision(work.CompressorLogits.AsSpan(at, _v.EmitChoices), work.Temperature, stop: k == length + 1,
                        _compressorGradient.AsSpan(at, _v.EmitChoices), scale);
                }
            }
        }
        var dStopBias = _gradients.Of(_z.StopBias);
        for (int at = _v.End; at < _compressorGradient.Length; at += _v.TotalSize)
            dStopBias[0] += _compressorGradient[at];
        _compressorPass.Backward(_compressorGradient);

        double loss = objective.Sum() / Samples + Settings.ContinuationWeight * decoded.ContinuationNats;
        return new ZTokenStepResult(Step, (float)(loss / normaliser),
            (float)(decoded.ReconstructionNats.Sum() / (_rows * n) / Math.Log(2)),
            (float)decoded.CorrectTokens / (_rows * n), (float)decoded.ExactRows / _rows,
            (float)work.Samples.Average(s => s.Length),
            _continuationRows > 0 ? (float)(decoded.ContinuationNats / (_continuationRows * n) / Math.Log(2)) : float.NaN,
            0, 0, work.Temperature, teacherAccuracy);
    }

    /// <summary>Straight-through: the decompressor's gradient at each code position, onto the compressor's logits.</summary>
    private void StraightThrough(Batch work)
    {
        int vocabulary = _v.TotalSize, codes = _v.CodeCount;
        var table = _z.Model.Embedding.Value.Span;
        var inputGradient = _decompressorPass.InputGradient;
        var dSoft = new float[codes];
        for (int r = 0; r < _rows; r++)
        {
            var sample = work.Samples[r];
            for (int k = 1; k <= sample.Length; k++)
            {
                Array.Clear(dSoft);
                foreach (int row in DecoderRowsReading(r))
                {
                    var dInput = inputGradient.Slice((row * _z.Shape.DecompressorPositions + k) * _dim, _dim);
                    for (int j = 0; j < codes; j++)
                        dSoft[j] += TensorPrimitives.Dot(dInput, table.Slice((_v.FirstCode + j) * _dim, _dim));
                }
                int at = CompressorAt(r, k);
                DiscreteBottleneck.StraightThroughBackward(work.CompressorLogits.AsSpan(at, codes), sample.Noise[k - 1].AsSpan(0, codes),
                    work.Temperature, dSoft, _compressorGradient.AsSpan(at, codes), 1f);
            }
        }
    }

    /// <summary>Cross-entropy of the compressor's choices against the teacher's code, then End (unless the code has the maximum length); returns the argmax's accuracy.</summary>
    private float TeachCompressor(Batch work)
    {
        float weight = (float)(1.0 / Samples / ((double)Settings.BatchSize * _n));
        int right = 0, total = 0;
        for (int r = 0; r < _rows; r++)
        {
            var codes = work.Samples[r].Codes;
            for (int k = 1; k <= Math.Min(codes.Count + 1, _maxCode); k++)
            {
                int at = CompressorAt(r, k);
                int target = k <= codes.Count ? codes[k - 1] - _v.FirstCode : _v.CodeCount;
                var logits = work.CompressorLogits.AsSpan(at, _v.EmitChoices);
                var gradient = _compressorGradient.AsSpan(at, _v.EmitChoices);
                // End may not come first: the first choice is among the codes only.
                int choices = k == 1 ? _v.CodeCount : _v.EmitChoices;
                if (RestrictedCrossEntropy(logits[..choices], target, gradient[..choices], weight).Argmax == target)
                    right++;
                total++;
            }
        }
        return (float)right / total;
    }

    /// <summary>
    /// The teacher's code of each segment (both rows of a segment get it): the tokens the base model
    /// (no adapter, from BOS) mispredicts, as their codes, in order, at most MaxCodeLength; tokens
    /// without a code are left out; a segment the base predicts perfectly gets its first codable token.
    /// </summary>
    internal Sample[] TeacherCodes(int[][] segments)
    {
        var codeOf = _z.CodeTokens ?? throw new InvalidOperationException("teacher steps need codes initialised from base tokens (ZTokenModel.InitializeCodesFrom)");
        var lookup = new int[_v.BaseSize];
        Array.Fill(lookup, -1);
        for (int j = codeOf.Count - 1; j >= 0; j--)
            lookup[codeOf[j]] = _v.FirstCode + j;
        var samples = new Sample[_rows];
        Parallel.For(0, segments.Length, i =>
        {
            var session = _baseSessions[i];
            session.Reset();
            var logits = session.Step(_z.Bos);
            var sample = new Sample();
            var segment = segments[i];
            for (int t = 0; t < segment.Length && sample.Length < _maxCode; t++)
            {
                bool keep = Settings.Teacher == TeacherCode.Prefix || TensorPrimitives.IndexOfMax(logits[.._v.BaseSize]) != segment[t];
                if (keep && lookup[segment[t]] >= 0)
                    sample.Codes.Add(lookup[segment[t]]);
                if (t + 1 < segment.Length)
                    logits = session.Step(segment[t]);
            }
            if (sample.Length == 0)
                foreach (int token in segment)
                    if (lookup[token] >= 0)
                    {
                        sample.Codes.Add(lookup[token]);
                        break;
                    }
            if (sample.Length == 0)
                sample.Codes.Add(_v.FirstCode);
            for (int s = 0; s < Samples; s++)
                samples[i * Samples + s] = sample;
        });
        return samples;
    }

    /// <summary>The objective (nats per text token) of a sampled batch, forward only — what <see cref="Backpropagate"/> differentiates.</summary>
    internal double Objective(Batch work)
    {
        work.CompressorLogits = RunCompressor(work.Segments, work.Samples);
        var decoded = RunDecompressor(work, backward: false);
        double total = 0;
        for (int r = 0; r < _rows; r++)
            total += (decoded.ReconstructionNats[r] + LengthCost(work.Samples[r].Length)) / Samples;
        total += Settings.ContinuationWeight * decoded.ContinuationNats;
        return total / ((double)Settings.BatchSize * _n);
    }

    /// <summary>β·ln|Z| per Z-token plus λ·ln|Z| per Z-token beyond the budget, in nats.</summary>
    private double LengthCost(int length) =>
        (Settings.RateWeight * length + Settings.OverBudgetWeight * Math.Max(0, length - BudgetFor(_n))) * Math.Log(_v.CodeCount);

    /// <summary>Offset of the emit choices in the compressor's logits for step <paramref name="k"/> of row <paramref name="r"/>.</summary>
    private int CompressorAt(int r, int k) => (r * _z.Shape.CompressorPositions + _n + k) * _v.TotalSize + _v.FirstCode;

    /// <summary>Decompressor rows that read sample <paramref name="r"/>'s code: its reconstruction row, and the continuation row of its segment if it is the first sample.</summary>
    private IEnumerable<int> DecoderRowsReading(int r)
    {
        yield return r;
        if (_continuationRows > 0 && r % Samples == 0)
            yield return _rows + r / Samples;
    }

    internal Sample[] SampleCodes(int[][] segments, ulong stepSeed, float temperature)
    {
        var samples = new Sample[_rows];
        Parallel.For(0, _rows, r =>
        {
            var random = new Random(unchecked((int)((stepSeed ^ ((ulong)(r + 1) * 0x9E3779B97F4A7C15UL)) >> 33)));
            var sample = new Sample { Noise = new float[_maxCode][] };
            var session = _sessions[r];
            session.Reset();
            int[] prompt = [_z.Bos, .. segments[r / Samples], _v.Begin];
            var logits = session.Prefill(prompt);
            var emit = new float[_v.EmitChoices];
            for (int k = 1; k <= _maxCode; k++)
            {
                var noise = sample.Noise[k - 1] = new float[_v.EmitChoices];
                DiscreteBottleneck.SampleGumbel(random, noise);
                if (Settings.NoiseScale != 1)
                    TensorPrimitives.Multiply(noise, Settings.NoiseScale, noise);
                _z.EmitLogits(logits, emit);
                int choice = DiscreteBottleneck.Choose(emit, noise, temperature, mayStop: k > 1);
                if (choice == _v.CodeCount)
                    break;
                sample.Codes.Add(_v.FirstCode + choice);
                if (k < _maxCode)
                    logits = session.Step(_v.FirstCode + choice);
            }
            samples[r] = sample;
        });
        return samples;
    }

    /// <summary>Teacher-forced compressor over its own samples; returns a copy of the logits, the stop bias added to End's (the backward pass overwrites the pass's own).</summary>
    private float[] RunCompressor(int[][] segments, Sample[] samples)
    {
        int positions = _z.Shape.CompressorPositions;
        Array.Clear(_compressorIds);
        for (int r = 0; r < _rows; r++)
        {
            var row = _compressorIds.AsSpan(r * positions, positions);
            row[0] = _z.Bos;
            segments[r / Samples].CopyTo(row[1..]);
            row[_n + 1] = _v.Begin;
            for (int k = 0; k < samples[r].Length; k++)
                row[_n + 2 + k] = samples[r].Codes[k];
        }
        _compressorPass.Forward(_compressorIds);
        var logits = _compressorPass.Logits.ToArray();
        float stopBias = _z.StopBias.Value.Span[0];
        for (int at = _v.End; at < logits.Length; at += _v.TotalSize)
            logits[at] += stopBias;
        return logits;
    }

    private sealed record Decoded(double[] ReconstructionNats, double ContinuationNats, long CorrectTokens, int ExactRows);

    /// <summary>
    /// The decompressor over [Begin, code, End, text] rows (and [Begin, code, Continue, next text] rows),
    /// teacher-forced, its loss restricted to the base vocabulary. A code position reads
    /// (1 − s)·E[chosen] + s·Σ_j y_j·E_j, s the softness. With <paramref name="backward"/> it also runs
    /// the backward pass and adds the new rows' embedding gradients.
    /// </summary>
    private Decoded RunDecompressor(Batch work, bool backward = true)
    {
        int positions = _z.Shape.DecompressorPositions, vocabulary = _v.TotalSize, n = _n, totalRows = _rows + _continuationRows, codes = _v.CodeCount;
        var table = _z.Model.Embedding.Value.Span;
        var codeTable = table.Slice(_v.FirstCode * _dim, codes * _dim);
        float softness = work.Softness;
        Array.Clear(_decompressorInputs);
        var rowTokens = new int[totalRows][];
        var soft = new float[_rows][][];
        for (int r = 0; r < _rows; r++)
        {
            soft[r] = new float[work.Samples[r].Length][];
            if (softness > 0)
                for (int k = 1; k <= work.Samples[r].Length; k++)
                {
                    soft[r][k - 1] = new float[codes];
                    DiscreteBottleneck.SoftChoice(work.CompressorLogits.AsSpan(CompressorAt(r, k), codes), work.Samples[r].Noise[k - 1].AsSpan(0, codes),
                        work.Temperature, soft[r][k - 1]);
                }
        }
        for (int row = 0; row < totalRows; row++)
        {
            bool continuation = row >= _rows;
            int r = continuation ? (row - _rows) * Samples : row;
            var sample = work.Samples[r];
            var text = continuation ? work.Following[row - _rows] : work.Segments[row / Samples];
            int[] tokens = [_v.Begin, .. sample.Codes, continuation ? _v.Continue : _v.End, .. text.AsSpan(0, n - 1)];
            rowTokens[row] = tokens;
            for (int p = 0; p < tokens.Length; p++)
            {
                var input = _decompressorInputs.AsSpan((row * positions + p) * _dim, _dim);
                table.Slice(tokens[p] * _dim, _dim).CopyTo(input);
                if (softness > 0 && p >= 1 && p <= sample.Length)
                {
                    TensorPrimitives.Multiply(input, 1 - softness, input);
                    var y = soft[r][p - 1];
                    for (int j = 0; j < codes; j++)
                        TensorPrimitives.FusedMultiplyAdd(codeTable.Slice(j * _dim, _dim), softness * y[j], input, input);
                }
            }
        }
        _decompressorPass.Forward(_decompressorInputs);
        var logits = _decompressorPass.Logits;
        Array.Clear(_decompressorGradient);
        var reconstruction = new double[_rows];
        double continuationNats = 0;
        long correct = 0;
        int exactRows = 0;
        double normaliser = (double)Settings.BatchSize * n;
        for (int row = 0; row < totalRows; row++)
        {
            bool continuation = row >= _rows;
            int length = rowTokens[row].Length - n - 1;
            var text = continuation ? work.Following[row - _rows] : work.Segments[row / Samples];
            float weight = (float)((continuation ? Settings.ContinuationWeight : 1.0 / Samples) / normaliser);
            double nats = 0;
            bool exact = true;
            for (int j = 0; j < n; j++)
            {
                int at = (row * positions + length + 1 + j) * vocabulary;
                var (lossNats, argmax) = RestrictedCrossEntropy(logits.Slice(at, _v.BaseSize), text[j],
                    backward ? _decompressorGradient.AsSpan(at, _v.BaseSize) : default, weight);
                nats += lossNats;
                if (argmax == text[j])
                {
                    if (!continuation)
                        correct++;
                }
                else
                    exact = false;
            }
            if (continuation)
                continuationNats += nats;
            else
            {
                reconstruction[row] = nats;
                if (exact)
                    exactRows++;
            }
        }
        if (!backward)
            return new Decoded(reconstruction, continuationNats, correct, exactRows);
        _decompressorPass.Backward(_decompressorGradient);

        // The new rows read as inputs (Begin, codes, End / Continue) get their embedding gradient here:
        // the pass ran on vectors, not ids, so it could not add it itself. A code position's input is
        // (1 − s)·E[chosen] + s·Σ_j y_j·E_j.
        var dTable = _gradients.Of(_z.Model.Embedding);
        var inputGradient = _decompressorPass.InputGradient;
        for (int row = 0; row < totalRows; row++)
        {
            int r = row >= _rows ? (row - _rows) * Samples : row;
            for (int p = 0; p < rowTokens[row].Length; p++)
            {
                int token = rowTokens[row][p];
                if (token < _v.BaseSize)
                    continue;
                var dInput = inputGradient.Slice((row * positions + p) * _dim, _dim);
                bool code = p >= 1 && p <= work.Samples[r].Length;
                var dRow = dTable.Slice(token * _dim, _dim);
                TensorPrimitives.FusedMultiplyAdd(dInput, code ? 1 - softness : 1f, dRow, dRow);
                if (code && softness > 0)
                {
                    var y = soft[r][p - 1];
                    for (int j = 0; j < codes; j++)
                    {
                        var dCode = dTable.Slice((_v.FirstCode + j) * _dim, _dim);
                        TensorPrimitives.FusedMultiplyAdd(dInput, softness * y[j], dCode, dCode);
                    }
                }
            }
        }
        return new Decoded(reconstruction, continuationNats, correct, exactRows);
    }

    /// <summary>−log softmax(logits)[target] over the given (base-vocabulary) logits; adds weight·(softmax − onehot) to <paramref name="gradient"/>.</summary>
    internal static (double Nats, int Argmax) RestrictedCrossEntropy(ReadOnlySpan<float> logits, int target, Span<float> gradient, float weight)
    {
        float max = TensorPrimitives.Max(logits);
        int argmax = TensorPrimitives.IndexOfMax(logits);
        double sum = 0;
        for (int j = 0; j < logits.Length; j++)
            sum += Math.Exp(logits[j] - max);
        if (!gradient.IsEmpty)
        {
            for (int j = 0; j < logits.Length; j++)
                gradient[j] += (float)(weight * Math.Exp(logits[j] - max) / sum);
            gradient[target] -= weight;
        }
        return (Math.Log(sum) + max - logits[target], argmax);
    }

    private ulong NextRandom() => XorShift64.Next(ref _rng);

    /// <summary>Writes the trained parameters, optimizer moments, step and sampler state atomically (safetensors).</summary>
    public void SaveCheckpoint(string path) =>
        OptimizerCheckpoint.Save(path, Format, _optimizer, Qualified, Step, _rng,
            new Dictionary<string, string> { ["base_identity"] = Convert.ToHexStringLower(_z.BaseIdentity) });

    /// <summary>Restores a checkpoint of the same model shape on the same base; mismatches throw <see cref="InvalidDataException"/>.</summary>
    public void LoadCheckpoint(string path)
    {
        (Step, _rng) = OptimizerCheckpoint.Load(path, Format, _optimizer, Qualified, field =>
        {
            if (field("base_identity") != Convert.ToHexStringLower(_z.BaseIdentity))
                throw new InvalidDataException($"{path}: the checkpoint was made on another base model");
        });
        _z.InvalidateIdentity();
    }

    /// <summary>Adapter parameters share names across the two adapters; the adapter's name tells them apart.</summary>
    private string Qualified(Parameter parameter) =>
        _z.Compressor.Parameters.Contains(parameter) ? ZTokenModel.CompressorName + "." + parameter.Name
        : _z.Decompressor.Parameters.Contains(parameter) ? ZTokenModel.DecompressorName + "." + parameter.Name
        : parameter.Name;
}
