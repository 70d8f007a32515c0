namespace Terse.MetaTokens;

/// <summary>
/// The repeats of a symbol sequence, read off its suffix array: every internal node of the
/// (implicit) suffix tree is an LCP interval <c>[Lb, Rb]</c> of the suffix array whose suffixes
/// share a prefix of <c>Depth</c> symbols and branch after it. Its strings are the prefixes of
/// lengths <c>ParentDepth+1 .. Depth</c>, each occurring (possibly overlapping) at
/// <c>Sa[Lb..Rb]</c>.
/// </summary>
internal sealed class RepeatIndex
{
    public RepeatIndex(int[] text)
    {
        Text = text;
        Sa = SuffixArray.Build(text);
        Lcp = SuffixArray.BuildLcp(text, Sa);
    }

    public int[] Text { get; }
    public int[] Sa { get; }
    public int[] Lcp { get; }

    public interface INodeVisitor
    {
        /// <param name="first">The smallest of the node's positions <c>Sa[lb..rb]</c> (its first occurrence).</param>
        void Visit(int lb, int rb, int depth, int parentDepth, int first);
    }

    /// <summary>Visits every internal node of depth ≥ 1, children before parents (bottom-up).</summary>
    public void VisitNodes<TVisitor>(ref TVisitor visitor) where TVisitor : struct, INodeVisitor
    {
        int n = Text.Length;
        if (n < 2)
            return;
        var lcp = Lcp;
        var sa = Sa;
        // The stack holds one entry per open interval (at most n + 1, usually a few dozen), with
        // the smallest position seen in it so far.
        int capacity = Math.Min(n + 1, 1024);
        var depth = new int[capacity];
        var lbs = new int[capacity];
        var firsts = new int[capacity];
        firsts[0] = int.MaxValue;
        int top = 0;
        for (int i = 1; i <= n; i++)
        {
            int current = i < n ? lcp[i] : 0;
            int lb = i - 1;
            // The smallest position of what ends here: suffix i − 1 and the intervals closed by it.
            int first = sa[i - 1];
            while (current < depth[top])
            {
                int nodeDepth = depth[top], nodeLb = lbs[top];
                first = Math.Min(first, firsts[top]);
                top--;
                visitor.Visit(nodeLb, i - 1, nodeDepth, Math.Max(current, depth[top]), first);
                lb = nodeLb;
            }
            if (current > depth[top])
            {
                if (++top == depth.Length)
                {
                    Array.Resize(ref depth, depth.Length * 2);
                    Array.Resize(ref lbs, lbs.Length * 2);
                    Array.Resize(ref firsts, firsts.Length * 2);
                }
                depth[top] = current;
                lbs[top] = lb;
                firsts[top] = first;
            }
            else
            {
                firsts[top] = Math.Min(firsts[top], first);
            }
        }
    }
}
