using System.Text;

namespace Terse.MetaTokens;

/// <summary>One instance of the textualised-tree task: the tree, a question about it and its answer.</summary>
public sealed record TreeTaskSample(string Tree, string Question, bool Answer)
{
    /// <summary>The prompt a model sees (and that is compressed): the tree, then the question.</summary>
    public string Prompt => Tree + Question;
}

/// <summary>
/// The paper's first task, regenerated: a random rooted tree written one node a line, depth shown
/// by one '+' per level (a parent is the nearest line above with one '+' fewer), node names two
/// capital letters AA–ZZ, followed by a question whether a (parent, child) pair is a direct edge.
/// Half the questions are true edges; the other half pick a pair that is not one (often a
/// grandparent or a sibling, so the answer needs the structure, not the names). Seeded, so a
/// sample set is reproducible.
/// </summary>
public static class TreeTask
{
    public const int MaxNodes = 26 * 26;

    public static TreeTaskSample Generate(int seed, int nodeCount = 60, int maxDepth = 8)
    {
        if (nodeCount < 3 || nodeCount > MaxNodes)
            throw new ArgumentOutOfRangeException(nameof(nodeCount), nodeCount, $"a tree needs 3..{MaxNodes} nodes");
        if (maxDepth < 1)
            throw new ArgumentOutOfRangeException(nameof(maxDepth), maxDepth, "the depth limit must be at least 1");
        var random = new Random(seed);

        // Distinct names in random order.
        var names = new string[MaxNodes];
        for (int i = 0; i < MaxNodes; i++)
            names[i] = $"{(char)('A' + i / 26)}{(char)('A' + i % 26)}";
        random.Shuffle(names);

        // Random recursive tree: each new node hangs under a random earlier node that is not at the depth limit.
        var parent = new int[nodeCount];
        var depth = new int[nodeCount];
        var children = Enumerable.Range(0, nodeCount).Select(_ => new List<int>()).ToArray();
        parent[0] = -1;
        for (int v = 1; v < nodeCount; v++)
        {
            int p;
            do p = random.Next(v);
            while (depth[p] >= maxDepth);
            parent[v] = p;
            depth[v] = depth[p] + 1;
            children[p].Add(v);
        }

        var tree = new StringBuilder();
        var stack = new Stack<int>();
        stack.Push(0);
        while (stack.Count > 0)
        {
            int v = stack.Pop();
            tree.Append('+', depth[v]).Append(names[v]).Append('\n');
            for (int i = children[v].Count - 1; i >= 0; i--)
                stack.Push(children[v][i]);
        }

        bool answer = random.Next(2) == 0;
        int a, b;
        if (answer)
        {
            b = 1 + random.Next(nodeCount - 1);
            a = parent[b];
        }
        else
        {
            do
            {
                b = 1 + random.Next(nodeCount - 1);
                a = random.Next(3) switch
                {
                    0 when parent[b] > 0 => parent[parent[b]],                                   // grandparent
                    1 when parent[b] >= 0 && children[parent[b]].Count > 1 => children[parent[b]][random.Next(children[parent[b]].Count)], // sibling
                    _ => random.Next(nodeCount),
                };
            }
            while (a == b || parent[b] == a);
        }
        var question = $"Question: is {names[b]} a direct child of {names[a]}? Answer yes or no.\n";
        return new TreeTaskSample(tree.ToString(), question, answer);
    }
}
