using Terse.Neural;

namespace Terse.ZTokens;

/// <summary>One held-out segment under greedy coding.</summary>
/// <param name="SurprisalBits">−log2 p of the segment under the base model alone, read from BOS (what coding the segment on its own costs an entropy coder).</param>
/// <param name="ReconstructionBits">Teacher-forced cross-entropy of the segment through the decompressor after its greedy code (bits, summed).</param>
public sealed record SegmentEvaluation(int Tokens, int CodeLength, int Corrections, double SurprisalBits, double ReconstructionBits);

/// <summary>Held-out continuation cross-entropy of a segment's following text, bits per token, in four conditions.</summary>
/// <param name="Nothing">Base model from BOS alone.</param>
/// <param name="FullText">Base model after BOS and the whole preceding segment.</param>
/// <param name="ZTokens">Decompressor after [Begin, Z code of the preceding segment, Continue]: the text never shown.</param>
/// <param name="ZTokensBaseOnly">The base model (no adapter) after the same Z code: does the code mean anything without the decompressor.</param>
public sealed record ContinuationEvaluation(int Pairs, int Tokens, double Nothing, double FullText, double ZTokens, double ZTokensBaseOnly);

/// <summary>Surprisal-binned view of the segments (equal-count bins, least surprising first).</summary>
public sealed record AdaptivityBin(int Segments, double MeanSurprisalBits, double MeanCodeLength, double ExactRate, double TokenAccuracy);

/// <summary>What <see cref="ZTokenEvaluation.Evaluate"/> measures on held-out text.</summary>
/// <param name="Ratio">Text tokens per Z-token (greedy codes, every segment).</param>
/// <param name="ExactRate">Fraction of segments greedy decoding restores from the code alone.</param>
/// <param name="TokenAccuracy">Fraction of tokens greedy decoding gets right (1 − corrections / tokens).</param>
/// <param name="CodeBitsPerToken">Σ L·log2|Z| / Σ n: what the Z codes alone would cost as bits.</param>
/// <param name="LosslessBitsPerToken">An estimate of the container's payload per token (codes at log2 |Z|, residuals at the decompressor's cross-entropy, or raw ids): the price of exactness.</param>
/// <param name="ReconstructionBitsPerToken">Decompressor cross-entropy after the code, per token: what an entropy coder driven by the decompressor would add to the code.</param>
/// <param name="SurprisalBitsPerToken">Base model alone, each segment from BOS: the entropy bound of coding segments independently.</param>
/// <param name="ReconstructionBitsPerTokenOtherCode">The same cross-entropy after the next segment's code instead (null without the continuation pairs): the gap to <paramref name="ReconstructionBitsPerToken"/> is what the code tells the decompressor.</param>
/// <param name="SurprisalCodeLengthPearson">Correlation of a segment's surprisal with its code length (content adaptivity); null when every code has the same length.</param>
public sealed record ZTokenEvaluationReport(
    int Segments, long TextTokens, long CodeTokens, double Ratio, double MeanCodeLength, double ExactRate, double TokenAccuracy,
    double CodeBitsPerToken, double LosslessBitsPerToken, double ReconstructionBitsPerToken, double? ReconstructionBitsPerTokenOtherCode, double SurprisalBitsPerToken,
    double? SurprisalCodeLengthPearson, double? SurprisalCodeLengthSpearman, IReadOnlyList<AdaptivityBin> Bins,
    ContinuationEvaluation? Continuation, IReadOnlyList<SegmentEvaluation> PerSegment);

/// <summary>
/// Held-out evaluation of a <see cref="ZTokenModel"/>: greedy codes for every full segment of a text,
/// how often they restore it exactly, at what length and cost, against the base model's own
/// surprisal (the entropy bound), how code length follows surprisal, and whether the code alone lets
/// the model continue the text.
/// </summary>
public static class ZTokenEvaluation
{
    public static ZTokenEvaluationReport Evaluate(ZTokenModel model, ReadOnlySpan<int> ids, int? maxSegments = null, int bins = 5,
        bool continuation = true, IProgress<double>? progress = null, int? maxDegreeOfParallelism = null)
    {
        int n = model.Shape.SegmentLength;
        int count = ids.Length / n;
        if (maxSegments is { } limit)
            count = Math.Min(count, limit);
        if (count < 1)
            throw new ArgumentException($"the text has {ids.Length} tokens: not one full segment of {n}", nameof(ids));
        var text = ids[..(count * n)].ToArray();
        var v = model.Vocabulary;
        var perSegment = new SegmentEvaluation[count];
        var codes = new int[count][];
        int pairs = continuation ? count - 1 : 0;
        var pairNats = new double[Math.Max(0, pairs), 5];
        int done = 0, total = count + pairs;
        var options = new ParallelOptions { MaxDegreeOfParallelism = maxDegreeOfParallelism ?? Environment.ProcessorCount };
        Parallel.For(0, count, options, () => new Workers(model), (i, _, w) =>
        {
            var segment = text.AsSpan(i * n, n);
            var code = w.Codec.Encode(segment);
            codes[i] = code;
            var corrections = w.Codec.FindCorrections(code, segment);
            double reconstruction = w.Codec.CrossEntropyAfterCode(code, segment, continuation: false) / Math.Log(2);
            double surprisal = w.BaseCrossEntropy([model.Bos], segment) / Math.Log(2);
            perSegment[i] = new SegmentEvaluation(n, code.Length, corrections.Count, surprisal, reconstruction);
            progress?.Report((double)Interlocked.Increment(ref done) / total);
            return w;
        }, _ => { });
        if (pairs > 0)
            Parallel.For(0, pairs, options, () => new Workers(model), (i, _, w) =>
            {
                var before = text.AsSpan(i * n, n);
                var after = text.AsSpan((i + 1) * n, n);
                pairNats[i, 0] = w.BaseCrossEntropy([model.Bos], after);
                pairNats[i, 1] = w.BaseCrossEntropy([model.Bos, .. before], after);
                pairNats[i, 2] = w.Codec.CrossEntropyAfterCode(codes[i], after, continuation: true);
                pairNats[i, 3] = w.BaseCrossEntropy([v.Begin, .. codes[i], v.Continue], after);
                pairNats[i, 4] = w.Codec.CrossEntropyAfterCode(codes[i + 1], before, continuation: false);
                progress?.Report((double)Interlocked.Increment(ref done) / total);
                return w;
            }, _ => { });

        long textTokens = (long)count * n, codeTokens = perSegment.Sum(s => (long)s.CodeLength);
        // What the container stores, near enough: the code at log2 |Z| a Z-token, and for an inexact
        // code its residual at the decompressor's cross-entropy, or the raw ids if that is less.
        double losslessBits = perSegment.Sum(s => Math.Min(s.CodeLength * v.BitsPerCode + (s.Corrections == 0 ? 0 : s.ReconstructionBits),
            s.Tokens * Math.Log2(v.BaseSize)));
        ContinuationEvaluation? continued = null;
        double PerToken(int column) => Enumerable.Range(0, pairs).Sum(i => pairNats[i, column]) / ((double)pairs * n) / Math.Log(2);
        if (pairs > 0)
            continued = new ContinuationEvaluation(pairs, pairs * n, PerToken(0), PerToken(1), PerToken(2), PerToken(3));
        var surprisals = perSegment.Select(s => s.SurprisalBits).ToArray();
        var lengths = perSegment.Select(s => (double)s.CodeLength).ToArray();
        return new ZTokenEvaluationReport(count, textTokens, codeTokens, (double)textTokens / codeTokens, (double)codeTokens / count,
            perSegment.Count(s => s.Corrections == 0) / (double)count,
            1 - perSegment.Sum(s => (double)s.Corrections) / textTokens,
            codeTokens * v.BitsPerCode / textTokens, losslessBits / textTokens,
            perSegment.Sum(s => s.ReconstructionBits) / textTokens, pairs > 0 ? PerToken(4) : null, surprisals.Sum() / textTokens,
            Defined(Statistics.Pearson(surprisals, lengths)), Defined(Statistics.Spearman(surprisals, lengths)),
            Bin(perSegment, bins), continued, perSegment);
    }

    /// <summary>A correlation is undefined (NaN) when every code has the same length; reported as null.</summary>
    private static double? Defined(double value) => double.IsNaN(value) ? null : value;

    private static List<AdaptivityBin> Bin(SegmentEvaluation[] segments, int bins)
    {
        var ordered = segments.OrderBy(s => s.SurprisalBits).ToArray();
        var result = new List<AdaptivityBin>();
        bins = Math.Clamp(bins, 1, ordered.Length);
        for (int b = 0; b < bins; b++)
        {
            int from = (int)((long)ordered.Length * b / bins), to = (int)((long)ordered.Length * (b + 1) / bins);
            var slice = ordered[from..to];
            result.Add(new AdaptivityBin(slice.Length, slice.Average(s => s.SurprisalBits), slice.Average(s => s.CodeLength),
                slice.Count(s => s.Corrections == 0) / (double)slice.Length,
                1 - slice.Sum(s => (double)s.Corrections) / slice.Sum(s => s.Tokens)));
        }
        return result;
    }

    /// <summary>A codec and a plain base session for one worker thread.</summary>
    private sealed class Workers(ZTokenModel model)
    {
        public ZTokenCodec Codec { get; } = new(model);

        private readonly InferenceSession _base = model.Model.CreateSession(Math.Max(model.Shape.CompressorPositions, 2 * model.Shape.SegmentLength + 2));

        /// <summary>Cross-entropy (nats) of <paramref name="text"/> after <paramref name="context"/> under the base model, restricted to the base vocabulary.</summary>
        public double BaseCrossEntropy(ReadOnlySpan<int> context, ReadOnlySpan<int> text)
        {
            _base.Reset();
            var logits = _base.Prefill(context);
            double nats = 0;
            for (int i = 0; i < text.Length; i++)
            {
                nats += ZTokenTrainer.RestrictedCrossEntropy(logits[..model.Vocabulary.BaseSize], text[i], default, 0).Nats;
                if (i + 1 < text.Length)
                    logits = _base.Step(text[i]);
            }
            return nats;
        }
    }
}

/// <summary>Correlation coefficients.</summary>
internal static class Statistics
{
    public static double Pearson(IReadOnlyList<double> x, IReadOnlyList<double> y)
    {
        int n = x.Count;
        if (n < 2)
            return double.NaN;
        double mx = x.Average(), my = y.Average(), sxy = 0, sxx = 0, syy = 0;
        for (int i = 0; i < n; i++)
        {
            sxy += (x[i] - mx) * (y[i] - my);
            sxx += (x[i] - mx) * (x[i] - mx);
            syy += (y[i] - my) * (y[i] - my);
        }
        return sxx == 0 || syy == 0 ? double.NaN : sxy / Math.Sqrt(sxx * syy);
    }

    /// <summary>Pearson correlation of the ranks (ties get their mean rank).</summary>
    public static double Spearman(IReadOnlyList<double> x, IReadOnlyList<double> y) => Pearson(Ranks(x), Ranks(y));

    private static double[] Ranks(IReadOnlyList<double> values)
    {
        var order = Enumerable.Range(0, values.Count).OrderBy(i => values[i]).ToArray();
        var ranks = new double[values.Count];
        for (int start = 0; start < order.Length;)
        {
            int end = start;
            while (end + 1 < order.Length && values[order[end + 1]] == values[order[start]])
                end++;
            double rank = (start + end) / 2.0 + 1;
            for (int k = start; k <= end; k++)
                ranks[order[k]] = rank;
            start = end + 1;
        }
        return ranks;
    }
}
