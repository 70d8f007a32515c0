using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics.X86;

namespace Terse.MetaTokens;

/// <summary>
/// The suffix-tree nodes worth considering as runs, collected in one pass over the LCP array and
/// shared by the gain selection and by Greedy (gain's guard runs on the same candidates). A node
/// is kept when its strings, cut to <see cref="MaxLength"/>, can save a token: (K−1)(L−1) − 2 &gt; 0
/// at its longest length L with K occurrences; that is the paper's N·K &gt; 1 + N + K, so Greedy
/// finds all of its candidates here too (with a maximum length up to this one).
/// Occurrence lists: when a node's first symbol does not recur within its string, no two
/// occurrences can overlap at any of its lengths and their order never matters, so they are read
/// straight from the suffix array; only the other nodes get a sorted copy.
/// </summary>
internal sealed class RepeatCandidates
{
    /// <summary>
    /// A suffix-tree node: its strings are the prefixes of lengths ParentDepth+1..Length of the
    /// suffixes Sa[Lb..Rb] (Length is the node depth, cut to the maximum); First is the smallest
    /// of those positions.
    /// </summary>
    public readonly record struct Node(int Lb, int Rb, int Length, int ParentDepth, int First)
    {
        public int Count => Rb - Lb + 1;

        /// <summary>No length of this node is shorter.</summary>
        public int ShortestLength => Math.Max(ParentDepth + 1, 2);
    }

    private readonly Node[] nodes;
    private readonly int[] sortedStart; // per node: where its sorted occurrences start in `sorted`, or −1 (read Sa)
    private readonly int[] sorted;

    private RepeatCandidates(RepeatIndex index, int maxLength, Node[] nodes, int count, int[] sortedStart, int[] sorted)
    {
        Index = index;
        MaxLength = maxLength;
        this.nodes = nodes;
        Count = count;
        this.sortedStart = sortedStart;
        this.sorted = sorted;
    }

    public RepeatIndex Index { get; }

    public int MaxLength { get; }

    public int Count { get; }

    public ref readonly Node this[int c] => ref nodes[c];

    /// <summary>True when occurrences of node <paramref name="c"/> may overlap; its positions are then sorted.</summary>
    public bool MayOverlap(int c) => sortedStart[c] >= 0;

    /// <summary>The occurrences of node <paramref name="c"/>: sorted when they may overlap, in suffix order otherwise.</summary>
    public ReadOnlySpan<int> Positions(int c)
    {
        ref readonly var node = ref nodes[c];
        int start = sortedStart[c];
        return start < 0 ? Index.Sa.AsSpan(node.Lb, node.Count) : sorted.AsSpan(start, node.Count);
    }

    /// <summary>
    /// Names node <paramref name="c"/>'s occurrence list in one int, for callers that keep many:
    /// the list is <see cref="Positions(int, int)"/> of the handle and the node's count.
    /// </summary>
    public int PositionsHandle(int c) => sortedStart[c] < 0 ? nodes[c].Lb : ~sortedStart[c];

    public ReadOnlySpan<int> Positions(int handle, int count) =>
        handle >= 0 ? Index.Sa.AsSpan(handle, count) : sorted.AsSpan(~handle, count);

    /// <summary>
    /// Asks the CPU to start loading an occurrence list that will be read soon: callers walk the
    /// candidates in an order unrelated to where their lists lie, so each list is a cache miss.
    /// </summary>
    public unsafe void Prefetch(int handle)
    {
        if (!Sse.IsSupported)
            return;
        ref int first = ref handle >= 0 ? ref Index.Sa[handle] : ref sorted[~handle];
        Sse.Prefetch0(Unsafe.AsPointer(ref first));
    }

    public static RepeatCandidates Collect(RepeatIndex index, int maxLength)
    {
        int n = index.Text.Length;
        int capacity = Math.Max(16, n / 4);
        var collector = new Collector
        {
            Text = index.Text,
            Sa = index.Sa,
            MaxLength = maxLength,
            Nodes = new Node[capacity],
            SortedStart = new int[capacity],
            Sorted = new int[Math.Max(16, n / 8)],
        };
        index.VisitNodes(ref collector);
        return new RepeatCandidates(index, maxLength, collector.Nodes, collector.Count, collector.SortedStart, collector.Sorted);
    }

    private struct Collector : RepeatIndex.INodeVisitor
    {
        public int[] Text;
        public int[] Sa;
        public int MaxLength;
        public Node[] Nodes;
        public int[] SortedStart;
        public int Count;
        public int[] Sorted;
        public int SortedCount;

        public void Visit(int lb, int rb, int depth, int parentDepth, int first)
        {
            if (parentDepth >= MaxLength)
                return; // its strings, cut to MaxLength, are those of an ancestor
            int length = Math.Min(depth, MaxLength);
            int k = rb - lb + 1;
            if (length < 2 || GainSelection.Saving(k, length) <= 0)
                return;
            if (Count == Nodes.Length)
            {
                Array.Resize(ref Nodes, Count * 2);
                Array.Resize(ref SortedStart, Count * 2);
            }
            // Occurrences at p and p + d (d < length) would put the string's first symbol at d.
            if (Text.AsSpan(first + 1, length - 1).Contains(Text[first]))
            {
                if (SortedCount + k > Sorted.Length)
                    Array.Resize(ref Sorted, Math.Max(Sorted.Length * 2, SortedCount + k));
                var positions = Sorted.AsSpan(SortedCount, k);
                Sa.AsSpan(lb, k).CopyTo(positions);
                SmallSort.Sort(positions);
                SortedStart[Count] = SortedCount;
                SortedCount += k;
            }
            else
            {
                SortedStart[Count] = -1;
            }
            Nodes[Count++] = new Node(lb, rb, length, parentDepth, first);
        }
    }
}
