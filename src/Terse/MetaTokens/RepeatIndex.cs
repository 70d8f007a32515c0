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

    /// <summary>The suffix-array interval of the suffixes starting with <paramref name="pattern"/> (empty: Lb &gt; Rb).</summary>
    public (int Lb, int Rb) Find(ReadOnlySpan<int> pattern)
    {
        int lo = 0, hi = Sa.Length;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (ComparePrefix(Sa[mid], pattern) < 0) lo = mid + 1;
            else hi = mid;
        }
        int lb = lo;
        hi = Sa.Length;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (ComparePrefix(Sa[mid], pattern) <= 0) lo = mid + 1;
            else hi = mid;
        }
        return (lb, lo - 1);
    }

    /// <summary>Compares the suffix at <paramref name="start"/>, cut to the pattern's length, with the pattern.</summary>
    private int ComparePrefix(int start, ReadOnlySpan<int> pattern)
    {
        var suffix = Text.AsSpan(start);
        int common = Math.Min(suffix.Length, pattern.Length);
        int c = suffix[..common].SequenceCompareTo(pattern[..common]);
        return c != 0 ? c : suffix.Length < pattern.Length ? -1 : 0;
    }

    public interface INodeVisitor
    {
        /// <param name="leftDiverse">
        /// False when every occurrence is preceded by the same symbol: the node's string then
        /// always extends one symbol to the left, and that longer string is a node of its own.
        /// </param>
        void Visit(int lb, int rb, int depth, int parentDepth, bool leftDiverse);
    }

    private const int NoSymbol = -1;
    private const int Diverse = -2;

    /// <summary>Visits every internal node of depth ≥ 1, children before parents (bottom-up).</summary>
    public void VisitNodes<TVisitor>(ref TVisitor visitor) where TVisitor : struct, INodeVisitor
    {
        int n = Text.Length;
        if (n < 2)
            return;
        var text = Text;
        var sa = Sa;
        var lcp = Lcp;
        var depth = new int[n + 1];
        var lbs = new int[n + 1];
        var left = new int[n + 1];
        int top = 0;
        depth[0] = 0;
        lbs[0] = 0;
        left[0] = NoSymbol;
        for (int i = 1; i <= n; i++)
        {
            int leaf = sa[i - 1];
            // A suffix at position 0 has no left symbol: it differs from every other occurrence.
            int leafLeft = leaf > 0 ? text[leaf - 1] : Diverse;
            left[top] = Combine(left[top], leafLeft);
            int current = i < n ? lcp[i] : 0;
            int lb = i - 1;
            int carried = leafLeft;
            while (current < depth[top])
            {
                int nodeDepth = depth[top], nodeLb = lbs[top], nodeLeft = left[top];
                top--;
                int parentDepth = Math.Max(current, depth[top]);
                visitor.Visit(nodeLb, i - 1, nodeDepth, parentDepth, nodeLeft == Diverse);
                lb = nodeLb;
                if (current <= depth[top])
                    left[top] = Combine(left[top], nodeLeft);
                else
                    carried = nodeLeft;
            }
            if (current > depth[top])
            {
                top++;
                depth[top] = current;
                lbs[top] = lb;
                left[top] = carried;
            }
        }
    }

    private static int Combine(int a, int b) => a == NoSymbol ? b : b == NoSymbol ? a : a == b ? a : Diverse;
}
