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
    public int[] ParseAndPrune(int metaBase, bool[] active)
    {
        int n = text.Length;
        int runCount = runLength.Length;
        var uses = new int[runCount];
        var activeLength = new int[runCount]; // 0 for a dropped run: one look-up per edge
        for (int r = 0; r < runCount; r++)
            activeLength[r] = active[r] ? runLength[r] : 0;
        var cost = new int[n + 1];
        var choice = new int[n];
        var body = new int[n];
        while (true)
        {
            ShortestParse(activeLength, cost, choice);
            int bodyLength = WriteBody(choice, body, metaBase, uses);
            bool dropped = false;
            for (int r = 0; r < runCount; r++)
            {
                if (active[r] && GainSelection.Saving(uses[r], runLength[r]) <= 0)
                {
                    active[r] = false;
                    activeLength[r] = 0;
                    dropped = true;
                }
            }
            if (!dropped)
                return body.AsSpan(0, bodyLength).ToArray();
        }
    }

    /// <summary>choice[p] = run to use at p on a shortest parse of the suffix from p, or −1 for a literal.</summary>
    private unsafe void ShortestParse(int[] activeLength, int[] costs, int[] choices)
    {
        int n = text.Length;
        fixed (int* cost = costs, choice = choices, start = edgeStart, edge = edges, length = activeLength)
        {
            cost[n] = 0;
            for (int p = n - 1; p >= 0; p--)
            {
                // Order: fewer symbols; on a tie the run, then the longer one (more uses keep a run
                // worth its definition); one key, (cost << 32) − length, compares all three.
                long best = ((long)(cost[p + 1] + 1) << 32) - 1;
                int bestRun = -1;
                for (int e = start[p + 1], end = start[p + 2]; e < end; e++)
                {
                    int r = edge[e];
                    int l = length[r];
                    if (l == 0)
                        continue;
                    long key = ((long)(cost[p + l] + 1) << 32) - l;
                    if (key < best)
                    {
                        best = key;
                        bestRun = r;
                    }
                }
                cost[p] = (int)((best + int.MaxValue) >> 32);
                choice[p] = bestRun;
            }
        }
    }

    /// <summary>Writes the body the choices give and counts each run's uses; returns the body length.</summary>
    private int WriteBody(int[] choice, int[] body, int metaBase, int[] uses)
    {
        Array.Clear(uses);
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
                uses[r]++;
                body[at++] = metaBase + r;
                p += runLength[r];
            }
        }
        return at;
    }
}
