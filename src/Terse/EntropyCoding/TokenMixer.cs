namespace Terse.EntropyCoding;

/// <summary>The predictors a <see cref="TokenMixer"/> combines.</summary>
[Flags]
internal enum MixerInputs
{
    LanguageModel = 1,
    Match = 2,
    Counts = 4,
    All = LanguageModel | Match | Counts,
}

/// <summary>
/// The constants of the mixer. <see cref="Version4"/> is part of container version 4: changing any
/// of them changes every coded chunk. Other values exist only to measure (ablations, tuning).
/// </summary>
/// <param name="Inputs">Which predictors are mixed (version 4: all).</param>
/// <param name="LearningRate">Step of the online gradient on the weights, Q16.</param>
/// <param name="ModelWeight">The language model's starting weight, Q16.</param>
/// <param name="MatchWeight">The match model's starting weight, Q16.</param>
/// <param name="CountWeight">Each count input's starting weight, Q16.</param>
/// <param name="CountScale">An order-k input is log2(CountScale · count + 1): additive smoothing by 1/CountScale.</param>
/// <param name="MatchShortOrder">Tokens of the match model's short context, also the shortest match it follows.</param>
/// <param name="MatchLongOrder">Tokens of the match model's long context.</param>
/// <param name="HitRateLimit">The match's hit rate per length bucket averages over at most this many predictions.</param>
/// <param name="Orders">The orders of the context-count inputs.</param>
internal sealed record MixerSettings(MixerInputs Inputs, int LearningRate, int ModelWeight, int MatchWeight, int CountWeight, int CountScale,
    int MatchShortOrder, int MatchLongOrder, int HitRateLimit, int[] Orders)
{
    /// <remarks>
    /// Chosen with <c>entropy mix-tune</c> on held-out text and two texts from outside shared/
    /// (docs/results.md, "Version 4: mixing"). The match and count weights start at 0, so a chunk starts as
    /// the model alone and the mixer earns every change: starting them above 0 cost in-domain text
    /// (TinyStories) more than it gained elsewhere. Orders 4 and 6 pay out of the model's domain
    /// (a changelog, Python), where the text's own repeats are most of what can be predicted.
    /// </remarks>
    public static MixerSettings Version4 { get; } = new(MixerInputs.All, LearningRate: 180,
        ModelWeight: FixedLog2.One, MatchWeight: 0, CountWeight: 0, CountScale: 32,
        MatchShortOrder: 3, MatchLongOrder: 16, HitRateLimit: 255, Orders: [1, 2, 4, 6]);
}

/// <summary>
/// Mixes the language model's next-token distribution with a match model (<see cref="MatchModel"/>)
/// and order-1, 2, 4 and 6 token counts (<see cref="ContextCounts"/>) of the chunk: container version 4.
/// </summary>
/// <remarks>
/// <para>
/// Geometric mixing, the many-symbol form of paq's logistic mixing: every input k gives each token
/// i a score s_k(i), its log2-probability up to a constant, and the mixture is
/// p(i) ∝ 2^(Σ_k w_k · s_k(i)). After each token x the weights take a gradient step on −log p(x):
/// w_k += rate · (s_k(x) − E_p[s_k]). Why this and not a linear mixture of distributions: a sharp
/// predictor (a long match, a context always followed by the same token) can push a token far
/// above what the model gives it, and a miscalibrated model (a story model on logs) is flattened by
/// a weight below 1 instead of being averaged in; and the per-input constants cancel, so the match
/// and count inputs are non-zero only for the few tokens they name — a step costs the vocabulary
/// once (the model's scores) plus the tokens the counts and the match name.
/// </para>
/// <para>
/// The weights are chosen from 16 sets by the match length, so a long match can be trusted more
/// than a short one. Everything is integer arithmetic in Q16 (16 fraction bits) but two steps that
/// are IEEE basic operations in a fixed order: the model's logits become log2 units
/// ((l − max) · log2 e, rounded to Q16), and the mixed scores become frequencies through
/// <see cref="FrequencyTable.FixedPointExp2"/>, the routine version 3's tables use. So encoder and
/// decoder compute the same table on every machine, and every token keeps a frequency of at least 1.
/// </para>
/// </remarks>
internal sealed class TokenMixer
{
    private const int LanguageModel = 0, Match = 1, FirstCount = 2;
    private const int MatchBuckets = 16;

    /// <summary>A token the model finds more than 2^64 times less likely than its best is given that much.</summary>
    private const long MaxModelBits = 64L << FixedLog2.FractionBits;

    /// <summary>Weights stay within ±16: keeps every product far from overflow and a runaway step bounded.</summary>
    private const int MaxWeight = 16 << FixedLog2.FractionBits;

    /// <summary>A hit rate of 1.0 in Q16, less one so that a miss is never impossible.</summary>
    private const int AlwaysHit = (1 << FixedLog2.FractionBits) - 1;

    private readonly int vocabulary;
    private readonly MixerSettings settings;
    private readonly MatchModel match;
    private readonly ContextCounts[] counts;
    private readonly int inputCount;

    /// <summary>[vocabulary]: the model's scores of the next token, Q16 log2 units ≤ 0.</summary>
    private readonly int[] modelBits;

    /// <summary>[vocabulary]: Σ_k w_k · s_k(i), Q32.</summary>
    private readonly long[] mixed;

    /// <summary>[vocabulary]: 2^(mixed − max) in 32-bit fixed point, what the table is scaled from.</summary>
    private readonly ulong[] weights;

    /// <summary>[MatchBuckets × inputCount]: each match-length bucket's weights (model, match, one per count order), Q16.</summary>
    private readonly int[] mixerWeights;

    /// <summary>[MatchBuckets]: how often a match of that length was right (Q16), and over how many predictions.</summary>
    private readonly int[] hitRate = new int[MatchBuckets], hitCount = new int[MatchBuckets];

    private readonly int logOtherTokens;

    /// <summary>[count]: the chunk's tokens so far.</summary>
    private int[] history = new int[256];
    private int count;

    // The next token's match prediction (−1: none), its bucket and its score, set by Prepare.
    private int predicted, matchBucket, matchScore;

    public TokenMixer(int vocabulary, MixerSettings settings)
    {
        this.vocabulary = vocabulary;
        this.settings = settings;
        match = new MatchModel(settings.MatchShortOrder, settings.MatchLongOrder);
        counts = [.. settings.Orders.Select(k => new ContextCounts(k))];
        inputCount = FirstCount + counts.Length;
        mixerWeights = new int[MatchBuckets * inputCount];
        modelBits = new int[vocabulary];
        mixed = new long[vocabulary];
        weights = new ulong[vocabulary];
        // A match's score is the log-odds of its hit rate plus this: the other tokens share the misses.
        logOtherTokens = FixedLog2.Of((uint)Math.Max(1, vocabulary - 1));
    }

    /// <summary>Whether the language model's logits are read at all (false only when measuring the other inputs alone).</summary>
    public bool UsesModel => Has(MixerInputs.LanguageModel);

    private bool Has(MixerInputs input) => (settings.Inputs & input) != 0;

    /// <summary>Forgets the chunk: every count, the match, the weights and hit rates start again.</summary>
    public void Start()
    {
        match.Reset();
        foreach (var c in counts)
            c.Reset();
        count = 0;
        for (int row = 0; row < MatchBuckets; row++)
        {
            var w = mixerWeights.AsSpan(row * inputCount, inputCount);
            w[LanguageModel] = settings.ModelWeight;
            w[Match] = settings.MatchWeight;
            w[FirstCount..].Fill(settings.CountWeight);
        }
        Array.Fill(hitRate, 1 << (FixedLog2.FractionBits - 1));
        Array.Clear(hitCount);
        Prepare();
    }

    private Span<int> Row => mixerWeights.AsSpan(matchBucket * inputCount, inputCount);

    /// <summary>
    /// Sets <paramref name="table"/> to the mixture for the next token (its tokens, then the escape
    /// symbol with <paramref name="escapeFrequency"/> when that is above 0). <paramref name="logits"/>
    /// is ignored unless <see cref="UsesModel"/>.
    /// </summary>
    public void SetTable(FrequencyTable table, ReadOnlySpan<float> logits, int escapeFrequency)
    {
        var w = Row;
        if (UsesModel)
        {
            ModelBits(logits, modelBits);
            long weight = w[LanguageModel];
            for (int i = 0; i < vocabulary; i++)
                mixed[i] = weight * modelBits[i];
        }
        else
        {
            Array.Clear(mixed);
        }
        if (predicted >= 0 && Has(MixerInputs.Match))
            mixed[predicted] += (long)w[Match] * matchScore;
        if (Has(MixerInputs.Counts))
        {
            for (int k = 0; k < counts.Length; k++)
            {
                var c = counts[k];
                long weight = w[FirstCount + k];
                for (int e = c.First; e >= 0; e = c.Next(e))
                    mixed[c.Token(e)] += weight * CountScore(c.Count(e));
            }
        }

        long top = long.MinValue;
        int argmax = 0;
        for (int i = 0; i < vocabulary; i++)
        {
            if (mixed[i] > top)
            {
                top = mixed[i];
                argmax = i;
            }
        }
        // Scores are Q32 (weight Q16 × input Q16), less than 2^46 apart: exact in a double, and the
        // product by a power of two is exact too, so only FixedPointExp2 rounds.
        const double Scale = 1.0 / (1L << (2 * FixedLog2.FractionBits));
        for (int i = 0; i < vocabulary; i++)
            weights[i] = FrequencyTable.FixedPointExp2((mixed[i] - top) * Scale);
        table.SetFromWeights(weights, argmax, escapeFrequency);
    }

    private int CountScore(int n) => FixedLog2.Of((uint)Math.Min((long)settings.CountScale * n + 1, uint.MaxValue));

    /// <summary>
    /// Learns from the token that came (<paramref name="table"/> is the one it was coded with), then
    /// takes it into the history, the counts and the match. Escapes are not tokens: they are not passed here.
    /// </summary>
    public void Update(FrequencyTable table, int token)
    {
        // The expectations are under the tokens' part of the table (without the escape symbol).
        long tokenTotal = table.Cumulative(vocabulary);
        if (UsesModel)
        {
            long expected = 0;
            for (int i = 0; i < vocabulary; i++)
                expected += (long)table.Frequency(i) * modelBits[i];
            Learn(LanguageModel, modelBits[token], expected / tokenTotal);
        }
        if (predicted >= 0)
        {
            bool hit = predicted == token;
            if (Has(MixerInputs.Match))
                Learn(Match, hit ? matchScore : 0, (long)table.Frequency(predicted) * matchScore / tokenTotal);
            // A running average over the first n predictions, then an exponential one over HitRateLimit.
            int n = hitCount[matchBucket];
            hitRate[matchBucket] += (int)(((hit ? AlwaysHit : 0L) - hitRate[matchBucket]) * 2 / (2L * n + 3));
            if (n < settings.HitRateLimit)
                hitCount[matchBucket]++;
        }
        if (Has(MixerInputs.Counts))
        {
            for (int k = 0; k < counts.Length; k++)
            {
                var c = counts[k];
                long expected = 0;
                int actual = 0;
                for (int e = c.First; e >= 0; e = c.Next(e))
                {
                    int score = CountScore(c.Count(e));
                    expected += (long)table.Frequency(c.Token(e)) * score;
                    if (c.Token(e) == token)
                        actual = score;
                }
                Learn(FirstCount + k, actual, expected / tokenTotal);
            }
        }

        if (count == history.Length)
            Array.Resize(ref history, 2 * count);
        var before = history.AsSpan(0, count);
        foreach (var c in counts)
            c.Add(before, token);
        history[count++] = token;
        match.Update(history.AsSpan(0, count));
        Prepare();
    }

    /// <summary>One gradient step on −log2 p(token): the input's score of the token against its expectation under the mixture.</summary>
    private void Learn(int input, long actual, long expected)
    {
        long step = (actual - expected) * settings.LearningRate >> FixedLog2.FractionBits;
        ref int weight = ref Row[input];
        weight = (int)Math.Clamp(weight + step, -MaxWeight, MaxWeight);
    }

    /// <summary>The next token's contexts, match and weight set.</summary>
    private void Prepare()
    {
        var seen = history.AsSpan(0, count);
        foreach (var c in counts)
            c.Find(seen);
        predicted = match.Predicted(seen);
        matchBucket = predicted < 0 ? 0 : Bucket(match.Length);
        if (predicted >= 0)
        {
            int q = Math.Clamp(hitRate[matchBucket], 1, AlwaysHit);
            matchScore = FixedLog2.Of((uint)q) - FixedLog2.Of((uint)(AlwaysHit + 1 - q)) + logOtherTokens;
        }
    }

    /// <summary>0 without a match; 1..8 for lengths below 16 (two lengths each); 9..15 for 16, 32, … 1024 and longer.</summary>
    private static int Bucket(int length) =>
        length < 16 ? Math.Max(1, (length + 1) / 2)
        : Math.Min(MatchBuckets - 1, 9 + System.Numerics.BitOperations.Log2((uint)length / 16));

    /// <summary>
    /// The model's logits in log2 units below the top one, Q16: ((l − max) · log2 e) rounded, at
    /// most <see cref="MaxModelBits"/> below; NaN and −∞ get that floor; a +∞ or all-NaN maximum
    /// makes every token equal (as <see cref="FrequencyTable.SetFromLogits(ReadOnlySpan{float})"/> does).
    /// </summary>
    internal static void ModelBits(ReadOnlySpan<float> logits, Span<int> bits)
    {
        float max = float.NegativeInfinity;
        foreach (float l in logits)
            if (l > max)
                max = l;
        if (!float.IsFinite(max))
        {
            bits.Clear();
            return;
        }
        const double Log2EQ16 = 1.4426950408889634 * (1 << FixedLog2.FractionBits);
        for (int i = 0; i < logits.Length; i++)
        {
            double x = ((double)logits[i] - max) * Log2EQ16;
            bits[i] = x >= -MaxModelBits ? (int)Math.Round(x) : (int)-MaxModelBits;    // NaN fails the test
        }
    }
}
