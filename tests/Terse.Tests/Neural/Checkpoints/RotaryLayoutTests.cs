using FsCheck;
using FsCheck.Fluent;
using Terse.Neural.Checkpoints;

namespace Terse.Tests.Neural.Checkpoints;

public class RotaryLayoutTests
{
    [Fact]
    public void MatchesConvertLlamaWeightsToHfOnASmallExample()
    {
        // One head of size 4: w.view(1, 2, 2, cols).transpose(1, 2) orders rows (i=0,p=0), (i=1,p=0), (i=0,p=1), (i=1,p=1).
        Assert.Equal([10f, 12f, 11f, 13f], RotaryLayout.InterleavedToHalves([10f, 11f, 12f, 13f], heads: 1, headDim: 4, columns: 1));
        // Two heads of size 2 keep their rows (a pair is already its own halves); columns move with their row.
        Assert.Equal([1f, 2f, 3f, 4f, 5f, 6f, 7f, 8f], RotaryLayout.InterleavedToHalves([1f, 2f, 3f, 4f, 5f, 6f, 7f, 8f], 2, 2, 2));
        Assert.Equal([0f, 1f, 4f, 5f, 2f, 3f, 6f, 7f], RotaryLayout.InterleavedToHalves([0f, 1f, 2f, 3f, 4f, 5f, 6f, 7f], 1, 4, 2));
    }

    [Fact]
    public void TheInverseUndoesThePermutationAndViceVersa() =>
        Prop.ForAll<PositiveInt, PositiveInt, int>((heads, halfHeadDim, seed) =>
        {
            int h = heads.Get % 6 + 1, d = 2 * (halfHeadDim.Get % 8 + 1), c = Math.Abs(seed % 5) + 1;
            var random = new Random(seed);
            var weights = Enumerable.Range(0, h * d * c).Select(_ => (float)random.NextDouble()).ToArray();
            var halves = RotaryLayout.InterleavedToHalves(weights, h, d, c);
            bool permutes = halves.Order().SequenceEqual(weights.Order());
            return permutes
                && RotaryLayout.HalvesToInterleaved(halves, h, d, c).SequenceEqual(weights)
                && RotaryLayout.InterleavedToHalves(RotaryLayout.HalvesToInterleaved(weights, h, d, c), h, d, c).SequenceEqual(weights);
        }).QuickCheckThrowOnFailure();

    [Fact]
    public void RejectsInconsistentSizes()
    {
        Assert.Throws<ArgumentException>(() => RotaryLayout.InterleavedToHalves(new float[7], 1, 4, 2));
        Assert.Throws<ArgumentOutOfRangeException>(() => RotaryLayout.InterleavedToHalves(new float[6], 1, 3, 2));
        var buffer = new float[8];
        Assert.Throws<ArgumentException>(() => RotaryLayout.InterleavedToHalves(buffer, buffer, 1, 4, 2));
    }

    /// <summary>Meta / llama2.c RoPE: rotates pairs (2i, 2i+1) of each head by pos·θ^(−2i/d).</summary>
    private static float[] InterleavedRope(float[] vector, int headDim, int position, double theta)
    {
        var result = (float[])vector.Clone();
        for (int start = 0; start < vector.Length; start += headDim)
        {
            for (int i = 0; i < headDim / 2; i++)
            {
                double angle = position * Math.Pow(theta, -2.0 * i / headDim);
                float x0 = vector[start + 2 * i], x1 = vector[start + 2 * i + 1];
                result[start + 2 * i] = (float)(x0 * Math.Cos(angle) - x1 * Math.Sin(angle));
                result[start + 2 * i + 1] = (float)(x0 * Math.Sin(angle) + x1 * Math.Cos(angle));
            }
        }
        return result;
    }

    /// <summary>Hugging Face RoPE (rotate_half): rotates (i, i + d/2) of each head by the same angles.</summary>
    private static float[] HalvesRope(float[] vector, int headDim, int position, double theta)
    {
        var result = (float[])vector.Clone();
        int half = headDim / 2;
        for (int start = 0; start < vector.Length; start += headDim)
        {
            for (int i = 0; i < half; i++)
            {
                double angle = position * Math.Pow(theta, -2.0 * i / headDim);
                float x0 = vector[start + i], x1 = vector[start + i + half];
                result[start + i] = (float)(x0 * Math.Cos(angle) - x1 * Math.Sin(angle));
                result[start + i + half] = (float)(x0 * Math.Sin(angle) + x1 * Math.Cos(angle));
            }
        }
        return result;
    }

    private static float[] MatVec(float[] weights, float[] x)
    {
        var result = new float[weights.Length / x.Length];
        for (int row = 0; row < result.Length; row++)
        {
            double sum = 0;
            for (int k = 0; k < x.Length; k++)
                sum += weights[row * x.Length + k] * x[k];
            result[row] = (float)sum;
        }
        return result;
    }

    private static double Dot(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        double sum = 0;
        for (int i = 0; i < a.Length; i++)
            sum += a[i] * b[i];
        return sum;
    }

    /// <summary>
    /// RoPE(x·W) in the interleaved layout equals, row-permuted, RoPE(x·permute(W)) in the halves
    /// layout; so attention scores q·k, with grouped key/value heads, agree between the layouts.
    /// </summary>
    private static void AssertLayoutsAgree(float[] wq, float[] wk, int heads, int kvHeads, int headDim, int dim, Random random)
    {
        var wqHalves = RotaryLayout.InterleavedToHalves(wq, heads, headDim, dim);
        var wkHalves = RotaryLayout.InterleavedToHalves(wk, kvHeads, headDim, dim);
        for (int trial = 0; trial < 5; trial++)
        {
            var x = Enumerable.Range(0, dim).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
            var y = Enumerable.Range(0, dim).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
            int queryPosition = random.Next(0, 300), keyPosition = random.Next(0, 300);

            var qInterleaved = InterleavedRope(MatVec(wq, x), headDim, queryPosition, 10000);
            var qHalves = HalvesRope(MatVec(wqHalves, x), headDim, queryPosition, 10000);
            var expected = RotaryLayout.InterleavedToHalves(qInterleaved, heads, headDim, 1);
            for (int i = 0; i < expected.Length; i++)
                Assert.True(Math.Abs(expected[i] - qHalves[i]) <= 1e-5 * (1 + Math.Abs(expected[i])), $"q[{i}]: {expected[i]} vs {qHalves[i]}");

            var kInterleaved = InterleavedRope(MatVec(wk, y), headDim, keyPosition, 10000);
            var kHalves = HalvesRope(MatVec(wkHalves, y), headDim, keyPosition, 10000);
            for (int head = 0; head < heads; head++)
            {
                int kvHead = head / (heads / kvHeads);
                double interleavedScore = Dot(qInterleaved.AsSpan(head * headDim, headDim), kInterleaved.AsSpan(kvHead * headDim, headDim));
                double halvesScore = Dot(qHalves.AsSpan(head * headDim, headDim), kHalves.AsSpan(kvHead * headDim, headDim));
                Assert.True(Math.Abs(interleavedScore - halvesScore) <= 1e-4 * (1 + Math.Abs(interleavedScore)), $"head {head}: {interleavedScore} vs {halvesScore}");
            }
            // Without the permutation the halves layout would give different scores (the test can fail).
            var unpermuted = HalvesRope(MatVec(wq, x), headDim, queryPosition, 10000);
            if (queryPosition != 0)
                Assert.NotEqual(RotaryLayout.InterleavedToHalves(qInterleaved, heads, headDim, 1), unpermuted);
        }
    }

    [Fact]
    public void RandomWeightsGiveTheSameRotatedQueriesAndScoresInBothLayouts()
    {
        var random = new Random(17);
        const int Heads = 4, KvHeads = 2, HeadDim = 8, Dim = 24;
        float[] Matrix(int rows) => Enumerable.Range(0, rows * Dim).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
        AssertLayoutsAgree(Matrix(Heads * HeadDim), Matrix(KvHeads * HeadDim), Heads, KvHeads, HeadDim, Dim, random);
    }

    [Fact]
    public void Stories260KQueryAndKeyWeightsGiveTheSameScoresInBothLayouts()
    {
        // llama2.c layout: 7 int32 header, token embeddings [vocab, dim], rms_att [layers, dim], wq [layers, dim, dim], wk [layers, kv_dim, dim].
        var bytes = Infrastructure.TestData.ReadBytes("models/stories260K.bin");
        var header = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, int>(bytes.AsSpan(0, 28)).ToArray();
        int dim = header[0], layers = header[2], heads = header[3], kvHeads = header[4], vocab = header[5];
        Assert.Equal([64, 5, 8, 4, 512], new[] { dim, layers, heads, kvHeads, vocab });
        int headDim = dim / heads;
        var floats = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(bytes.AsSpan(28));
        int wqStart = vocab * dim + layers * dim;
        int wkStart = wqStart + layers * dim * dim;
        var wq = floats.Slice(wqStart, dim * dim).ToArray();
        var wk = floats.Slice(wkStart, kvHeads * headDim * dim).ToArray();
        AssertLayoutsAgree(wq, wk, heads, kvHeads, headDim, dim, new Random(23));
    }
}
