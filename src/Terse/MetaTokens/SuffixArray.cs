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
    /// <c>sa[i]</c>; <c>lcp[0] = 0</c>.
    /// </summary>
    public static int[] BuildLcp(ReadOnlySpan<int> text, int[] sa)
    {
        int n = text.Length;
        var lcp = new int[n];
        if (n == 0)
            return lcp;
        var rank = new int[n];
        for (int i = 0; i < n; i++)
            rank[sa[i]] = i;
        int h = 0;
        for (int i = 0; i < n; i++)
        {
            int r = rank[i];
            if (r == 0)
            {
                h = 0;
                continue;
            }
            int j = sa[r - 1];
            while (i + h < n && j + h < n && text[i + h] == text[j + h])
                h++;
            lcp[r] = h;
            if (h > 0)
                h--;
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
        if ((long)max - min < 2L * n + 1024)
        {
            for (int i = 0; i < n; i++)
                result[i] = text[i] - min;
            upper = max - min;
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
        // isS[i]: suffix i is S-type (smaller than suffix i+1); the last suffix is L-type because
        // the implied sentinel is smaller than every symbol.
        var isS = new bool[n];
        for (int i = n - 2; i >= 0; i--)
            isS[i] = s[i] == s[i + 1] ? isS[i + 1] : s[i] < s[i + 1];

        // bucketStart[c]: first slot of bucket c; sStart[c]: first slot of bucket c's S-type part.
        var bucketStart = new int[upper + 2];
        var sStart = new int[upper + 1];
        for (int i = 0; i < n; i++)
        {
            if (isS[i]) bucketStart[s[i] + 1]++;
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
        for (int i = 0; i < n; i++)
            lmsIndex[i] = i >= 1 && !isS[i - 1] && isS[i] ? lmsCount++ : -1;
        var lms = new int[lmsCount];
        for (int i = 1, k = 0; i < n; i++)
            if (!isS[i - 1] && isS[i])
                lms[k++] = i;

        var buffer = new int[upper + 2];
        Induce(s, sa, isS, lms, bucketStart, sStart, buffer);

        if (lmsCount > 0)
        {
            // Name the LMS substrings in their induced order; equal substrings get equal names.
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
            Induce(s, sa, isS, sortedLms, bucketStart, sStart, buffer);
        }
        return sa;
    }

    /// <summary>Induced sorting from the given LMS order: L-type suffixes left to right, then S-type right to left.</summary>
    private static unsafe void Induce(int[] s, int[] sa, bool[] isS, int[] lms, int[] bucketStart, int[] sStart, int[] buffer)
    {
        int n = s.Length;
        // The hot loops index with values read from the arrays themselves; pointers skip bounds checks
        // that the JIT cannot remove (every index is a valid position by construction).
        fixed (int* text = s, suffixes = sa, bucket = buffer)
        fixed (bool* sType = isS)
        {
            new Span<int>(suffixes, n).Fill(-1);
            sStart.CopyTo(buffer, 0);
            foreach (int d in lms)
                suffixes[bucket[text[d]]++] = d;
            bucketStart.CopyTo(buffer, 0);
            suffixes[bucket[text[n - 1]]++] = n - 1;
            for (int i = 0; i < n; i++)
            {
                int v = suffixes[i] - 1;
                if (v >= 0 && !sType[v])
                    suffixes[bucket[text[v]]++] = v;
            }
            bucketStart.CopyTo(buffer, 0);
            for (int i = n - 1; i >= 0; i--)
            {
                int v = suffixes[i] - 1;
                if (v >= 0 && sType[v])
                    suffixes[--bucket[text[v] + 1]] = v;
            }
        }
    }

    private static int[] SortNaive(int[] s)
    {
        var sa = new int[s.Length];
        for (int i = 0; i < sa.Length; i++)
            sa[i] = i;
        Array.Sort(sa, (a, b) => s.AsSpan(a).SequenceCompareTo(s.AsSpan(b)));
        return sa;
    }
}
