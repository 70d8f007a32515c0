namespace Terse.MetaTokens;

/// <summary>How runs are chosen to become meta-tokens.</summary>
public enum MetaTokenStrategy
{
    /// <summary>
    /// Terse's strategy, the default: runs in order of tokens saved with re-counting, the shortest
    /// body for that dictionary by dynamic programming (dropping runs that stop paying), refinement
    /// rounds over the body that recover long repeats cut by short frequent runs, and a guard:
    /// the paper's Greedy is run on the same suffix array and kept if it is shorter.
    /// </summary>
    Gain,

    /// <summary>Gain in one pass: no refinement rounds and no Greedy guard. Faster, a few percent longer output.</summary>
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
        if (options.Strategy == MetaTokenStrategy.Greedy)
        {
            var (definitions, body) = GreedySelection.Compress(index, maxLength, baseVocabularySize);
            return new MetaTokenSequence(baseVocabularySize, [.. definitions], body, owned: true);
        }

        bool thorough = options.Strategy == MetaTokenStrategy.Gain;
        var flat = CompressGain(index, baseVocabularySize, maxLength, thorough ? MaxFlatRounds : 0);
        if (thorough)
        {
            // The guard: on small, irregular inputs a different choice of runs can happen to save a
            // token or two more; never return more tokens than the paper's procedure would.
            var (greedyDefinitions, greedyBody) = GreedySelection.Compress(index, options.MaxRunLength ?? MetaTokenOptions.DefaultGreedyMaxRunLength, baseVocabularySize);
            var greedy = new MetaTokenSequence(baseVocabularySize, [.. greedyDefinitions], greedyBody, owned: true);
            if (greedy.OutputTokenCount < flat.OutputTokenCount)
                flat = greedy;
        }
        progress?.Report(options.Hierarchical ? 0.7 : 1);
        var result = options.Hierarchical ? Hierarchy.Deepen(flat, maxLength) : flat;
        // The dictionary's two delimiters are paid once: a dictionary saving less is not worth it.
        return result.OutputTokenCount < text.Length ? result : new MetaTokenSequence(baseVocabularySize, [], text, owned: true);
    }

    internal const int MaxFlatRounds = 8;

    /// <summary>
    /// Gain selection, optimal parse and pruning; then refinement rounds. Choosing the largest
    /// saving first can take a short frequent run (" of the") that cuts through longer repeats;
    /// a round selects again over the current body, where those long repeats show up as runs of
    /// symbols. A new run is still defined flat (in base tokens), so its entry costs 1 + its
    /// expanded length. The round parses the body with the new runs, then writes back in full any
    /// old meta-token that no longer pays for its entry; it is kept only if the total shrinks.
    /// Last, the original is parsed once more, optimally, with every run kept.
    /// Definitions are numbered by first use in the body.
    /// </summary>
    internal static MetaTokenSequence CompressGain(RepeatIndex index, int metaBase, int maxLength, int rounds = MaxFlatRounds)
    {
        var runs = GainSelection.Select(index, maxLength);
        var body = ParseAndPrune(index, ref runs, metaBase);
        long cost = FlatCost(body, runs);
        for (int round = 0; round < rounds && runs.Count > 0; round++)
        {
            var next = RefineOnce(index, runs, body, metaBase, maxLength);
            if (next is null)
                break;
            long nextCost = FlatCost(next.Value.Body, next.Value.Runs);
            if (nextCost >= cost)
                break;
            bool small = cost - nextCost < cost / 100;
            (runs, body, cost) = (next.Value.Runs, next.Value.Body, nextCost);
            if (small)
                break; // another round would not find much more
        }
        if (runs.Count > 0)
            body = ParseAndPrune(index, ref runs, metaBase);
        return Renumber(index, runs, body, metaBase, metaBase);
    }

    /// <summary>One refinement round over the body; null when it finds nothing.</summary>
    private static (List<RepeatedRun> Runs, int[] Body)? RefineOnce(RepeatIndex index, List<RepeatedRun> runs, int[] body, int metaBase, int maxLength)
    {
        var bodyIndex = new RepeatIndex(body);
        var found = GainSelection.Select(bodyIndex, maxLength, symbol => symbol < metaBase ? 1 : runs[symbol - metaBase].Length);
        if (found.Count == 0)
            return null;

        // Flat definitions of the new runs, and where they occur in the original.
        var allRuns = new List<RepeatedRun>(runs);
        var costs = new long[found.Count];
        var pattern = new List<int>();
        for (int f = 0; f < found.Count; f++)
        {
            pattern.Clear();
            foreach (int symbol in bodyIndex.Text.AsSpan(bodyIndex.Sa[found[f].Lb], found[f].Length))
                AppendExpanded(index, runs, symbol, metaBase, pattern);
            var (lb, rb) = index.Find(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(pattern));
            allRuns.Add(new RepeatedRun(lb, rb, pattern.Count));
            costs[f] = 1 + pattern.Count;
        }
        var active = new bool[found.Count];
        Array.Fill(active, true);
        int newBase = metaBase + runs.Count;
        var parsed = new OptimalParse(bodyIndex, found).ParseAndPrune(newBase, active, costs);

        // Old meta-tokens whose remaining uses no longer pay are written back out.
        var uses = new long[allRuns.Count];
        foreach (int symbol in parsed)
            if (symbol >= metaBase)
                uses[symbol - metaBase]++;
        var keep = new bool[allRuns.Count];
        for (int r = 0; r < allRuns.Count; r++)
            keep[r] = r < runs.Count ? GainSelection.Saving(uses[r], allRuns[r].Length) > 0 : active[r - runs.Count];
        var newId = new int[allRuns.Count];
        var kept = new List<RepeatedRun>();
        for (int r = 0; r < allRuns.Count; r++)
        {
            if (!keep[r])
                continue;
            newId[r] = kept.Count;
            kept.Add(allRuns[r]);
        }
        var newBody = new List<int>(parsed.Length);
        foreach (int symbol in parsed)
        {
            if (symbol < metaBase)
                newBody.Add(symbol);
            else if (keep[symbol - metaBase])
                newBody.Add(metaBase + newId[symbol - metaBase]);
            else
                AppendExpanded(index, runs, symbol, metaBase, newBody);
        }
        return (kept, newBody.ToArray());
    }

    private static void AppendExpanded(RepeatIndex index, List<RepeatedRun> runs, int symbol, int metaBase, List<int> output)
    {
        if (symbol < metaBase)
        {
            output.Add(symbol);
            return;
        }
        var run = runs[symbol - metaBase];
        output.AddRange(index.Text.AsSpan(index.Sa[run.Lb], run.Length));
    }

    /// <summary>Optimal parse with pruning; keeps only the runs still used (body ids renumbered to match).</summary>
    private static int[] ParseAndPrune(RepeatIndex index, ref List<RepeatedRun> runs, int metaBase)
    {
        var active = new bool[runs.Count];
        Array.Fill(active, true);
        var body = new OptimalParse(index, runs).ParseAndPrune(metaBase, active);
        var newIndex = new int[runs.Count];
        var kept = new List<RepeatedRun>();
        for (int r = 0; r < runs.Count; r++)
        {
            if (!active[r])
                continue;
            newIndex[r] = kept.Count;
            kept.Add(runs[r]);
        }
        for (int i = 0; i < body.Length; i++)
            if (body[i] >= metaBase)
                body[i] = metaBase + newIndex[body[i] - metaBase];
        runs = kept;
        return body;
    }

    private static long FlatCost(int[] body, List<RepeatedRun> runs) => body.Length + runs.Sum(r => 1L + r.Length);

    /// <summary>
    /// Gives the runs used in <paramref name="body"/> (written as <c>runBase + r</c>) consecutive
    /// meta-token ids from <paramref name="metaBase"/> in order of first use.
    /// </summary>
    private static MetaTokenSequence Renumber(RepeatIndex index, List<RepeatedRun> runs, int[] body, int runBase, int metaBase)
    {
        var newId = new int[runs.Count];
        Array.Fill(newId, -1);
        var definitions = new List<int[]>();
        for (int i = 0; i < body.Length; i++)
        {
            int r = body[i] - runBase;
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
