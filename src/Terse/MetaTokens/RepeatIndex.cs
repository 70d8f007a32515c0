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
        void Visit(int lb, int rb, int depth, int parentDepth);
    }

    /// <summary>Visits every internal node of depth ≥ 1, children before parents (bottom-up).</summary>
    public void VisitNodes<TVisitor>(ref TVisitor visitor) where TVisitor : struct, INodeVisitor
    {
        int n = Text.Length;
        if (n < 2)
            return;
        var lcp = Lcp;
        // The stack holds one entry per open interval (at most n + 1, usually a few dozen).
        int capacity = Math.Min(n + 1, 1024);
        var depth = new int[capacity];
        var lbs = new int[capacity];
        int top = 0;
        for (int i = 1; i <= n; i++)
        {
            int current = i < n ? lcp[i] : 0;
            int lb = i - 1;
            while (current < depth[top])
            {
                int nodeDepth = depth[top], nodeLb = lbs[top];
                top--;
                visitor.Visit(nodeLb, i - 1, nodeDepth, Math.Max(current, depth[top]));
                lb = nodeLb;
            }
            if (current > depth[top])
            {
                if (++top == depth.Length)
                {
                    Array.Resize(ref depth, depth.Length * 2);
                    Array.Resize(ref lbs, lbs.Length * 2);
                }
                depth[top] = current;
                lbs[top] = lb;
            }
        }
    }
}
