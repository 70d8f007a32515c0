namespace Terse.Evaluation;

/// <summary>Figures of a set of reconstructions against their originals (token ids).</summary>
/// <param name="TokenAccuracy">Share of positions whose token is the original one.</param>
/// <param name="PrefixMatch">Mean share of each segment restored before the first wrong token (1 for an exact segment).</param>
/// <param name="ExactMatch">Share of segments restored exactly.</param>
/// <param name="Bleu4">Corpus BLEU-4 over token ids (Papineni et al. 2002: clipped 1–4-gram precisions, geometric mean, brevity penalty).</param>
public sealed record ReconstructionScore(int Segments, long Tokens, double TokenAccuracy, double PrefixMatch, double ExactMatch, double Bleu4);

/// <summary>
/// Accumulates reconstruction figures segment by segment: the ones the seeds report (BLEU-4 and
/// prefix exact match in GMSA, exact reconstruction in Z-tokens) and plain token accuracy.
/// </summary>
public sealed class ReconstructionMetrics
{
    private const int MaxOrder = 4;
    private readonly long[] _matches = new long[MaxOrder], _totals = new long[MaxOrder];
    private long _tokens, _correct, _referenceLength, _candidateLength;
    private double _prefixShares;
    private int _segments, _exact;

    /// <summary>Adds one segment: <paramref name="restored"/> against <paramref name="original"/>.</summary>
    public void Add(ReadOnlySpan<int> original, ReadOnlySpan<int> restored)
    {
        if (original.IsEmpty)
            throw new ArgumentException("an empty original segment", nameof(original));
        _segments++;
        _tokens += original.Length;
        _referenceLength += original.Length;
        _candidateLength += restored.Length;
        int common = Math.Min(original.Length, restored.Length), correct = 0, prefix = 0;
        bool inPrefix = true;
        for (int i = 0; i < common; i++)
        {
            if (original[i] == restored[i])
            {
                correct++;
                if (inPrefix)
                    prefix++;
            }
            else
                inPrefix = false;
        }
        _correct += correct;
        _prefixShares += (double)prefix / original.Length;
        if (original.SequenceEqual(restored))
            _exact++;
        for (int n = 1; n <= MaxOrder; n++)
        {
            var reference = Counts(original, n);
            foreach (var (gram, count) in Counts(restored, n))
                _matches[n - 1] += Math.Min(count, reference.GetValueOrDefault(gram));
            _totals[n - 1] += Math.Max(0, restored.Length - n + 1);
        }
    }

    public ReconstructionScore Score()
    {
        if (_segments == 0)
            throw new InvalidOperationException("no segments were added");
        return new ReconstructionScore(_segments, _tokens, (double)_correct / _tokens, _prefixShares / _segments, (double)_exact / _segments, Bleu());
    }

    private double Bleu()
    {
        double logSum = 0;
        for (int n = 0; n < MaxOrder; n++)
        {
            if (_matches[n] == 0 || _totals[n] == 0)
                return 0;
            logSum += Math.Log((double)_matches[n] / _totals[n]);
        }
        double brevity = _candidateLength >= _referenceLength ? 1 : Math.Exp(1 - (double)_referenceLength / Math.Max(1, _candidateLength));
        return brevity * Math.Exp(logSum / MaxOrder);
    }

    /// <summary>n-gram counts, each n-gram a 4-tuple padded with −1.</summary>
    private static Dictionary<(int, int, int, int), int> Counts(ReadOnlySpan<int> tokens, int n)
    {
        var counts = new Dictionary<(int, int, int, int), int>();
        for (int i = 0; i + n <= tokens.Length; i++)
        {
            var key = (tokens[i], n > 1 ? tokens[i + 1] : -1, n > 2 ? tokens[i + 2] : -1, n > 3 ? tokens[i + 3] : -1);
            counts[key] = counts.GetValueOrDefault(key) + 1;
        }
        return counts;
    }
}
