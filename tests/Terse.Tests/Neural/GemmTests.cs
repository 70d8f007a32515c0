using Terse.Neural.Numerics;

namespace Terse.Tests.Neural;

public class GemmTests
{
    public static TheoryData<string> Backends()
    {
        var data = new TheoryData<string> { "managed" };
        if (Gemm.OpenBlas is not null)
            data.Add("openblas");
        return data;
    }

    private static Gemm Backend(string name) => name == "managed" ? Gemm.Managed : Gemm.OpenBlas!;

    [Fact]
    public void OpenBlasLoadsOnThisMachine()
    {
        // libopenblas0 is a prerequisite (scripts/prereqs.sh); without it the BLAS half of every test would be silently absent.
        Assert.NotNull(Gemm.OpenBlas);
        Assert.StartsWith("openblas", Gemm.Default.Name);
    }

    [Theory]
    [MemberData(nameof(Backends))]
    public void MatchesADoublePrecisionReferenceForAllTransposesAndStrides(string backend)
    {
        var gemm = Backend(backend);
        var random = new Random(1234);
        // Odd sizes exercise every edge of the blocking (micro-tile 6×32, k-slices of 256, column blocks of 2048).
        int[][] shapes = [[1, 1, 1], [7, 5, 3], [6, 32, 256], [13, 70, 300], [97, 33, 513], [5, 2100, 17], [130, 9, 1]];
        foreach (var shape in shapes)
            foreach (bool ta in new[] { false, true })
                foreach (bool tb in new[] { false, true })
                {
                    int m = shape[0], n = shape[1], k = shape[2];
                    int lda = (ta ? m : k) + random.Next(3), ldb = (tb ? k : n) + random.Next(3), ldc = n + random.Next(3);
                    var a = RandomArray(random, (ta ? k : m) * lda);
                    var b = RandomArray(random, (tb ? n : k) * ldb);
                    var c = RandomArray(random, m * ldc);
                    float alpha = 0.75f, beta = shape[0] % 2 == 0 ? 0.5f : 1f;
                    var expected = Reference(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
                    gemm.Multiply(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
                    for (int i = 0; i < m; i++)
                        for (int j = 0; j < n; j++)
                        {
                            // float32 accumulation of k products of values in [-1,1]: error grows like sqrt(k)·2⁻²⁴·k at worst.
                            double tolerance = 1e-5 * (k + 1);
                            Assert.True(Math.Abs(c[i * ldc + j] - expected[i * ldc + j]) <= tolerance,
                                $"{backend} m={m} n={n} k={k} ta={ta} tb={tb} at ({i},{j}): {c[i * ldc + j]} vs {expected[i * ldc + j]}");
                        }
                    // Padding between rows (beyond n) must not be written.
                    for (int i = 0; i < m; i++)
                        for (int j = n; j < ldc; j++)
                            Assert.Equal((float)expected[i * ldc + j], c[i * ldc + j]);
                }
    }

    [Theory]
    [MemberData(nameof(Backends))]
    public void BetaZeroIgnoresWhatCHeld(string backend)
    {
        var gemm = Backend(backend);
        float[] a = [1, 2, 3, 4], b = [5, 6, 7, 8];
        float[] c = [float.NaN, float.PositiveInfinity, float.NaN, -1e30f];
        gemm.Multiply(false, false, 2, 2, 2, 1, a, 2, b, 2, 0, c, 2);
        Assert.Equal([19f, 22f, 43f, 50f], c);
    }

    [Fact]
    public void BackendsAgreeOnALargeProductWithBothThreadCounts()
    {
        Assert.NotNull(Gemm.OpenBlas);
        var random = new Random(5);
        int m = 300, n = 520, k = 700;
        var a = RandomArray(random, m * k);
        var b = RandomArray(random, n * k);
        var fromBlas = new float[m * n];
        var fromManaged = new float[m * n];
        int saved = Compute.Threads;
        try
        {
            foreach (int threads in new[] { 1, 2 })
            {
                Compute.Threads = threads;
                Gemm.OpenBlas!.Multiply(false, true, m, n, k, 1, a, k, b, k, 0, fromBlas, n);
                Gemm.Managed.Multiply(false, true, m, n, k, 1, a, k, b, k, 0, fromManaged, n);
                for (int i = 0; i < fromBlas.Length; i++)
                    Assert.True(Math.Abs(fromBlas[i] - fromManaged[i]) <= 1e-4f * MathF.Sqrt(k), $"element {i}: {fromBlas[i]} vs {fromManaged[i]}");
            }
        }
        finally
        {
            Compute.Threads = saved;
        }
    }

    [Theory]
    [MemberData(nameof(Backends))]
    public void RejectsOperandsTooSmallForTheirShapeBeforeTouchingMemory(string backend)
    {
        var gemm = Backend(backend);
        var small = new float[5];
        var ok = new float[6];
        Assert.Throws<ArgumentException>(() => gemm.Multiply(false, false, 2, 3, 3, 1, small, 3, new float[9], 3, 0, ok, 3));
        Assert.Throws<ArgumentException>(() => gemm.Multiply(false, true, 2, 3, 3, 1, ok, 3, new float[8], 3, 0, ok, 3));
        Assert.Throws<ArgumentOutOfRangeException>(() => gemm.Multiply(false, false, 2, 3, 3, 1, ok, 2, new float[9], 3, 0, ok, 3));
        Assert.Throws<ArgumentOutOfRangeException>(() => gemm.Multiply(false, false, -1, 3, 3, 1, ok, 3, new float[9], 3, 0, ok, 3));
    }

    [Fact]
    public void FloatBuffersAreCacheLineAligned()
    {
        for (int length = 0; length < 40; length++)
        {
            var buffer = new FloatBuffer(length);
            Assert.Equal(length, buffer.Length);
            unsafe
            {
                Assert.Equal(0, (long)buffer.Pointer % 64);
            }
            Assert.All(buffer.Span.ToArray(), value => Assert.Equal(0f, value));
        }
    }

    internal static float[] RandomArray(Random random, int length)
    {
        var values = new float[length];
        for (int i = 0; i < length; i++)
            values[i] = (float)(random.NextDouble() * 2 - 1);
        return values;
    }

    private static double[] Reference(bool ta, bool tb, int m, int n, int k, float alpha, float[] a, int lda,
        float[] b, int ldb, float beta, float[] c, int ldc)
    {
        var result = c.Select(v => (double)v).ToArray();
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double sum = 0;
                for (int p = 0; p < k; p++)
                    sum += (double)(ta ? a[p * lda + i] : a[i * lda + p]) * (tb ? b[j * ldb + p] : b[p * ldb + j]);
                result[i * ldc + j] = alpha * sum + beta * c[i * ldc + j];
            }
        return result;
    }
}
