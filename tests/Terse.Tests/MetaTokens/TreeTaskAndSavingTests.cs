using Terse.MetaTokens;

namespace Terse.Tests.MetaTokens;

public class TreeTaskAndSavingTests
{
    /// <summary>Rebuilds the tree from its text: a node's parent is the nearest line above with one '+' fewer.</summary>
    private static Dictionary<string, string?> Parents(string tree)
    {
        var parents = new Dictionary<string, string?>();
        var lastAtDepth = new List<string>();
        foreach (var line in tree.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            int depth = line.TakeWhile(c => c == '+').Count();
            string name = line[depth..];
            Assert.Matches("^[A-Z]{2}$", name);
            Assert.True(depth <= lastAtDepth.Count, $"depth jumps by more than one at {line}");
            parents.Add(name, depth == 0 ? null : lastAtDepth[depth - 1]);
            if (lastAtDepth.Count > depth)
                lastAtDepth.RemoveRange(depth, lastAtDepth.Count - depth);
            lastAtDepth.Add(name);
        }
        return parents;
    }

    [Fact]
    public void TreeTaskTextEncodesATreeAndTheAnswerIsRight()
    {
        int yes = 0;
        for (int seed = 0; seed < 300; seed++)
        {
            var sample = TreeTask.Generate(seed, nodeCount: 20 + seed % 80, maxDepth: 3 + seed % 6);
            var parents = Parents(sample.Tree);
            Assert.Equal(20 + seed % 80, parents.Count);
            Assert.Single(parents.Values, p => p is null);
            var match = System.Text.RegularExpressions.Regex.Match(sample.Question, "is ([A-Z]{2}) a direct child of ([A-Z]{2})\\?");
            Assert.True(match.Success, sample.Question);
            string child = match.Groups[1].Value, parent = match.Groups[2].Value;
            Assert.Equal(parents[child] == parent, sample.Answer);
            yes += sample.Answer ? 1 : 0;
        }
        Assert.InRange(yes, 100, 200);
        Assert.Equal(TreeTask.Generate(7).Prompt, TreeTask.Generate(7).Prompt);
        Assert.NotEqual(TreeTask.Generate(7).Prompt, TreeTask.Generate(8).Prompt);
    }

    [Fact]
    public void AttentionSavingFollowsThePaperAndTheFlopCount()
    {
        var saving = new AttentionSaving(1000, 730);
        Assert.Equal(1 - 0.73 * 0.73, saving.AttentionOnly, 12);
        Assert.Equal(0.27, saving.LengthSaving, 12);

        // A one-layer toy shape, counted by hand: d=4, h=8, 2 heads, vocab 10, gated feed-forward.
        var shape = new TransformerShape(Dim: 4, Layers: 1, HiddenDim: 8, Heads: 2, VocabularySize: 10);
        var flops = shape.ForwardFlops(3);
        double perToken = 2 * (4 * 4 * 4 + 3 * 4 * 8 + 4 * 10);
        Assert.Equal(3 * perToken, flops.Linear, 9);
        Assert.Equal(2 * 2 * 6 * 4, flops.Quadratic, 9); // 6 causal pairs, QK and AV, 4 MACs each

        // Savings sit between the linear share (1 − L'/L) and the attention-only share.
        double full = saving.FlopSaving(TransformerShape.Llama2_7B);
        Assert.InRange(full, saving.LengthSaving, saving.AttentionOnly);
        var longer = new AttentionSaving(100_000, 73_000);
        Assert.True(longer.FlopSaving(TransformerShape.Llama2_7B) > full);
        Assert.Throws<ArgumentException>(() => new TransformerShape(4, 1, 8, 3, 10).ForwardFlops(1));
    }
}
