namespace Terse.Neural.Numerics;

/// <summary>
/// Process-wide thread budget of the engine: managed kernels split their work over at most
/// <see cref="Threads"/> threads and OpenBLAS is told the same number. Results of the decoding path
/// (<see cref="InferenceSession"/>) do not depend on it; see that type for the guarantee.
/// </summary>
public static class Compute
{
    private static int _threads = Environment.ProcessorCount;

    public static int Threads
    {
        get => _threads;
        set
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, 1);
            _threads = value;
        }
    }

    /// <summary>
    /// Runs <paramref name="body"/>(start, end) over a partition of [0, count) into contiguous ranges,
    /// in parallel when the work is large enough to repay waking another thread. Each index is handled
    /// by exactly one call, so per-index results never depend on how the range was split.
    /// </summary>
    /// <param name="costPerItem">Rough work per index (multiply-adds); small jobs stay on the calling thread.</param>
    internal static void For(int count, long costPerItem, Action<int, int> body)
    {
        const long MinimumWorkPerThread = 32_768;
        int threads = (int)Math.Min(_threads, Math.Max(1, count * Math.Max(1, costPerItem) / MinimumWorkPerThread));
        threads = Math.Min(threads, count);
        if (threads <= 1)
        {
            if (count > 0)
                body(0, count);
            return;
        }
        Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, part =>
        {
            int start = (int)((long)count * part / threads);
            int end = (int)((long)count * (part + 1) / threads);
            if (start < end)
                body(start, end);
        });
    }
}
