using System.Security.Cryptography;
using FsCheck;
using FsCheck.Fluent;
using Terse.EntropyCoding;

namespace Terse.Tests.EntropyCoding;

public class FrequencyTableTests
{
    private static float[] RandomLogits(Random random, int count, double scale)
    {
        var logits = new float[count];
        for (int i = 0; i < count; i++)
        {
            // Box–Muller normal deviates times the scale: flat (small scale) to peaked (large).
            double u = 1 - random.NextDouble(), v = random.NextDouble();
            logits[i] = (float)(scale * Math.Sqrt(-2 * Math.Log(u)) * Math.Cos(2 * Math.PI * v));
        }
        return logits;
    }

    private static double[] ExactSoftmax(float[] logits)
    {
        double max = logits.Max();
        var p = logits.Select(l => Math.Exp(l - max)).ToArray();
        double sum = p.Sum();
        return p.Select(x => x / sum).ToArray();
    }

    private static int[] Frequencies(FrequencyTable table) => Enumerable.Range(0, table.Count).Select(table.Frequency).ToArray();

    [Fact]
    public void Tables_from_random_logits_are_valid_and_ordered_like_the_logits()
    {
        var gen =
            from seed in Gen.Choose(0, int.MaxValue)
            from count in Gen.Choose(1, 3000)
            from scale in Gen.Elements(0.0, 0.1, 1.0, 3.0, 10.0, 100.0)
            from totalBits in Gen.Choose(16, RangeCoding.MaxTotalBits)
            select (seed, count, scale, totalBits);
        Prop.ForAll(Arb.From(gen), c =>
        {
            int count = Math.Min(c.count, (1 << c.totalBits) / 2);
            var logits = RandomLogits(new Random(c.seed), count, c.scale);
            var table = new FrequencyTable(count, c.totalBits);
            table.SetFromLogits(logits);
            var frequencies = Frequencies(table);
            Assert.All(frequencies, f => Assert.True(f >= 1));
            Assert.Equal(1L << c.totalBits, frequencies.Sum(f => (long)f));
            Assert.Equal(0, table.Cumulative(0));
            // A larger logit never gets a smaller frequency, except the top one, which also takes the rounding remainder.
            int top = Array.IndexOf(logits, logits.Max());
            var order = Enumerable.Range(0, count).Where(i => i != top).OrderBy(i => logits[i]).ToArray();
            for (int k = 1; k < order.Length; k++)
                Assert.True(frequencies[order[k]] >= frequencies[order[k - 1]]);
            for (int s = 0; s < count; s++)
                Assert.Equal(s, table.FindSymbol((uint)table.Cumulative(s) + (uint)(table.Frequency(s) - 1)));
        }).QuickCheckThrowOnFailure();
    }

    [Theory]
    [InlineData(512, 1.0)]
    [InlineData(512, 4.0)]
    [InlineData(32_000, 2.0)]
    [InlineData(200_000, 2.0)]
    [InlineData(200_000, 8.0)]
    public void Quantisation_costs_almost_nothing_against_exact_minus_log2_p(int vocabulary, double scale)
    {
        // Expected extra cost per token = KL(p ‖ q) in bits, for p the exact softmax and q the table.
        var random = new Random(vocabulary + (int)scale);
        var table = new FrequencyTable(vocabulary);
        double worst = 0;
        for (int trial = 0; trial < 4; trial++)
        {
            var logits = RandomLogits(random, vocabulary, scale);
            var p = ExactSoftmax(logits);
            table.SetFromLogits(logits);
            double kl = 0;
            for (int s = 0; s < vocabulary; s++)
                if (p[s] > 0)
                    kl += p[s] * Math.Log2(p[s] * table.Total / table.Frequency(s));
            worst = Math.Max(worst, kl);
        }
        // The floor of 1 per token takes at most vocabulary/2^28 of the mass: ≤ 0.0011 bits for 200k.
        double bound = 1e-5 + 1.5 * vocabulary / (double)(1 << FrequencyTable.DefaultTotalBits);
        Assert.InRange(worst, 0, bound);
    }

    [Fact]
    public void A_near_certain_token_costs_almost_nothing_and_keeps_every_other_token_codable()
    {
        var logits = new float[512];
        logits[42] = 60f; // p(42) = 1 − 511·e^-60: the table can only floor the others at 1
        var table = new FrequencyTable(512);
        table.SetFromLogits(logits);
        Assert.True(table.CostBits(42) < 3e-6, $"cost {table.CostBits(42)}");
        Assert.All(Enumerable.Range(0, 512).Where(s => s != 42), s => Assert.Equal(1, table.Frequency(s)));
    }

    [Fact]
    public void Fixed_point_exp2_matches_the_library_exp_to_the_last_unit()
    {
        var random = new Random(3);
        for (int i = 0; i < 200_000; i++)
        {
            double x = i < 100 ? -i * 0.5 : -random.NextDouble() * 36;
            double exact = Math.Pow(2, x) * 4294967296.0;
            ulong mine = FrequencyTable.FixedPointExp2(x);
            Assert.InRange((double)mine, Math.Floor(exact) - 1, Math.Floor(exact) + 1);
        }
        Assert.Equal(1UL << 32, FrequencyTable.FixedPointExp2(0));
        Assert.Equal(1UL << 31, FrequencyTable.FixedPointExp2(-1));
        Assert.Equal(0UL, FrequencyTable.FixedPointExp2(-40));
        Assert.Equal(0UL, FrequencyTable.FixedPointExp2(double.NaN));
        Assert.Equal(0UL, FrequencyTable.FixedPointExp2(double.NegativeInfinity));
    }

    [Fact]
    public void Vector_and_scalar_exponentials_give_the_same_bits()
    {
        var random = new Random(8);
        for (int trial = 0; trial < 200; trial++)
        {
            var logits = new float[random.Next(1, 300)];
            for (int i = 0; i < logits.Length; i++)
                logits[i] = random.Next(12) switch
                {
                    0 => float.NaN,
                    1 => float.NegativeInfinity,
                    2 => -1e30f,
                    3 => (float)random.NextDouble() * 1e-30f,
                    _ => (float)((random.NextDouble() - 0.5) * Math.Pow(10, random.Next(-3, 3))),
                };
            float max = logits.Where(float.IsFinite).DefaultIfEmpty(0f).Max();
            var vectorised = new ulong[logits.Length];
            FrequencyTable.ComputeWeights(logits, max, vectorised);
            for (int i = 0; i < logits.Length; i++)
                Assert.Equal(FrequencyTable.FixedPointExp2(((double)logits[i] - max) * 1.4426950408889634), vectorised[i]);
        }
    }

    [Fact]
    public void Non_finite_logits_give_a_valid_table()
    {
        var table = new FrequencyTable(4);
        table.SetFromLogits([float.NaN, 1f, float.NegativeInfinity, 0f]);
        Assert.Equal(1, table.Frequency(0));
        Assert.Equal(1, table.Frequency(2));
        Assert.True(table.Frequency(1) > table.Frequency(3) && table.Frequency(3) > 1);

        foreach (var degenerate in new[] { new[] { float.NaN, float.NaN, float.NaN, float.NaN }, [0f, float.PositiveInfinity, 1f, 2f], [float.NegativeInfinity, float.NegativeInfinity, float.NegativeInfinity, float.NegativeInfinity] })
        {
            table.SetFromLogits(degenerate);
            var frequencies = Frequencies(table);
            Assert.Equal(table.Total, frequencies.Sum());
            // Uniform: equal frequencies, plus the division remainder on symbol 0.
            Assert.All(frequencies.Skip(1), f => Assert.Equal(1 + (table.Total - 4) / 4, f));
        }
    }

    /// <summary>
    /// The table for a fixed set of logits, pinned by its hash. The decoder on another machine must
    /// build exactly this table; if a runtime or CPU ever computed a different one, this fails.
    /// The logits are generated with integer arithmetic only, so they are the same everywhere.
    /// </summary>
    [Fact]
    public void Table_for_fixed_logits_is_pinned()
    {
        var logits = new float[1000];
        uint state = 12345;
        for (int i = 0; i < logits.Length; i++)
        {
            state = state * 1664525 + 1013904223;
            logits[i] = (int)(state >> 8) / (float)(1 << 21) - 4f; // exact in float: 24-bit numerator over a power of two
        }
        var table = new FrequencyTable(logits.Length);
        table.SetFromLogits(logits);
        var bytes = new byte[logits.Length * 4];
        for (int i = 0; i < logits.Length; i++)
            BitConverter.TryWriteBytes(bytes.AsSpan(i * 4), table.Frequency(i));
        string hash = Convert.ToHexStringLower(SHA256.HashData(bytes));
        Assert.True(hash == PinnedTableHash, $"the table for the pinned logits changed: hash {hash}");

        // And the pinned table is the right one: within one unit of the same formula evaluated with the library exp.
        double max = logits.Max();
        var weights = logits.Select(l => Math.Floor(Math.Exp(l - max) * 4294967296.0)).ToArray();
        double spare = table.Total - logits.Length, sum = weights.Sum();
        int top = Array.IndexOf(logits, logits.Max());
        for (int i = 0; i < logits.Length; i++)
            if (i != top)
                Assert.InRange(table.Frequency(i), 1 + Math.Floor(weights[i] * spare / sum) - 1, 1 + Math.Floor(weights[i] * spare / sum) + 1);
    }

    private const string PinnedTableHash = "9090f4bb976185f5769376073b22941a9c32e2dbd72bcdd4101a006f007f0359";
}
