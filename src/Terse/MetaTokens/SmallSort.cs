namespace Terse.MetaTokens;

/// <summary>
/// Sorts the occurrence lists of suffix-tree nodes (positions, non-negative): most hold 2–16
/// items (insertion sort), a few hold thousands (" the", "\n\n"), which an LSD radix sort
/// handles in linear time.
/// </summary>
internal static class SmallSort
{
    private const int RadixThreshold = 512;

    [ThreadStatic]
    private static int[]? scratch;

    public static void Sort(Span<int> values)
    {
        if (values.Length <= 16)
        {
            InsertionSort(values);
            return;
        }
        if (values.Length < RadixThreshold)
        {
            values.Sort();
            return;
        }
        RadixSort(values);
    }

    private static void InsertionSort(Span<int> values)
    {
        for (int i = 1; i < values.Length; i++)
        {
            int v = values[i], j = i - 1;
            while (j >= 0 && values[j] > v)
            {
                values[j + 1] = values[j];
                j--;
            }
            values[j + 1] = v;
        }
    }

    private static void RadixSort(Span<int> values)
    {
        int max = 0;
        foreach (int v in values)
            max = Math.Max(max, v);
        if (scratch is null || scratch.Length < values.Length)
            scratch = new int[Math.Max(values.Length, 1024)];
        Span<int> counts = stackalloc int[1 << 11];
        var source = values;
        var target = scratch.AsSpan(0, values.Length);
        bool inScratch = false;
        for (int shift = 0; shift < 32 && (shift == 0 || (max >> shift) > 0); shift += 11)
        {
            counts.Clear();
            foreach (int v in source)
                counts[(v >> shift) & 0x7FF]++;
            for (int b = 0, sum = 0; b < counts.Length; b++)
                (counts[b], sum) = (sum, sum + counts[b]);
            foreach (int v in source)
                target[counts[(v >> shift) & 0x7FF]++] = v;
            var swap = source;
            source = target;
            target = swap;
            inScratch = !inScratch;
        }
        if (inScratch)
            source.CopyTo(values);
    }

    /// <summary>
    /// Sorts <paramref name="items"/> by <paramref name="keys"/>, ascending and stable (equal keys
    /// keep their order): an LSD radix sort, 11 bits a pass, as many passes as the largest key
    /// needs. Both spans end up permuted.
    /// </summary>
    public static void SortByKey<T>(Span<ulong> keys, Span<T> items)
    {
        int count = keys.Length;
        ulong max = 0;
        foreach (ulong k in keys)
            max |= k;
        var keyScratch = new ulong[count];
        var itemScratch = new T[count];
        Span<ulong> sourceKeys = keys, targetKeys = keyScratch;
        Span<T> sourceItems = items, targetItems = itemScratch;
        Span<int> counts = stackalloc int[1 << 11];
        bool inScratch = false;
        for (int shift = 0; shift < 64 && (shift == 0 || (max >> shift) != 0); shift += 11)
        {
            counts.Clear();
            foreach (ulong k in sourceKeys)
                counts[(int)(k >> shift) & 0x7FF]++;
            for (int b = 0, sum = 0; b < counts.Length; b++)
                (counts[b], sum) = (sum, sum + counts[b]);
            for (int i = 0; i < count; i++)
            {
                int at = counts[(int)(sourceKeys[i] >> shift) & 0x7FF]++;
                targetKeys[at] = sourceKeys[i];
                targetItems[at] = sourceItems[i];
            }
            var swapKeys = sourceKeys;
            sourceKeys = targetKeys;
            targetKeys = swapKeys;
            var swapItems = sourceItems;
            sourceItems = targetItems;
            targetItems = swapItems;
            inScratch = !inScratch;
        }
        if (inScratch)
        {
            sourceKeys.CopyTo(keys);
            sourceItems.CopyTo(items);
        }
    }
}
