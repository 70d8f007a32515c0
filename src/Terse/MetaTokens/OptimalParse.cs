namespace Terse.MetaTokens;

/// <summary>
/// The "gain" strategy, step 2: for a fixed set of runs, the shortest body is a shortest path over
/// positions (an edge of length 1 for a literal symbol, one of length L for each run occurring at a
/// position), found exactly by dynamic programming. Runs whose uses in that body no longer pay for
/// their definition are dropped and the body re-parsed, until every remaining run pays: each step
/// leaves the total (body + dictionary) no larger, so the result is never worse than the
/// replacements the selection made.
/// </summary>
internal sealed class OptimalParse
{
    private readonly int[] text;
    private readonly int[] runLength;
    private readonly int[] edgeStart; // CSR: runs occurring at position p are edges[edgeStart[p + 1]..edgeStart[p + 2])
    private readonly int[] edges;

    public OptimalParse(RepeatIndex index, IReadOnlyList<RepeatedRun> runs)
    {
        text = index.Text;
        runLength = [.. runs.Select(r => r.Length)];
        int n = text.Length;
        // Count at p + 1, sum to block ends, then fill each block from its end: afterwards
        // edgeStart[p + 1] is where p's block starts and edgeStart[p + 2] where it ends.
        edgeStart = new int[n + 2];
        var sa = index.Sa;
        foreach (var run in runs)
            for (int i = run.Lb; i <= run.Rb; i++)
                edgeStart[sa[i] + 1]++;
        for (int p = 1; p <= n + 1; p++)
            edgeStart[p] += edgeStart[p - 1];
        edges = new int[edgeStart[n + 1]];
        for (int r = 0; r < runs.Count; r++)
            for (int i = runs[r].Lb; i <= runs[r].Rb; i++)
                edges[--edgeStart[sa[i] + 1]] = r;
    }

    /// <summary>
    /// Parses with the runs that pay for themselves. Returns the body with run r written as
    /// <c>metaBase + r</c>, and sets <paramref name="active"/>[r] to whether run r is used.
    /// </summary>
    /// <param name="definitionCosts">
    /// Tokens each run's dictionary entry costs; null: 1 + its length (a run of plain tokens).
    /// </param>
    public int[] ParseAndPrune(int metaBase, bool[] active, long[]? definitionCosts = null)
    {
        int runCount = runLength.Length;
        var uses = new int[runCount];
        var cost = new int[text.Length + 1];
        var choice = new int[text.Length];
        while (true)
        {
            ShortestParse(active, cost, choice);
            Array.Clear(uses);
            int bodyLength = 0;
            for (int p = 0; p < text.Length; bodyLength++)
            {
                int r = choice[p];
                if (r < 0)
                {
                    p++;
                }
                else
                {
                    uses[r]++;
                    p += runLength[r];
                }
            }
            bool dropped = false;
            for (int r = 0; r < runCount; r++)
            {
                long definitionCost = definitionCosts?[r] ?? 1 + runLength[r];
                if (active[r] && GainSelection.Saving(uses[r], runLength[r], definitionCost) <= 0)
                {
                    active[r] = false;
                    dropped = true;
                }
            }
            if (!dropped)
                return WriteBody(choice, bodyLength, metaBase);
        }
    }

    /// <summary>choice[p] = run to use at p on a shortest parse of the suffix from p, or −1 for a literal.</summary>
    private void ShortestParse(bool[] active, int[] cost, int[] choice)
    {
        int n = text.Length;
        cost[n] = 0;
        for (int p = n - 1; p >= 0; p--)
        {
            int best = cost[p + 1] + 1;
            int bestRun = -1;
            int bestLength = 1;
            for (int e = edgeStart[p + 1], end = edgeStart[p + 2]; e < end; e++)
            {
                int r = edges[e];
                if (!active[r])
                    continue;
                int length = runLength[r];
                int c = cost[p + length] + 1;
                // On a tie prefer the run (then the longer one): more uses keep a run worth its definition.
                if (c < best || (c == best && length > bestLength))
                {
                    best = c;
                    bestRun = r;
                    bestLength = length;
                }
            }
            cost[p] = best;
            choice[p] = bestRun;
        }
    }

    private int[] WriteBody(int[] choice, int bodyLength, int metaBase)
    {
        var body = new int[bodyLength];
        int at = 0;
        for (int p = 0; p < text.Length;)
        {
            int r = choice[p];
            if (r < 0)
            {
                body[at++] = text[p++];
            }
            else
            {
                body[at++] = metaBase + r;
                p += runLength[r];
            }
        }
        return body;
    }
}
