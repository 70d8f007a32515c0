using System.Diagnostics;
using System.Runtime.ExceptionServices;

namespace Terse.Neural.Numerics;

/// <summary>
/// A fork-join pool for the engine's short parallel loops. Decoding one token runs dozens of
/// matrix-vector products of tens of microseconds each; waking thread-pool threads for each costs
/// about as much as the work, so a few dedicated threads spin briefly between jobs and sleep after
/// that. One job runs at a time: a caller that finds the pool busy (another session on another
/// thread, or a nested loop) runs its parts itself, which keeps concurrent sessions from
/// oversubscribing the cores.
/// </summary>
internal static class WorkerPool
{
    private static readonly long SpinTicks = Stopwatch.Frequency / 20_000; // 50 µs
    private static readonly object Gate = new();
    private static readonly object SleepLock = new();
    private static readonly object StartLock = new();
    private static Job? _current;
    private static int _sleepers;
    private static int _workers;

    private sealed class Job(Action<int> body, int parts)
    {
        public readonly Action<int> Body = body;
        public readonly int Parts = parts;
        public int Next;
        public int Pending = parts;
        public ExceptionDispatchInfo? Failure;
    }

    /// <summary>Runs body(0) … body(parts − 1), each exactly once, on the caller and up to parts − 1 workers.</summary>
    public static void Run(int parts, Action<int> body)
    {
        if (parts <= 1 || !Monitor.TryEnter(Gate))
        {
            for (int part = 0; part < parts; part++)
                body(part);
            return;
        }
        try
        {
            EnsureWorkers(parts - 1);
            var job = new Job(body, parts);
            Interlocked.Exchange(ref _current, job); // full fence: the read of _sleepers below cannot move before it
            if (Volatile.Read(ref _sleepers) > 0)
                lock (SleepLock)
                    Monitor.PulseAll(SleepLock);
            Work(job);
            var spinner = new SpinWait();
            while (Volatile.Read(ref job.Pending) > 0)
                spinner.SpinOnce(sleep1Threshold: -1);
            job.Failure?.Throw();
        }
        finally
        {
            Monitor.Exit(Gate);
        }
    }

    private static void Work(Job job)
    {
        int part;
        while ((part = Interlocked.Increment(ref job.Next) - 1) < job.Parts)
        {
            try
            {
                job.Body(part);
            }
            catch (Exception e)
            {
                job.Failure ??= ExceptionDispatchInfo.Capture(e);
            }
            finally
            {
                Interlocked.Decrement(ref job.Pending);
            }
        }
    }

    private static void EnsureWorkers(int wanted)
    {
        if (Volatile.Read(ref _workers) >= wanted)
            return;
        lock (StartLock)
            while (_workers < wanted)
            {
                new Thread(WorkerLoop) { IsBackground = true, Name = $"terse-neural-{_workers + 1}" }.Start();
                _workers++;
            }
    }

    private static void WorkerLoop()
    {
        Job? last = null;
        while (true)
        {
            var job = WaitForNewJob(last);
            last = job;
            Work(job);
        }
    }

    private static Job WaitForNewJob(Job? last)
    {
        long start = Stopwatch.GetTimestamp();
        while (Stopwatch.GetTimestamp() - start < SpinTicks)
        {
            var job = Volatile.Read(ref _current);
            if (job is not null && job != last)
                return job;
            Thread.SpinWait(20);
        }
        lock (SleepLock)
        {
            Interlocked.Increment(ref _sleepers); // full fence before re-reading _current
            try
            {
                while (true)
                {
                    var job = Volatile.Read(ref _current);
                    if (job is not null && job != last)
                        return job;
                    Monitor.Wait(SleepLock);
                }
            }
            finally
            {
                Interlocked.Decrement(ref _sleepers);
            }
        }
    }
}
