using Terse.Evaluation;

namespace Terse.Tests.Evaluation;

public class ReconstructionMetricsTests
{
    [Fact]
    public void Exact_reconstructions_score_one_everywhere()
    {
        var metrics = new ReconstructionMetrics();
        metrics.Add([1, 2, 3, 4, 5, 6], [1, 2, 3, 4, 5, 6]);
        metrics.Add([7, 7, 7, 7], [7, 7, 7, 7]);
        Assert.Equal(new ReconstructionScore(2, 10, 1, 1, 1, 1), metrics.Score());
    }

    [Fact]
    public void A_wrong_token_cuts_the_prefix_and_the_n_grams_it_touches()
    {
        var metrics = new ReconstructionMetrics();
        // One substitution at position 2 of 8: 7/8 unigrams, 5/7 bigrams, 3/6 trigrams, 2/5 4-grams match.
        metrics.Add([10, 11, 12, 13, 14, 15, 16, 17], [10, 11, 99, 13, 14, 15, 16, 17]);
        var score = metrics.Score();
        Assert.Equal(7 / 8.0, score.TokenAccuracy);
        Assert.Equal(2 / 8.0, score.PrefixMatch);
        Assert.Equal(0, score.ExactMatch);
        Assert.Equal(Math.Pow(7 / 8.0 * 5 / 7.0 * 3 / 6.0 * 2 / 5.0, 0.25), score.Bleu4, 12);
    }

    [Fact]
    public void Repeated_n_grams_are_clipped_and_a_short_candidate_pays_the_brevity_penalty()
    {
        var clipped = new ReconstructionMetrics();
        clipped.Add([1, 2, 3, 4, 5], [1, 1, 1, 1, 1]);
        Assert.Equal(0, clipped.Score().Bleu4);   // one of five unigrams counts; no bigram matches
        var shortCandidate = new ReconstructionMetrics();
        shortCandidate.Add([1, 2, 3, 4, 5, 6, 7, 8], [1, 2, 3, 4, 5, 6]);
        Assert.Equal(Math.Exp(1 - 8 / 6.0), shortCandidate.Score().Bleu4, 12);
        Assert.Throws<InvalidOperationException>(() => new ReconstructionMetrics().Score());
    }
}
