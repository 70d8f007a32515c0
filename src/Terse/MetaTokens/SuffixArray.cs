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
        // Branch-free: the types follow the text, which a branch predictor cannot guess.
        for (int i = n - 2; i >= 0; i--)
        {
            int a = s[i], next = s[i + 1], b = next & SymbolMask;
            // −1 when a < b, or a == b and the next suffix is S-type (a, b ≥ 0: no overflow).
            int sType = ((a - b) >> 31) | ((((a ^ b) - 1) >> 31) & (next >> 31));
            s[i] = a | (sType & STypeBit);
        }

        // bucketStart[c]: first slot of bucket c; sStart[c]: first slot of bucket c's S-type part.
        var bucketStart = new int[upper + 2];
        var sStart = new int[upper + 1];
        var typeCounts = new int[2 * (upper + 1)]; // [2c]: L-type suffixes starting with c, [2c + 1]: S-type
        foreach (int v in s)
            typeCounts[((v & SymbolMask) << 1) | (v >>> 31)]++;
        for (int c = 0; c <= upper; c++)
        {
            sStart[c] = bucketStart[c] + typeCounts[2 * c];
            bucketStart[c + 1] = sStart[c] + typeCounts[2 * c + 1];
        }
        // Now bucketStart[c] = number of symbols < c and sStart[c] = bucketStart[c] + (L-types of c).

        // LMS positions (an S-type suffix right after an L-type one), in text order; at most
        // every other position is one.
        var lmsBuffer = new int[n / 2 + 1];
        int lmsCount = 0;
        for (int i = 1; i < n; i++)
        {
            lmsBuffer[lmsCount] = i;
            lmsCount += (~s[i - 1] & s[i]) >>> 31;
        }
        var lms = lmsBuffer.AsSpan(0, lmsCount).ToArray();

        var buffer = new int[upper + 2];
        Induce(s, sa, lms, bucketStart, sStart, buffer, markLms: true);

        if (lmsCount > 0)
        {
            // LMS positions are at least two apart, so p / 2 indexes them: first the length of
            // each LMS substring (up to the next LMS position, inclusive), then its name.
            var byHalf = new int[n / 2 + 1];
            for (int k = 0; k < lmsCount; k++)
                byHalf[lms[k] >> 1] = (k + 1 < lmsCount ? lms[k + 1] : n) - lms[k];
            // The induced passes marked the LMS suffixes: in suffix order they are the sorted
            // LMS substrings.
            var sortedLms = new int[lmsCount];
            int found = 0;
            foreach (int v in sa)
                if (v < 0)
                    sortedLms[found++] = ~v;
            // Name them in that order; equal substrings (same symbols and types, compared
            // together through the packed values) get equal names.
            int name = 0;
            int previous = sortedLms[0], previousLength = byHalf[previous >> 1];
            byHalf[previous >> 1] = 0;
            for (int i = 1; i < lmsCount; i++)
            {
                if (i + Distance < lmsCount)
                    Prefetch(byHalf, s, sortedLms[i + Distance]);
                int current = sortedLms[i], length = byHalf[current >> 1];
                bool same = length == previousLength && previous + length < n && current + length < n
                    && s.AsSpan(previous, length + 1).SequenceEqual(s.AsSpan(current, length + 1));
                if (!same)
                    name++;
                byHalf[current >> 1] = name;
                previous = current;
                previousLength = length;
            }
            var reduced = new int[lmsCount];
            for (int k = 0; k < lmsCount; k++)
                reduced[k] = byHalf[lms[k] >> 1];
            var reducedSa = Sort(reduced, name);
            for (int i = 0; i < lmsCount; i++)
                sortedLms[i] = lms[reducedSa[i]];
            Induce(s, sa, sortedLms, bucketStart, sStart, buffer, markLms: false);
        }
        return sa;
    }

    private const int STypeBit = int.MinValue;
    private const int SymbolMask = int.MaxValue;

    /// <summary>
    /// Induced sorting from the given LMS order: L-type suffixes left to right, then S-type right
    /// to left. With <paramref name="markLms"/>, LMS suffixes are stored complemented (negative).
    /// </summary>
    private static unsafe void Induce(int[] s, int[] sa, int[] lms, int[] bucketStart, int[] sStart, int[] buffer, bool markLms)
    {
        int n = s.Length;
        // The hot loops index with values read from the arrays themselves; pointers skip bounds checks
        // that the JIT cannot remove (every index is a valid position by construction).
        int markMask = markLms ? -1 : 0;
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
                {
                    // An LMS suffix (L-type before it) is complemented when asked, without a
                    // branch: the type of the symbol before follows the text.
                    int before = text[(v - 1) & ~((v - 1) >> 31)];
                    int lmsMask = (~before >> 31) & -(int)((uint)-v >> 31) & markMask;
                    suffixes[--bucket[(text[v] & SymbolMask) + 1]] = v ^ lmsMask;
                }
            }
        }
    }

    private const int Distance = 32;

    /// <summary>Asks for the length slot and the text of an LMS substring that will be compared soon.</summary>
    private static unsafe void Prefetch(int[] byHalf, int[] s, int position)
    {
        if (!Sse.IsSupported)
            return;
        fixed (int* half = byHalf, text = s)
        {
            Sse.Prefetch0(half + (position >> 1));
            Sse.Prefetch0(text + position);
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
