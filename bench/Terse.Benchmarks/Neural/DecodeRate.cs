using System.Diagnostics;
using Terse.Neural;

namespace Terse.Benchmarks.Neural;

/// <summary>Tokens per second of greedy decoding and of prefill, timed over whole sequences.</summary>
internal static class DecodeRate
{
    /// <summary>Greedy generation from BOS for <paramref name="steps"/> positions, repeated for about <paramref name="seconds"/>; tokens/s.</summary>
    public static double Generate(LlamaModel model, int steps, double seconds = 3)
    {
        var session = model.CreateSession(steps);
        RunOnce(session, steps); // warm-up (JIT, caches)
        long tokens = 0;
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed.TotalSeconds < seconds)
            tokens += RunOnce(session, steps);
        return tokens / clock.Elapsed.TotalSeconds;
    }

    private static int RunOnce(InferenceSession session, int steps)
    {
        session.Reset();
        int token = 1;
        for (int pos = 0; pos < steps; pos++)
        {
            int next = Sampler.ArgMax(session.Step(token));
            // A model that emits BOS would end a run.c generation; keep timing the full length regardless.
            token = next;
        }
        return steps;
    }

    /// <summary>Prefill of <paramref name="length"/> tokens (logits of the last only); tokens/s.</summary>
    public static double Prefill(LlamaModel model, int length, double seconds = 3)
    {
        var tokens = Enumerable.Range(0, length).Select(i => (i * 7919 + 1) % model.Config.VocabSize).ToArray();
        var session = model.CreateSession(length);
        session.Prefill(tokens);
        long done = 0;
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed.TotalSeconds < seconds)
        {
            session.Reset();
            session.Prefill(tokens);
            done += length;
        }
        return done / clock.Elapsed.TotalSeconds;
    }
}
