using System.Diagnostics;
using Terse.Neural.Numerics;

namespace Terse.Benchmarks.Neural;

/// <summary>Sustained sgemm rate (GFLOP/s) of each backend on square and training-shaped products.</summary>
internal static class GemmRate
{
    public static double Measure(Gemm gemm, bool transposeA, bool transposeB, int m, int n, int k, double seconds = 1.0)
    {
        var random = new Random(1);
        var a = new FloatBuffer(m * k);
        var b = new FloatBuffer(k * n);
        var c = new FloatBuffer(m * n);
        foreach (var buffer in new[] { a, b })
            for (int i = 0; i < buffer.Length; i++)
                buffer.Span[i] = (float)(random.NextDouble() - 0.5);
        int lda = transposeA ? m : k, ldb = transposeB ? k : n;
        gemm.Multiply(transposeA, transposeB, m, n, k, 1, a.Span, lda, b.Span, ldb, 0, c.Span, n);
        long calls = 0;
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed.TotalSeconds < seconds)
        {
            gemm.Multiply(transposeA, transposeB, m, n, k, 1, a.Span, lda, b.Span, ldb, 0, c.Span, n);
            calls++;
        }
        return 2.0 * m * n * k * calls / clock.Elapsed.TotalSeconds / 1e9;
    }

    public static void Report(TextWriter output)
    {
        output.WriteLine($"threads: {Compute.Threads}");
        output.WriteLine("| shape (m×n×k, op) | " + string.Join(" | ", Backends().Select(b => b.Name + " GFLOP/s")) + " |");
        output.WriteLine("|---|" + string.Concat(Backends().Select(_ => "---:|")));
        (int m, int n, int k, bool ta, bool tb)[] shapes =
        [
            (1024, 1024, 1024, false, false),
            (2048, 288, 288, false, true),   // x·Wᵀ, 15M model
            (2048, 768, 288, false, true),
            (288, 288, 2048, true, false),   // dW = dYᵀ·X
            (2048, 288, 768, false, false),  // dX = dY·W
            (2048, 32000, 288, false, true), // classifier
        ];
        foreach (var (m, n, k, ta, tb) in shapes)
            output.WriteLine($"| {m}×{n}×{k} {(ta ? "T" : "N")}{(tb ? "T" : "N")} | " +
                string.Join(" | ", Backends().Select(b => Measure(b, ta, tb, m, n, k).ToString("F1"))) + " |");
    }

    private static IEnumerable<Gemm> Backends() => Gemm.OpenBlas is { } blas ? [blas, Gemm.Managed] : [Gemm.Managed];
}
