using System.Runtime.Intrinsics.X86;

namespace Terse.MetaTokens;

/// <summary>
/// Suffix array by induced sorting (SA-IS, Nong–Zhang–Chan 2009), linear time over an integer
/// alphabet, plus the LCP array (Kasai et al. 2001). Token ids make a large, sparse alphabet, so
/// symbols are first renamed to dense ranks when that shrinks the bucket arrays.
/// </summary>
internal static class SuffixArray
{
    /// <summary>Suffix array of <paramref name="text"/>: the start positions of all suffixes in lexicographic order.</summary>
    public static int[] Build(ReadOnlySpan<int> text)
    {
        int n = text.Length;
        if (n == 0)
            return [];
        var dense = DenseSymbols(text, out int upper);
        return Sort(dense, upper);
    }

    /// <summary>
    /// <c>lcp[i]</c> = length of the longest common prefix of the suffixes at <c>sa[i-1]</c> and
    /// <c>sa[i]</c>; <c>lcp[0] = 0</c>. Computed in text order through the Φ array (Kärkkäinen,
    /// Manzini, Puglisi 2009): each suffix is compared with its predecessor in suffix order, and the
    /// common prefix shrinks by at most one from one text position to the next.
    /// </summary>
    public static unsafe int[] BuildLcp(ReadOnlySpan<int> text, int[] sa)
    {
        int n = text.Length;
        var lcp = new int[n];
        if (n == 0)
            return lcp;
        var phi = new int[n];
        fixed (int* t = text, suffixes = sa, previous = phi, result = lcp)
        {
            previous[suffixes[0]] = -1;
            for (int i = 1; i < n; i++)
                previous[suffixes[i]] = suffixes[i - 1];
            int h = 0;
            for (int i = 0; i < n; i++)
            {
                int j = previous[i];
                if (j < 0)
                {
                    previous[i] = 0;
                    h = 0;
                    continue;
                }
                int limit = n - Math.Max(i, j);
                while (h < limit && t[i + h] == t[j + h])
                    h++;
                previous[i] = h; // Φ is no longer needed at i: reuse it for the permuted LCP
                if (h > 0)
                    h--;
            }
            for (int i = 0; i < n; i++)
                result[i] = previous[suffixes[i]];
        }
        return lcp;
    }

    /// <summary>Maps symbols to 0..upper preserving order; a plain copy when the ids are already small.</summary>
    private static int[] DenseSymbols(ReadOnlySpan<int> text, out int upper)
    {
        int n = text.Length;
        int min = int.MaxValue, max = int.MinValue;
        foreach (int v in text)
        {
            if (v < min) min = v;
            if (v > max) max = v;
        }
        var result = new int[n];
        if ((long)max - min < 4L * n + 65536)
        {
            // Rank the symbols that occur: small buckets keep the induced sort in cache.
            var rank = new int[max - min + 1];
            for (int i = 0; i < n; i++)
                rank[text[i] - min] = 1;
            int next = 0;
            for (int v = 0; v < rank.Length; v++)
                rank[v] = rank[v] == 0 ? -1 : next++;
            for (int i = 0; i < n; i++)
                result[i] = rank[text[i] - min];
            upper = next - 1;
            return result;
        }
        var distinct = text.ToArray();
        Array.Sort(distinct);
        int count = 0;
        for (int i = 0; i < distinct.Length; i++)
            if (i == 0 || distinct[i] != distinct[i - 1])
                distinct[count++] = distinct[i];
        var sorted = distinct.AsSpan(0, count);
        for (int i = 0; i < n; i++)
            result[i] = sorted.BinarySearch(text[i]);
        upper = count - 1;
        return result;
    }

    /// <summary>SA-IS over symbols in [0, upper]; no sentinel is stored (it is implied past the end).</summary>
    private static int[] Sort(int[] s, int upper)
    {
        int n = s.Length;
        if (n == 1)
            return [0];
        if (n < 12)
            return SortNaive(s);

        var sa = new int[n];
        // Suffix i is S-type when it is smaller than suffix i+1, L-type otherwise; the last is
        // L-type because the implied sentinel is smaller than every symbol. The type is kept in the
        // sign bit of s[i]: the induced passes then read one array, not two, at each random position.
        for (int i = n - 2; i >= 0; i--)
        {
            int a = s[i], b = s[i + 1] & SymbolMask;
            if (a < b || (a == b && s[i + 1] < 0))
                s[i] = a | STypeBit;
        }

        // bucketStart[c]: first slot of bucket c; sStart[c]: first slot of bucket c's S-type part.
        var bucketStart = new int[upper + 2];
        var sStart = new int[upper + 1];
        for (int i = 0; i < n; i++)
        {
            if (s[i] < 0) bucketStart[(s[i] & SymbolMask) + 1]++;
            else sStart[s[i]]++;
        }
        for (int c = 0; c <= upper; c++)
        {
            sStart[c] += bucketStart[c];
            bucketStart[c + 1] += sStart[c];
        }
        // Now bucketStart[c] = number of symbols < c and sStart[c] = bucketStart[c] + (L-types of c).

        var lmsIndex = new int[n]; // position -> index among LMS positions, or -1
        int lmsCount = 0;
        lmsIndex[0] = -1;
        for (int i = 1; i < n; i++)
            lmsIndex[i] = s[i - 1] >= 0 && s[i] < 0 ? lmsCount++ : -1;
        var lms = new int[lmsCount];
        for (int i = 1, k = 0; i < n; i++)
            if (lmsIndex[i] >= 0)
                lms[k++] = i;

        var buffer = new int[upper + 2];
        Induce(s, sa, lms, bucketStart, sStart, buffer);

        if (lmsCount > 0)
        {
            // Name the LMS substrings in their induced order; equal substrings (same symbols and
            // types, compared together through the packed values) get equal names.
            var sortedLms = new int[lmsCount];
            int k = 0;
            foreach (int v in sa)
                if (lmsIndex[v] >= 0)
                    sortedLms[k++] = v;
            var reduced = new int[lmsCount];
            int name = 0;
            reduced[lmsIndex[sortedLms[0]]] = 0;
            for (int i = 1; i < lmsCount; i++)
            {
                int l = sortedLms[i - 1], r = sortedLms[i];
                int endL = lmsIndex[l] + 1 < lmsCount ? lms[lmsIndex[l] + 1] : n;
                int endR = lmsIndex[r] + 1 < lmsCount ? lms[lmsIndex[r] + 1] : n;
                bool same = endL - l == endR - r;
                if (same)
                {
                    while (l < endL && s[l] == s[r])
                    {
                        l++;
                        r++;
                    }
                    if (l == n || s[l] != s[r])
                        same = false;
                }
                if (!same)
                    name++;
                reduced[lmsIndex[sortedLms[i]]] = name;
            }
            var reducedSa = Sort(reduced, name);
            for (int i = 0; i < lmsCount; i++)
                sortedLms[i] = lms[reducedSa[i]];
            Induce(s, sa, sortedLms, bucketStart, sStart, buffer);
        }
        return sa;
    }

    private const int STypeBit = int.MinValue;
    private const int SymbolMask = int.MaxValue;

    /// <summary>Induced sorting from the given LMS order: L-type suffixes left to right, then S-type right to left.</summary>
    private static unsafe void Induce(int[] s, int[] sa, int[] lms, int[] bucketStart, int[] sStart, int[] buffer)
    {
        int n = s.Length;
        // The hot loops index with values read from the arrays themselves; pointers skip bounds checks
        // that the JIT cannot remove (every index is a valid position by construction).
        fixed (int* text = s, suffixes = sa, bucket = buffer)
        {
            new Span<int>(suffixes, n).Fill(-1);
            sStart.CopyTo(buffer, 0);
            foreach (int d in lms)
                suffixes[bucket[text[d] & SymbolMask]++] = d;
            bucketStart.CopyTo(buffer, 0);
            suffixes[bucket[text[n - 1] & SymbolMask]++] = n - 1;
            // Each step reads the symbol before a suffix found further on: a cache miss on a large
            // text, hidden by asking for it Distance steps ahead.
            for (int i = 0; i < n; i++)
            {
                if (Sse.IsSupported && i + Distance < n)
                    Sse.Prefetch0(text + suffixes[i + Distance] - 1);
                int v = suffixes[i] - 1;
                if (v >= 0 && text[v] >= 0)
                    suffixes[bucket[text[v]]++] = v;
            }
            bucketStart.CopyTo(buffer, 0);
            for (int i = n - 1; i >= 0; i--)
            {
                if (Sse.IsSupported && i >= Distance)
                    Sse.Prefetch0(text + suffixes[i - Distance] - 1);
                int v = suffixes[i] - 1;
                if (v >= 0 && text[v] < 0)
                    suffixes[--bucket[(text[v] & SymbolMask) + 1]] = v;
            }
        }
    }

    private const int Distance = 32;

    private static int[] SortNaive(int[] s)
    {
        var sa = new int[s.Length];
        for (int i = 0; i < sa.Length; i++)
            sa[i] = i;
        Array.Sort(sa, (a, b) => s.AsSpan(a).SequenceCompareTo(s.AsSpan(b)));
        return sa;
    }
}
