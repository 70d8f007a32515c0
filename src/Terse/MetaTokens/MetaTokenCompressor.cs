namespace Terse.MetaTokens;

/// <summary>How runs are chosen to become meta-tokens.</summary>
public enum MetaTokenStrategy
{
    /// <summary>
    /// Terse's strategy, the default: runs in order of tokens saved with re-counting (a long
    /// repeat may swallow whole occurrences of runs chosen before it), the shortest body for that
    /// dictionary by dynamic programming (dropping runs that stop paying), and a guard: the
    /// paper's Greedy is run on the same suffix array and kept if it is shorter, so the output is
    /// never longer than Greedy's.
    /// </summary>
    Gain,

    /// <summary>Gain without the Greedy guard: faster; on a few small inputs a token or two longer than Greedy.</summary>
    GainFast,

    /// <summary>The paper's procedure: longest run first, N·K &gt; 1 + N + K. The baseline.</summary>
    Greedy,
}

public sealed record MetaTokenOptions
{
    public static MetaTokenOptions Default { get; } = new();

    public MetaTokenStrategy Strategy { get; init; } = MetaTokenStrategy.Gain;

    /// <summary>
    /// Let definitions use earlier meta-tokens (a grammar rather than a flat dictionary): fewer
    /// tokens, but a model must resolve references inside the dictionary. Gain strategies only.
    /// </summary>
    public bool Hierarchical { get; init; }

    /// <summary>
    /// Longest run considered, in tokens. For Greedy this is the paper's maximum candidate length;
    /// for Gain it only bounds the work on very repetitive input (longer repeats are still covered,
    /// in pieces of this length).
    /// </summary>
    public int? MaxRunLength { get; init; }

    internal int EffectiveMaxRunLength => MaxRunLength ?? (Strategy == MetaTokenStrategy.Greedy ? DefaultGreedyMaxRunLength : DefaultGainMaxRunLength);

    public const int DefaultGreedyMaxRunLength = 32;
    public const int DefaultGainMaxRunLength = 256;
}

/// <summary>Lossless meta-token compression of token id sequences (any tokenizer).</summary>
public static class MetaTokenCompressor
{
    /// <summary>
    /// Compresses <paramref name="ids"/> (each in [0, <paramref name="baseVocabularySize"/>)).
    /// The result expands back to exactly <paramref name="ids"/>; with the Gain strategy its
    /// <see cref="MetaTokenSequence.OutputTokenCount"/> never exceeds the input length.
    /// </summary>
    /// <param name="progress">Receives the fraction done (0..1) between phases.</param>
    public static MetaTokenSequence Compress(ReadOnlySpan<int> ids, int baseVocabularySize, MetaTokenOptions? options = null, IProgress<double>? progress = null)
    {
        options ??= MetaTokenOptions.Default;
        if (baseVocabularySize <= 0)
            throw new ArgumentOutOfRangeException(nameof(baseVocabularySize), baseVocabularySize, "the base vocabulary size must be positive");
        int maxLength = options.EffectiveMaxRunLength;
        if (maxLength < 2)
            throw new ArgumentOutOfRangeException(nameof(options), maxLength, "the maximum run length must be at least 2");
        if (options.Hierarchical && options.Strategy == MetaTokenStrategy.Greedy)
            throw new ArgumentException("hierarchical meta-tokens are available with the gain strategies only", nameof(options));
        for (int i = 0; i < ids.Length; i++)
            if ((uint)ids[i] >= (uint)baseVocabularySize)
                throw new ArgumentOutOfRangeException(nameof(ids), ids[i], $"token id {ids[i]} at position {i} is outside the base vocabulary (0..{baseVocabularySize - 1})");

        var text = ids.ToArray();
        var index = new RepeatIndex(text);
        progress?.Report(0.3);
        // One candidate list serves gain and Greedy: Greedy's candidates are among gain's, as its
        // maximum length is the smaller.
        int greedyMaxLength = options.MaxRunLength ?? MetaTokenOptions.DefaultGreedyMaxRunLength;
        var candidates = RepeatCandidates.Collect(index, maxLength);
        if (options.Strategy == MetaTokenStrategy.Greedy)
        {
            var (definitions, body) = GreedySelection.Compress(candidates, maxLength, baseVocabularySize);
            return new MetaTokenSequence(baseVocabularySize, [.. definitions], body, owned: true);
        }

        var flat = CompressGain(candidates, baseVocabularySize);
        if (options.Strategy == MetaTokenStrategy.Gain)
        {
            // The guard: on small, irregular inputs a different choice of runs can happen to save a
            // token or two more; never return more tokens than the paper's procedure would.
            var (greedyDefinitions, greedyBody) = GreedySelection.Compress(candidates, greedyMaxLength, baseVocabularySize);
            var greedy = new MetaTokenSequence(baseVocabularySize, [.. greedyDefinitions], greedyBody, owned: true);
            if (greedy.OutputTokenCount < flat.OutputTokenCount)
                flat = greedy;
        }
        progress?.Report(options.Hierarchical ? 0.7 : 1);
        var result = options.Hierarchical ? Hierarchy.Deepen(flat, maxLength) : flat;
        // The dictionary's two delimiters are paid once: a dictionary saving less is not worth it.
        return result.OutputTokenCount < text.Length ? result : new MetaTokenSequence(baseVocabularySize, [], text, owned: true);
    }

    /// <summary>
    /// Gain selection, then the shortest body for those runs by dynamic programming, dropping runs
    /// that stop paying. Definitions are numbered by first use in the body.
    /// </summary>
    internal static MetaTokenSequence CompressGain(RepeatCandidates candidates, int metaBase)
    {
        var runs = GainSelection.Select(candidates);
        var active = new bool[runs.Count];
        Array.Fill(active, true);
        var body = new OptimalParse(candidates.Index, runs).ParseAndPrune(metaBase, active);
        return Renumber(candidates.Index, runs, body, metaBase);
    }

    /// <summary>
    /// Gives the runs used in <paramref name="body"/> (written as <c>metaBase + r</c>) consecutive
    /// meta-token ids from <paramref name="metaBase"/> in order of first use; unused runs get none.
    /// </summary>
    private static MetaTokenSequence Renumber(RepeatIndex index, List<RepeatedRun> runs, int[] body, int metaBase)
    {
        var newId = new int[runs.Count];
        Array.Fill(newId, -1);
        var definitions = new List<int[]>();
        for (int i = 0; i < body.Length; i++)
        {
            int r = body[i] - metaBase;
            if (r < 0)
                continue;
            if (newId[r] < 0)
            {
                newId[r] = definitions.Count;
                var run = runs[r];
                definitions.Add(index.Text.AsSpan(index.Sa[run.Lb], run.Length).ToArray());
            }
            body[i] = metaBase + newId[r];
        }
        return new MetaTokenSequence(metaBase, [.. definitions], body, owned: true);
    }
}
