using Terse.Corpora;
using Terse.Neural.Training;

namespace Terse.Pretraining;

/// <summary>What a training row holds.</summary>
public enum EpisodeKind
{
    /// <summary>A window of one domain's training text.</summary>
    Natural,
    /// <summary>Pieces of text in which passages recur: a passage, a separator, maybe other text, and the passage again.</summary>
    Repeat,
    /// <summary>
    /// A pattern repeated to the end of the row: the copy signal at its strongest. The pattern is
    /// either uniform random ids, or a window of natural text, whose common tokens recur within it
    /// so that only a match on several previous tokens says what comes next.
    /// </summary>
    SyntheticCopy,
    /// <summary>A story sampled from the teacher model, trained towards the teacher's own next-token distributions.</summary>
    TeacherStory,
}

/// <summary>Relative frequencies of the episode kinds and of the domains natural text is drawn from.</summary>
public sealed record MixtureWeights
{
    public double Natural { get; init; } = 0.45;
    public double Repeat { get; init; } = 0.30;
    public double SyntheticCopy { get; init; } = 0.10;
    public double TeacherStory { get; init; } = 0.15;

    /// <summary>Share of synthetic copy rows whose pattern is a window of natural text (the rest: uniform random ids).</summary>
    public double SyntheticFromText { get; init; } = 0.5;

    /// <summary>Domain weights for natural windows and for the passages of repeat episodes.</summary>
    public IReadOnlyDictionary<TextDomain, double> Domains { get; init; } = new Dictionary<TextDomain, double>
    {
        [TextDomain.Stories] = 0.28,
        [TextDomain.Encyclopedic] = 0.24,
        [TextDomain.News] = 0.12,
        [TextDomain.QuestionAnswering] = 0.14,
        [TextDomain.Dialogue] = 0.07,
        [TextDomain.Code] = 0.07,
        [TextDomain.Logs] = 0.08,
    };

    public static MixtureWeights CopyOnly { get; } = new() { Natural = 0, Repeat = 0, SyntheticCopy = 1, TeacherStory = 0 };
}

/// <summary>
/// Builds training rows: <c>[BOS, t1 … tT]</c>, of which position i predicts token i + 1. Every
/// row starts at BOS, as every evaluation and every compressor does. Seeded by the caller's
/// generator state, so a checkpoint that stores the state resumes the same stream of rows.
/// </summary>
internal sealed class EpisodeBuilder
{
    /// <summary>Lowest id a synthetic copy draws (after unk, BOS, EOS).</summary>
    private const int FirstOrdinaryId = 3;

    private readonly PretrainingCorpus _corpus;
    private readonly IReadOnlyList<int[]> _teacherStories;
    private readonly MixtureWeights _weights;
    private readonly int _bos, _vocabulary;
    private readonly int[][] _separators;
    private readonly (TextDomain Domain, double Weight)[] _domains;

    public EpisodeBuilder(PretrainingCorpus corpus, IReadOnlyList<int[]> teacherStories, MixtureWeights weights, int bos, int vocabulary,
        IReadOnlyList<int[]> separators)
    {
        _corpus = corpus;
        _teacherStories = teacherStories;
        _weights = weights;
        _bos = bos;
        _vocabulary = vocabulary;
        _separators = [.. separators];
        _domains = [.. weights.Domains.Where(d => d.Value > 0 && corpus.Tokens(d.Key).Length > 1024).Select(d => (d.Key, d.Value))];
        if (weights.Natural + weights.Repeat > 0 && _domains.Length == 0)
            throw new ArgumentException("the mixture draws natural text but the corpus has none in its weighted domains");
        if (weights.TeacherStory > 0 && teacherStories.Count == 0)
            throw new ArgumentException("the mixture draws teacher stories but none were given");
    }

    /// <summary>Fills <paramref name="row"/> (T + 1 tokens) with one episode; returns its kind and, for a natural window, its domain.</summary>
    public (EpisodeKind Kind, TextDomain? Domain) Fill(Span<int> row, ref ulong rng)
    {
        var kind = Pick(ref rng, (EpisodeKind.Natural, _weights.Natural), (EpisodeKind.Repeat, _weights.Repeat),
            (EpisodeKind.SyntheticCopy, _weights.SyntheticCopy), (EpisodeKind.TeacherStory, _weights.TeacherStory));
        row[0] = _bos;
        var body = row[1..];
        TextDomain? domain = null;
        switch (kind)
        {
            case EpisodeKind.Natural:
                domain = PickDomain(ref rng);
                Window(domain.Value, body.Length, ref rng).CopyTo(body);
                break;
            case EpisodeKind.Repeat:
                FillRepeats(body, ref rng);
                break;
            case EpisodeKind.SyntheticCopy:
                FillSyntheticCopy(body, ref rng);
                break;
            case EpisodeKind.TeacherStory:
                FillTeacherStories(body, ref rng);
                break;
        }
        return (kind, domain);
    }

    /// <summary>
    /// Natural text interleaved with repeats: [text] passage separator [text]? passage …, so that a
    /// copy is sometimes adjacent (as in the copy test) and sometimes far back in the window.
    /// </summary>
    private void FillRepeats(Span<int> body, ref ulong rng)
    {
        const int shortest = 8;
        int at = 0;
        while (at < body.Length)
        {
            var separator = _separators[Between(0, _separators.Length - 1, ref rng)];
            int left = body.Length - at;
            if (left < 2 * shortest + separator.Length)
            {
                Append(body, at, Window(PickDomain(ref rng), left, ref rng));
                break;
            }
            at = Append(body, at, Window(PickDomain(ref rng), Between(0, Math.Min(96, left / 4), ref rng), ref rng));
            // Both occurrences fit in what is left of the row.
            left = body.Length - at - separator.Length;
            var passage = Window(PickDomain(ref rng), Between(shortest, Math.Clamp(left / 2, shortest, 200), ref rng), ref rng);
            at = Append(body, at, passage);
            at = Append(body, at, separator);
            int room = body.Length - at - passage.Length;
            if (room > 0 && Uniform(ref rng) < 0.4)
                at = Append(body, at, Window(PickDomain(ref rng), Between(1, Math.Min(160, room), ref rng), ref rng));
            at = Append(body, at, passage);
        }
    }

    private void FillSyntheticCopy(Span<int> body, ref ulong rng)
    {
        int period = Between(6, Math.Min(128, Math.Max(6, body.Length / 2)), ref rng);
        Span<int> pattern = stackalloc int[period];
        if (_domains.Length > 0 && Uniform(ref rng) < _weights.SyntheticFromText)
            Window(PickDomain(ref rng), period, ref rng).CopyTo(pattern);
        else
            foreach (ref int token in pattern)
                token = Between(FirstOrdinaryId, _vocabulary - 1, ref rng);
        for (int i = 0; i < body.Length; i++)
            body[i] = pattern[i % period];
    }

    /// <summary>Teacher stories one after another (each from its start, after BOS), from a random story.</summary>
    private void FillTeacherStories(Span<int> body, ref ulong rng)
    {
        int at = 0;
        while (at < body.Length)
        {
            var story = _teacherStories[Between(0, _teacherStories.Count - 1, ref rng)];
            at = Append(body, at, story);
            if (at < body.Length)
                body[at++] = _bos;
        }
    }

    private static int Append(Span<int> body, int at, ReadOnlySpan<int> tokens)
    {
        int n = Math.Min(tokens.Length, body.Length - at);
        tokens[..n].CopyTo(body[at..]);
        return at + n;
    }

    private ReadOnlySpan<int> Window(TextDomain domain, int length, ref ulong rng)
    {
        var tokens = _corpus.Tokens(domain);
        length = Math.Min(length, tokens.Length);
        return tokens.Slice(Between(0, tokens.Length - length, ref rng), length);
    }

    private TextDomain PickDomain(ref ulong rng) => Pick(ref rng, _domains);

    private static T Pick<T>(ref ulong rng, params ReadOnlySpan<(T Item, double Weight)> choices)
    {
        double total = 0;
        foreach (var choice in choices)
            total += Math.Max(0, choice.Weight);
        if (!(total > 0))
            throw new ArgumentException("no choice has a positive weight");
        double coin = Uniform(ref rng) * total;
        T last = default!;
        foreach (var choice in choices)
        {
            if (choice.Weight <= 0)
                continue;
            last = choice.Item;
            coin -= choice.Weight;
            if (coin < 0)
                break;
        }
        return last;
    }

    /// <summary>Uniform in [low, high].</summary>
    internal static int Between(int low, int high, ref ulong rng) => low + (int)(XorShift64.Next(ref rng) % (ulong)(high - low + 1));

    internal static double Uniform(ref ulong rng) => (XorShift64.Next(ref rng) >> 11) * (1.0 / (1UL << 53));
}
