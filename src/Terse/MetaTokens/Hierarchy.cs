namespace Terse.MetaTokens;

/// <summary>
/// Hierarchical meta-tokens: after the flat dictionary is built, the body and all definitions are
/// compressed together again, so a new meta-token may stand for a run containing meta-tokens and
/// may be used inside other definitions. Each round: gain selection and optimal parse over
/// <c>body ‖ def₀ ‖ def₁ …</c> (joined by separators that occur once, so no run spans two parts),
/// then meta-tokens that stopped paying are inlined, then ids are renumbered so that a definition
/// only refers to earlier ids. A round is kept only if it lowers the total token count.
/// </summary>
internal static class Hierarchy
{
    private const int MaxRounds = 16;

    public static MetaTokenSequence Deepen(MetaTokenSequence sequence, int maxLength)
    {
        for (int round = 0; round < MaxRounds; round++)
        {
            var next = Round(sequence, maxLength);
            if (next is null || next.OutputTokenCount >= sequence.OutputTokenCount)
                break;
            sequence = next;
        }
        return sequence;
    }

    private static MetaTokenSequence? Round(MetaTokenSequence sequence, int maxLength)
    {
        int baseSize = sequence.BaseVocabularySize;
        int metaCount = sequence.Definitions.Count;
        int separatorBase = baseSize + metaCount;
        int runBase = separatorBase + metaCount;

        var joined = new List<int>(sequence.Body.Length + sequence.DictionaryTokenCount);
        joined.AddRange(sequence.Body);
        for (int k = 0; k < metaCount; k++)
        {
            joined.Add(separatorBase + k);
            joined.AddRange(sequence.Definitions[k]);
        }
        var index = new RepeatIndex(joined.ToArray());
        var runs = GainSelection.Select(index, maxLength);
        if (runs.Count == 0)
            return null;
        var active = new bool[runs.Count];
        Array.Fill(active, true);
        var parsed = new OptimalParse(index, runs).ParseAndPrune(runBase, active);

        // Split the parse back into body and definitions; runs become meta-tokens after the old ones.
        var newId = new int[runs.Count];
        Array.Fill(newId, -1);
        var definitions = new List<int[]>(sequence.Definitions.Count);
        var newDefinitions = new List<int[]>();
        var part = new List<int>();
        int[]? body = null;
        foreach (int symbol in parsed)
        {
            if (symbol >= separatorBase && symbol < runBase)
            {
                Close();
                continue;
            }
            if (symbol >= runBase)
            {
                int r = symbol - runBase;
                if (newId[r] < 0)
                {
                    newId[r] = metaCount + newDefinitions.Count;
                    var run = runs[r];
                    newDefinitions.Add(index.Text.AsSpan(index.Sa[run.Lb], run.Length).ToArray());
                }
                part.Add(baseSize + newId[r]);
            }
            else
            {
                part.Add(symbol);
            }
        }
        Close();
        definitions.AddRange(newDefinitions);
        return InlineAndOrder(baseSize, definitions, body!);

        void Close()
        {
            if (body is null)
                body = [.. part];
            else
                definitions.Add([.. part]);
            part.Clear();
        }
    }

    /// <summary>
    /// Inlines every meta-token whose uses no longer pay for its definition (u uses of a definition
    /// of L symbols cost u + 1 + L kept, u·L inlined), then numbers the rest so that definitions
    /// refer only to earlier ids. Meta-tokens are visited after everything their definition uses,
    /// each decision made with the current use counts, so no step raises the total.
    /// </summary>
    private static MetaTokenSequence InlineAndOrder(int baseSize, List<int[]> definitions, int[] body)
    {
        int count = definitions.Count;
        var order = DependenciesFirst(baseSize, definitions);
        var uses = new long[count];
        foreach (int id in body)
            if (id >= baseSize) uses[id - baseSize]++;
        foreach (var d in definitions)
            foreach (int id in d)
                if (id >= baseSize) uses[id - baseSize]++;

        var resolved = new int[count][];
        var inlined = new bool[count];
        foreach (int k in order)
        {
            var d = Substitute(definitions[k], baseSize, resolved, inlined);
            long u = uses[k], length = d.Length;
            if (u * length <= u + 1 + length)
            {
                inlined[k] = true;
                foreach (int id in d)
                    if (id >= baseSize) uses[id - baseSize] += u - 1;
            }
            resolved[k] = d;
        }

        var newId = new int[count];
        var kept = new List<int[]>();
        foreach (int k in order)
        {
            if (inlined[k])
                continue;
            newId[k] = kept.Count;
            kept.Add(resolved[k]);
        }
        foreach (var d in kept)
            Rename(d, baseSize, newId);
        var newBody = Substitute(body, baseSize, resolved, inlined);
        Rename(newBody, baseSize, newId);
        return new MetaTokenSequence(baseSize, [.. kept], newBody, owned: true);
    }

    private static int[] Substitute(int[] ids, int baseSize, int[][] resolved, bool[] inlined)
    {
        var result = new List<int>(ids.Length);
        foreach (int id in ids)
        {
            if (id >= baseSize && inlined[id - baseSize])
                result.AddRange(resolved[id - baseSize]);
            else
                result.Add(id);
        }
        return [.. result];
    }

    private static void Rename(int[] ids, int baseSize, int[] newId)
    {
        for (int i = 0; i < ids.Length; i++)
            if (ids[i] >= baseSize)
                ids[i] = baseSize + newId[ids[i] - baseSize];
    }

    /// <summary>A topological order of the meta-tokens: each after the ones its definition uses (Kahn).</summary>
    private static List<int> DependenciesFirst(int baseSize, List<int[]> definitions)
    {
        int count = definitions.Count;
        var pending = new int[count];      // distinct meta-tokens k's definition still waits for
        var users = new List<int>[count];  // definitions that use k
        for (int k = 0; k < count; k++)
        {
            foreach (int id in definitions[k].Where(id => id >= baseSize).Distinct())
            {
                (users[id - baseSize] ??= []).Add(k);
                pending[k]++;
            }
        }
        var order = new List<int>(count);
        var ready = new Queue<int>(Enumerable.Range(0, count).Where(k => pending[k] == 0));
        while (ready.Count > 0)
        {
            int k = ready.Dequeue();
            order.Add(k);
            if (users[k] is null)
                continue;
            foreach (int user in users[k])
                if (--pending[user] == 0)
                    ready.Enqueue(user);
        }
        if (order.Count != count)
            throw new InvalidOperationException("meta-token definitions refer to each other in a cycle");
        return order;
    }
}
