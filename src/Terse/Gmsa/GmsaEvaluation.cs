using Terse.Neural;
using Terse.Neural.Training;

namespace Terse.Gmsa;

/// <summary>Reconstruction of held-out segments from their soft tokens at one rate.</summary>
/// <param name="CrossEntropy">Teacher-forced reconstruction cross-entropy, nats per token.</param>
/// <param name="TokenAccuracy">Share of positions where greedy (free-running) reconstruction gives the original token.</param>
/// <param name="TeacherForcedAccuracy">Share of positions where the most likely next token, given the true prefix, is the original.</param>
/// <param name="ExactMatch">Share of segments reconstructed exactly.</param>
/// <param name="PrefixMatch">Mean share of a segment greedy reconstruction gets right before its first error.</param>
/// <param name="Bleu4">Corpus BLEU-4 of the greedy reconstructions over token ids.</param>
/// <param name="NoContextCrossEntropy">
/// The base model's cross-entropy of the same segments after BOS alone: what the decoder knows
/// without soft tokens. The gap to <see cref="CrossEntropy"/> is what the soft tokens carry.
/// </param>
public sealed record ReconstructionResult(int Rate, int Segments, long Tokens, int SoftTokensPerSegment, double CrossEntropy, double TokenAccuracy, double TeacherForcedAccuracy, double ExactMatch, double NoContextCrossEntropy,
    double PrefixMatch, double Bleu4)
{
    /// <summary>Information the soft tokens carry about the text, in bits per soft token (teacher-forced gain over no context).</summary>
    public double BitsPerSoftToken => (NoContextCrossEntropy - CrossEntropy) * Tokens / Math.Log(2) / (Segments * (double)SoftTokensPerSegment);
}

/// <summary>
/// Continuation of held-out text after a context: cross-entropy (nats per continuation token) of
/// the decoder reading the context's soft tokens (base decoder and, when trained, with KEFT), the
/// full context as tokens, and no context; plus decoder input lengths and the forward
/// multiply-adds of each way (encoder and LSA included for soft tokens). Two controls show whether
/// KEFT's gain comes from the soft tokens: the KEFT decoder with no context, and with the soft
/// tokens of another sample's context.
/// </summary>
public sealed record ContinuationResult(
    int Rate, int Samples, int ContextTokens, int ContinuationTokens, int SoftTokens,
    double SoftNats, double? SoftKeftNats, double FullContextNats, double NoContextNats,
    double? NoContextKeftNats, double? MismatchedSoftKeftNats,
    int SoftDecoderPositions, int FullDecoderPositions, double SoftMegaMultiplyAdds, double FullMegaMultiplyAdds);

public static class GmsaEvaluation
{
    private const int Batch = 16;

    /// <summary>
    /// Non-overlapping windows of <paramref name="length"/> tokens from the start of
    /// <paramref name="corpus"/>, at most <paramref name="count"/>.
    /// </summary>
    internal static List<int[]> Windows(int[] corpus, int length, int count)
    {
        var windows = new List<int[]>();
        for (int start = 0; start + length <= corpus.Length && windows.Count < count; start += length)
            windows.Add(corpus.AsSpan(start, length).ToArray());
        if (windows.Count == 0)
            throw new ArgumentException($"the text has {corpus.Length} tokens; one sample needs {length}");
        return windows;
    }

    public static ReconstructionResult Reconstruction(GmsaModel model, int[] corpus, int rate, int maxSegments, IProgress<long>? progress = null)
    {
        int segment = model.Settings.SegmentLength;
        var segments = Windows(corpus, segment, maxSegments);
        int m = GroupMerging.GroupCount(segment, rate);
        double nats = 0, plain = 0;
        long tokens = 0, forced = 0;
        int done = 0;
        var metrics = new Evaluation.ReconstructionMetrics();
        foreach (var chunk in segments.Chunk(Batch))
        {
            var pass = new GmsaPass(model, chunk.Length, m, new Gradients([]));
            pass.Encode(chunk, Enumerable.Repeat(rate, chunk.Length).ToArray());
            pass.Decode(chunk, marker: true, model.ReconstructionAdapter);
            plain += TokenContextNats(model.Decoder, chunk, model.Bos, 0, segment);
            for (int b = 0; b < chunk.Length; b++)
            {
                foreach (float loss in pass.TextLosses(b, segment))
                    nats += loss;
                forced += pass.TeacherForcedMatches(b, chunk[b]);
                metrics.Add(chunk[b], GmsaInference.Reconstruct(model, pass.Soft(b), segment));
                tokens += segment;
                progress?.Report(++done);
            }
        }
        var score = metrics.Score();
        return new ReconstructionResult(rate, segments.Count, tokens, m, nats / tokens, score.TokenAccuracy, (double)forced / tokens, score.ExactMatch, plain / tokens,
            score.PrefixMatch, score.Bleu4);
    }

    public static ContinuationResult Continuation(GmsaModel model, int[] corpus, int rate, int continuation, int maxSamples, IProgress<long>? progress = null)
    {
        int segment = model.Settings.SegmentLength;
        var windows = Windows(corpus, segment + continuation, maxSamples);
        int m = GroupMerging.GroupCount(segment, rate);
        double soft = 0, keft = 0, full = 0, none = 0, noneKeft = 0, mismatched = 0;
        long count = 0;
        int bos = model.Bos, done = 0;
        foreach (var chunk in windows.Chunk(Batch))
        {
            var contexts = chunk.Select(w => w[..segment]).ToArray();
            var texts = chunk.Select(w => w[segment..]).ToArray();
            var pass = new GmsaPass(model, chunk.Length, m, new Gradients([]));
            pass.Encode(contexts, Enumerable.Repeat(rate, chunk.Length).ToArray());
            soft += Sum(pass, chunk.Length, continuation, pass.Decode(texts, marker: false, adapter: null));
            if (model.Keft is not null)
            {
                keft += Sum(pass, chunk.Length, continuation, pass.Decode(texts, marker: false, model.Keft));
                noneKeft += TokenContextNats(model.Decoder, texts, bos, 0, continuation, model.Keft);
                // Each continuation after the soft tokens of a context half a batch away (8 windows, about
                // 500 tokens: usually another story; neighbouring windows share names and scene). A chunk
                // of one pairs with itself.
                int shift = chunk.Length / 2;
                pass.Encode(contexts.Skip(shift).Concat(contexts.Take(shift)).ToArray(), Enumerable.Repeat(rate, chunk.Length).ToArray());
                mismatched += Sum(pass, chunk.Length, continuation, pass.Decode(texts, marker: false, model.Keft));
            }
            full += TokenContextNats(model.Decoder, chunk, bos, segment, continuation);
            none += TokenContextNats(model.Decoder, texts, bos, 0, continuation);
            count += chunk.Length * continuation;
            progress?.Report(done += chunk.Length);
        }
        var c = model.Decoder.Config;
        double encoder = ForwardMultiplyAdds(c, model.Settings.EncoderLayers, 1 + segment, 0, withHead: false)
            + (model.Lsa is null ? 0 : ForwardMultiplyAdds(c, model.Settings.LsaLayers, m, 0, withHead: false));
        int softPositions = 1 + m + continuation - 1, fullPositions = 1 + segment + continuation - 1;
        return new ContinuationResult(rate, windows.Count, segment, continuation, m,
            soft / count, model.Keft is null ? null : keft / count, full / count, none / count,
            model.Keft is null ? null : noneKeft / count, model.Keft is null ? null : mismatched / count,
            softPositions, fullPositions,
            (encoder + ForwardMultiplyAdds(c, c.Layers, softPositions, continuation, withHead: true)) / 1e6,
            ForwardMultiplyAdds(c, c.Layers, fullPositions, continuation, withHead: true) / 1e6);
    }

    /// <summary>Sum of the continuation losses of the last decode (undoing its mean).</summary>
    private static double Sum(GmsaPass pass, int batch, int length, float mean)
    {
        double sum = 0;
        for (int b = 0; b < batch; b++)
            foreach (float loss in pass.TextLosses(b, length))
                sum += loss;
        return sum;
    }

    /// <summary>Total nats of the last <paramref name="continuation"/> tokens of each window after <c>[BOS] window[..^1]</c>, base model.</summary>
    private static double TokenContextNats(LlamaModel model, IReadOnlyList<int[]> windows, int bos, int context, int continuation, LoraAdapter? adapter = null)
    {
        int time = context + continuation;
        var pass = new BatchPass(model, windows.Count, time, gradients: new Gradients([]), adapter: adapter);
        var inputs = new int[windows.Count * time];
        var targets = new int[windows.Count * time];
        for (int b = 0; b < windows.Count; b++)
        {
            var w = windows[b];
            inputs[b * time] = bos;
            w.AsSpan(0, time - 1).CopyTo(inputs.AsSpan(b * time + 1));
            for (int i = 0; i < time; i++)
                targets[b * time + i] = i >= context ? w[i] : -1;
        }
        pass.Forward(inputs);
        pass.Loss(targets);
        double sum = 0;
        foreach (float loss in pass.RowLosses)
            sum += loss;
        return sum;
    }

    /// <summary>
    /// Multiply-adds of a causal forward pass over <paramref name="positions"/> positions through
    /// <paramref name="layers"/> layers: projections, attention scores and mixing (position t attends
    /// to t + 1 keys), and the classifier on the <paramref name="predicted"/> positions whose logits are used.
    /// </summary>
    internal static double ForwardMultiplyAdds(LlamaConfig c, int layers, int positions, int predicted, bool withHead)
    {
        double projections = (double)c.Dim * (2 * c.Dim + 2 * c.KvDim) + 3.0 * c.Dim * c.HiddenDim;
        double attention = 0;
        for (int t = 0; t < positions; t++)
            attention += 2.0 * (t + 1) * c.Dim;
        return layers * (positions * projections + attention) + (withHead ? (double)predicted * c.Dim * c.VocabSize : 0);
    }
}
