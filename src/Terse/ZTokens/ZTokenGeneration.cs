using System.Diagnostics;
using Terse.Neural;
using Terse.Neural.Checkpoints;
using Terse.Neural.Training;

namespace Terse.ZTokens;

/// <summary>
/// Held-out figures of Z-space continuation, per text token of the continued segments.
/// </summary>
/// <param name="Segments">Segments continued (each after the codes of the segments before it).</param>
/// <param name="CodeBits">−log2 p of each segment's greedy code (its Z-tokens and End) under the inferencer, given the codes before it.</param>
/// <param name="UniformCodeBits">The same code at log2 |Z| bits a Z-token: what the inferencer saves.</param>
/// <param name="TextAfterCodeBits">The decompressor's cross-entropy of the segment after its own code.</param>
/// <param name="TextSpaceBits">The frozen base model's cross-entropy of the segment after the same context as text.</param>
/// <param name="ZStepsPerSegment">Autoregressive steps of Z-space generation per segment (Z-tokens and End).</param>
public sealed record ZSpaceContinuation(int Segments, int SegmentLength, int ContextSegments, double CodeBits, double UniformCodeBits,
    double TextAfterCodeBits, double TextSpaceBits, double ZStepsPerSegment)
{
    /// <summary>An upper bound on the bits/token of the text written through Z-space: code, then text given the code.</summary>
    public double ZSpaceBits => CodeBits + TextAfterCodeBits;
}

/// <summary>
/// Generation in Z-space (issue 11, after Li et al. 2026): an <b>inferencer</b> adapter on the same
/// frozen base reads the codes of the preceding segments, <c>Begin z… End</c> per segment, and
/// writes the next segment's code; the decompressor turns each code into text. The inferencer is
/// tuned (<see cref="PrefixTuning"/>) on the greedy codes of a training text.
/// </summary>
public sealed class ZTokenGeneration
{
    public const string InferencerName = "inferencer";

    private readonly ZTokenModel _z;
    private readonly ZVocabulary _v;
    private readonly ZTokenCodec _codec;
    private readonly float[] _emit;

    public ZTokenGeneration(ZTokenModel model, LoraAdapter inferencer, int contextSegments)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(contextSegments, 1);
        if (!ReferenceEquals(model.Model.Adapters.GetValueOrDefault(inferencer.Name), inferencer))
            throw new ArgumentException($"the inferencer '{inferencer.Name}' is not attached to this Z-token model");
        _z = model;
        _v = model.Vocabulary;
        _codec = new ZTokenCodec(model);
        Inferencer = inferencer;
        ContextSegments = contextSegments;
        _emit = new float[_v.EmitChoices];
        if (Positions(contextSegments) > model.Model.Config.MaxSequenceLength)
            throw new ArgumentException($"{contextSegments} segments of codes do not fit the model's {model.Model.Config.MaxSequenceLength} positions");
    }

    public LoraAdapter Inferencer { get; }
    public int ContextSegments { get; }

    private const string SettingsFile = "terse-inferencer.json";

    /// <summary>Writes the inferencer into <c>MODEL_DIR/inferencer</c> (a PEFT adapter folder and its context length) beside the Z-token model.</summary>
    public void Save(string modelDirectory)
    {
        string folder = Path.Combine(modelDirectory, InferencerName);
        AdapterFiles.Save(Inferencer, folder);
        IO.AtomicFile.WriteAllBytes(Path.Combine(folder, SettingsFile),
            System.Text.Encoding.UTF8.GetBytes(JsonFields.Format(new Dictionary<string, object?> { ["context_segments"] = ContextSegments })));
    }

    /// <summary>Attaches the inferencer saved in <c>MODEL_DIR/inferencer</c>; null when the folder has none.</summary>
    public static ZTokenGeneration? Load(ZTokenModel model, string modelDirectory)
    {
        string folder = Path.Combine(modelDirectory, InferencerName), path = Path.Combine(folder, SettingsFile);
        if (!File.Exists(path))
            return null;
        int contextSegments = JsonFields.Parse(JsonFields.ReadFile(path), path, fields => fields.RequiredInt("context_segments", 1));
        var adapter = AdapterFiles.Load(model.Model, folder, InferencerName);
        try
        {
            return new ZTokenGeneration(model, adapter, contextSegments);
        }
        catch (ArgumentException e)
        {
            model.Model.RemoveAdapter(InferencerName);
            throw new InvalidDataException($"{path}: {e.Message}");
        }
    }

    /// <summary>Positions the inferencer reads and writes for one segment after <paramref name="contextSegments"/> of them: BOS, the groups, Begin, the longest code and End.</summary>
    private int Positions(int contextSegments) => 1 + contextSegments * (_z.Shape.MaxCodeLength + 2) + 1 + _z.Shape.MaxCodeLength + 1;

    /// <summary>The greedy code of each full segment of <paramref name="ids"/> (a shorter tail is left out).</summary>
    public static List<int[]> SegmentCodes(ZTokenCodec codec, ReadOnlySpan<int> ids)
    {
        int n = codec.Model.Shape.SegmentLength;
        var codes = new List<int[]>(ids.Length / n);
        for (int start = 0; start + n <= ids.Length; start += n)
            codes.Add(codec.Encode(ids.Slice(start, n)));
        return codes;
    }

    /// <summary>What the inferencer reads before segment <paramref name="index"/>: the groups of the segments before it, then Begin.</summary>
    private int[] Prefix(IReadOnlyList<int[]> codes, int index, int contextSegments)
    {
        var prefix = new List<int>();
        for (int j = Math.Max(0, index - contextSegments); j < index; j++)
            prefix.AddRange([_v.Begin, .. codes[j], _v.End]);
        prefix.Add(_v.Begin);
        return [.. prefix];
    }

    /// <summary>
    /// Tunes a new inferencer on <paramref name="corpus"/>: each sample is the codes of
    /// <paramref name="contextSegments"/> consecutive segments and, as the target, the next
    /// segment's code and End. <paramref name="progress"/> gets each update's result.
    /// </summary>
    public static ZTokenGeneration Train(ZTokenModel model, ReadOnlySpan<int> corpus, int contextSegments, PrefixTuningSettings settings,
        IProgress<PrefixTuningStep>? progress = null)
    {
        var codes = SegmentCodes(new ZTokenCodec(model), corpus);
        if (codes.Count <= contextSegments)
            throw new ArgumentException($"the training text has {codes.Count} segments; a sample needs {contextSegments + 1}");
        var tuning = new PrefixTuning(model.Model, InferencerName, model.Bos, settings);
        var generation = new ZTokenGeneration(model, tuning.Adapter, contextSegments);
        var random = new Random(settings.Seed);
        var batch = new PrefixSample[settings.BatchSize];
        while (tuning.Step < settings.Steps)
        {
            for (int b = 0; b < batch.Length; b++)
            {
                int i = random.Next(contextSegments, codes.Count);
                batch[b] = new PrefixSample(generation.Prefix(codes, i, contextSegments), null, [], [.. codes[i], model.Vocabulary.End]);
            }
            var step = tuning.TrainStep(batch);   // not inside ?.: a null progress would skip the update
            progress?.Report(step);
        }
        return generation;
    }

    /// <summary>
    /// Continues <paramref name="prompt"/> by <paramref name="segments"/> segments: the prompt's full
    /// segments are coded, each next code is written greedily by the inferencer (End not first, at
    /// most MaxCodeLength Z-tokens), and every new code is decoded to text by the decompressor.
    /// Returns the new text's ids and the new codes.
    /// </summary>
    public (int[] Text, List<int[]> Codes) Generate(ReadOnlySpan<int> prompt, int segments)
    {
        var codes = ContinueCodes(prompt, segments);
        return (DecodeCodes(codes), codes);
    }

    /// <summary>The codes of <paramref name="segments"/> new segments after the prompt's, written by the inferencer.</summary>
    private List<int[]> ContinueCodes(ReadOnlySpan<int> prompt, int segments)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(segments);
        var codes = SegmentCodes(_codec, prompt);
        int first = codes.Count;
        for (int s = 0; s < segments; s++)
            codes.Add(NextCode(codes));
        return codes[first..];
    }

    /// <summary>The decompressor's greedy text of each code, one whole segment each.</summary>
    private int[] DecodeCodes(List<int[]> codes)
    {
        var text = new List<int>(codes.Count * _z.Shape.SegmentLength);
        foreach (var code in codes)
            text.AddRange(_codec.Decode(code, _z.Shape.SegmentLength, Corrections.None));
        return [.. text];
    }

    private int[] NextCode(IReadOnlyList<int[]> codes)
    {
        var session = _z.Model.CreateSession(Positions(ContextSegments), Inferencer);
        var logits = session.Prefill([_z.Bos, .. Prefix(codes, codes.Count, ContextSegments)]);
        var code = new List<int>(_z.Shape.MaxCodeLength);
        for (int k = 1; k <= _z.Shape.MaxCodeLength; k++)
        {
            logits.Slice(_v.FirstCode, _v.EmitChoices).CopyTo(_emit);
            int choice = DiscreteBottleneck.Choose(_emit, default, 1f, mayStop: k > 1);
            if (choice == _v.CodeCount)
                break;
            code.Add(_v.FirstCode + choice);
            if (k < _z.Shape.MaxCodeLength)
                logits = session.Step(_v.FirstCode + choice);
        }
        return [.. code];
    }

    /// <summary>
    /// Held-out continuation through Z-space against text space: for every segment of
    /// <paramref name="ids"/> after the first <see cref="ContextSegments"/> (at most
    /// <paramref name="maxSegments"/>), the bits of its greedy code under the inferencer (over the
    /// codes and End only) plus the decompressor's cross-entropy of its text after that code — an
    /// upper bound on what the text costs through Z-space — beside the frozen base model's
    /// cross-entropy of the same text after the same context as text.
    /// </summary>
    public ZSpaceContinuation Evaluate(ReadOnlySpan<int> ids, LlamaModel baseModel, int? maxSegments = null, IProgress<long>? progress = null)
    {
        int n = _z.Shape.SegmentLength, c = ContextSegments;
        var codes = SegmentCodes(_codec, ids);
        int count = Math.Max(0, codes.Count - c);
        if (maxSegments is { } limit)
            count = Math.Min(count, limit);
        if (count == 0)
            throw new ArgumentException($"the text has {codes.Count} segments; continuing one needs {c + 1}");
        double codeBits = 0, uniformBits = 0, textBits = 0, baseBits = 0;
        long steps = 0;
        var inferencer = _z.Model.CreateSession(Positions(c), Inferencer);
        var reader = baseModel.CreateSession(1 + (c + 1) * n);
        var textLogits = new float[c * n * baseModel.Config.VocabSize + n * baseModel.Config.VocabSize];
        for (int s = 0; s < count; s++)
        {
            int i = c + s;
            var code = codes[i];
            inferencer.Reset();
            var logits = inferencer.Prefill([_z.Bos, .. Prefix(codes, i, c)]);
            foreach (int symbol in (int[])[.. code, _v.End])
            {
                logits.Slice(_v.FirstCode, _v.EmitChoices).CopyTo(_emit);
                codeBits += Sampler.SurprisalBits(_emit, symbol - _v.FirstCode);
                if (symbol != _v.End)
                    logits = inferencer.Step(symbol);
            }
            steps += code.Length + 1;
            uniformBits += code.Length * _v.BitsPerCode;
            var segment = ids.Slice(i * n, n);
            textBits += _codec.CrossEntropyAfterCode(code, segment, continuation: false) / Math.Log(2);
            // The base model reads the same context as text: the c segments before.
            reader.Reset();
            int vocabulary = baseModel.Config.VocabSize;
            var window = ids.Slice((i - c) * n, (c + 1) * n);
            reader.Prefill([_z.Bos, .. window[..^1]], textLogits);
            for (int j = 0; j < n; j++)
                baseBits += Sampler.SurprisalBits(textLogits.AsSpan((c * n + j) * vocabulary, vocabulary), segment[j]);
            progress?.Report(s + 1);
        }
        double tokens = (double)count * n;
        return new ZSpaceContinuation(count, n, c, codeBits / tokens, uniformBits / tokens, textBits / tokens, baseBits / tokens, (double)steps / count);
    }

    /// <summary>Times generation of <paramref name="segments"/> segments after <paramref name="prompt"/>: Z-space (codes, then decoding) against the base model writing the same number of tokens.</summary>
    public (double ZSpaceSeconds, double DecodeSeconds, double TextSpaceSeconds) Time(ReadOnlySpan<int> prompt, int segments, LlamaModel baseModel)
    {
        int n = _z.Shape.SegmentLength, context = Math.Min(prompt.Length, ContextSegments * n);
        if (1 + context + segments * n > baseModel.Config.MaxSequenceLength)
            throw new ArgumentException($"{context} tokens of context and {segments * n} more do not fit the base model's {baseModel.Config.MaxSequenceLength} positions");
        var clock = Stopwatch.StartNew();
        var codes = ContinueCodes(prompt, segments);
        double z = clock.Elapsed.TotalSeconds;
        clock.Restart();
        DecodeCodes(codes);
        double decode = clock.Elapsed.TotalSeconds;
        clock.Restart();
        var session = baseModel.CreateSession(1 + context + segments * n);
        var logits = session.Prefill([_z.Bos, .. prompt[^context..]]);
        for (int t = 0; t < segments * n; t++)
            logits = session.Step(Sampler.ArgMax(logits));
        return (z, decode, clock.Elapsed.TotalSeconds);
    }
}
