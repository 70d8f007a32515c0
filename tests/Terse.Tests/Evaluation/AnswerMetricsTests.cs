using Terse.Evaluation;

namespace Terse.Tests.Evaluation;

public class AnswerMetricsTests
{
    [Fact]
    public void Normalisation_drops_case_punctuation_articles_and_extra_space()
    {
        Assert.Equal(["eiffel", "tower", "paris"], AnswerMetrics.Normalize("  The Eiffel Tower, (Paris)! "));
        Assert.Equal(["69129"], AnswerMetrics.Normalize("69129."));
        // As in the SQuAD script, punctuation inside a word is removed, not split on.
        Assert.Equal(["wellknown"], AnswerMetrics.Normalize("well-known"));
    }

    [Fact]
    public void Exact_match_and_f1_take_the_best_gold_answer()
    {
        var metrics = new AnswerMetrics();
        metrics.Add("the Denver Broncos", ["Denver Broncos", "Broncos"]);   // exact after normalisation
        metrics.Add("Broncos of Denver", ["Denver Broncos"]);              // 2 of 3 predicted words, 2 of 2 gold: F1 0.8
        metrics.Add("Carolina", ["Denver Broncos"]);                       // nothing in common
        var score = metrics.Score();
        Assert.Equal(3, score.Questions);
        Assert.Equal(100.0 / 3, score.ExactMatch, 9);
        Assert.Equal(100 * (1 + 0.8 + 0) / 3, score.F1, 9);
    }

    [Fact]
    public void A_question_needs_a_gold_answer()
    {
        Assert.Throws<ArgumentException>(() => new AnswerMetrics().Add("x", []));
        Assert.True(double.IsNaN(new AnswerMetrics().Score().ExactMatch));
    }
}
