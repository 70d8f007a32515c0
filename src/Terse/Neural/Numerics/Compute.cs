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
    internal static void For(int count, long costPerItem, Action<int, int> body) =>
        For(count, costPerItem, new DelegateJob(body));

    /// <summary>As above with a struct job: no allocation when the work stays on the calling thread (the decoding hot path).</summary>
    internal static void For<TJob>(int count, long costPerItem, TJob job) where TJob : struct, IRangeJob
    {
        int threads = PlanThreads(count, costPerItem);
        if (threads <= 1)
        {
            if (count > 0)
                job.Run(0, count);
            return;
        }
        WorkerPool.Run(threads, part =>
        {
            int start = (int)((long)count * part / threads);
            int end = (int)((long)count * (part + 1) / threads);
            if (start < end)
                job.Run(start, end);
        });
    }

    /// <summary>Threads worth using: waking one costs microseconds, so each must get enough work.</summary>
    internal static int PlanThreads(int count, long costPerItem)
    {
        const long MinimumWorkPerThread = 32_768;
        long useful = count * Math.Max(1, costPerItem) / MinimumWorkPerThread;
        return (int)Math.Min(Math.Min(_threads, Math.Max(1, useful)), count);
    }

    private readonly struct DelegateJob(Action<int, int> body) : IRangeJob
    {
        public void Run(int start, int end) => body(start, end);
    }
}

/// <summary>Work over a range of independent indices, run by <see cref="Compute.For{TJob}"/>.</summary>
internal interface IRangeJob
{
    void Run(int start, int end);
}
