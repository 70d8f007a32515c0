using System.Text;

namespace Terse.Evaluation;

/// <summary>Exact match and F1 of a set of answers, in percent, as the SQuAD script scores them.</summary>
public sealed record AnswerScore(int Questions, double ExactMatch, double F1);

/// <summary>
/// Scores predicted answers against their gold answers the way the SQuAD evaluation script does
/// (and the seeds after it): both are normalised (lower case, punctuation and the articles a/an/the
/// removed, white space collapsed); exact match asks for equal strings, F1 is over the bag of words.
/// A question with several gold answers takes the best of them.
/// </summary>
public sealed class AnswerMetrics
{
    private int _questions;
    private double _exact, _f1;

    public void Add(string prediction, IReadOnlyList<string> answers)
    {
        if (answers.Count == 0)
            throw new ArgumentException("a question without a gold answer", nameof(answers));
        var predicted = Normalize(prediction);
        double exact = 0, f1 = 0;
        foreach (var answer in answers)
        {
            var gold = Normalize(answer);
            exact = Math.Max(exact, predicted.SequenceEqual(gold) ? 1 : 0);
            f1 = Math.Max(f1, F1(predicted, gold));
        }
        _questions++;
        _exact += exact;
        _f1 += f1;
    }

    public AnswerScore Score() =>
        _questions == 0 ? new AnswerScore(0, double.NaN, double.NaN) : new AnswerScore(_questions, 100 * _exact / _questions, 100 * _f1 / _questions);

    /// <summary>The normalised words of <paramref name="text"/>.</summary>
    public static string[] Normalize(string text)
    {
        var kept = new StringBuilder(text.Length);
        foreach (char c in text.ToLowerInvariant())
            if (!char.IsPunctuation(c) && !char.IsSymbol(c))
                kept.Append(c);
        return [.. kept.ToString().Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries).Where(w => w is not ("a" or "an" or "the"))];
    }

    private static double F1(string[] predicted, string[] gold)
    {
        if (predicted.Length == 0 || gold.Length == 0)
            return predicted.Length == gold.Length ? 1 : 0;
        var counts = gold.GroupBy(w => w, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);
        int common = 0;
        foreach (var word in predicted)
            if (counts.TryGetValue(word, out int left) && left > 0)
            {
                counts[word] = left - 1;
                common++;
            }
        if (common == 0)
            return 0;
        double precision = (double)common / predicted.Length, recall = (double)common / gold.Length;
        return 2 * precision * recall / (precision + recall);
    }
}
