using FsCheck;
using FsCheck.Fluent;
using Terse.EntropyCoding;

namespace Terse.Tests.EntropyCoding;

public class RangeCoderTests
{
    /// <summary>Random positive frequencies over <paramref name="symbols"/> adding up to 2^totalBits, optionally very skewed.</summary>
    internal static int[] RandomFrequencies(Random random, int symbols, int totalBits, bool skewed)
    {
        int total = 1 << totalBits;
        var weights = new double[symbols];
        for (int i = 0; i < symbols; i++)
            weights[i] = skewed ? Math.Pow(random.NextDouble(), 12) : random.NextDouble();
        double sum = weights.Sum();
        var frequencies = new int[symbols];
        long assigned = 0;
        for (int i = 0; i < symbols; i++)
        {
            frequencies[i] = 1 + (int)(weights[i] / sum * (total - symbols));
            assigned += frequencies[i];
        }
        frequencies[random.Next(symbols)] += (int)(total - assigned);
        return frequencies;
    }

    /// <summary>Draws symbols from the table's own distribution, so the ideal cost is meaningful.</summary>
    internal static int[] DrawSymbols(Random random, int[] frequencies, int count)
    {
        var cumulative = new long[frequencies.Length + 1];
        for (int i = 0; i < frequencies.Length; i++)
            cumulative[i + 1] = cumulative[i] + frequencies[i];
        var symbols = new int[count];
        for (int n = 0; n < count; n++)
        {
            long target = random.NextInt64(cumulative[^1]);
            int s = Array.BinarySearch(cumulative, target);
            symbols[n] = s >= 0 ? s : ~s - 1;
        }
        return symbols;
    }

    private static (byte[] Stream, double IdealBits) Encode(IReadOnlyList<FrequencyTable> tables, int[] symbols)
    {
        var encoder = new RangeEncoder();
        double ideal = 0;
        for (int i = 0; i < symbols.Length; i++)
        {
            var table = tables[i % tables.Count];
            table.Encode(encoder, symbols[i]);
            ideal += table.CostBits(symbols[i]);
        }
        return (encoder.Finish(), ideal);
    }

    private static int[] Decode(IReadOnlyList<FrequencyTable> tables, byte[] stream, int count, out long position)
    {
        var decoder = new RangeDecoder(stream);
        var symbols = new int[count];
        for (int i = 0; i < count; i++)
            symbols[i] = tables[i % tables.Count].Decode(ref decoder);
        position = decoder.Position;
        return symbols;
    }

    private static FrequencyTable Table(int[] frequencies, int totalBits)
    {
        var table = new FrequencyTable(frequencies.Length, totalBits);
        table.SetFrequencies(frequencies);
        return table;
    }

    [Fact]
    public void Random_tables_and_symbols_round_trip_within_a_few_bytes_of_the_ideal_cost()
    {
        var gen =
            from seed in Gen.Choose(0, int.MaxValue)
            from totalBits in Gen.Choose(2, RangeCoding.MaxTotalBits)
            from symbolBits in Gen.Choose(1, Math.Min(totalBits - 1, 12))
            from count in Gen.Choose(0, 3000)
            from skewed in Gen.Elements(false, true)
            from tableCount in Gen.Choose(1, 4)
            select (seed, totalBits, symbols: 1 << symbolBits, count, skewed, tableCount);
        Prop.ForAll(Arb.From(gen), c =>
        {
            var random = new Random(c.seed);
            int symbols = Math.Max(1, random.Next(c.symbols / 2, c.symbols + 1));
            var frequencies = Enumerable.Range(0, c.tableCount).Select(_ => RandomFrequencies(random, symbols, c.totalBits, c.skewed)).ToArray();
            var tables = frequencies.Select(f => Table(f, c.totalBits)).ToList();
            var message = Enumerable.Range(0, c.count).Select(i => DrawSymbols(random, frequencies[i % c.tableCount], 1)[0]).ToArray();

            var (stream, ideal) = Encode(tables, message);
            var decoded = Decode(tables, stream, message.Length, out long position);

            Assert.Equal(message, decoded);
            Assert.InRange(position, stream.Length, stream.Length + RangeCoding.IntervalBytes);
            // Range-coder overhead: < 2^-20 relative per symbol plus the final bytes.
            Assert.InRange(stream.Length * 8.0, 0, ideal * (1 + 1e-5) + 8 * 8);
        }).QuickCheckThrowOnFailure();
    }

    [Fact]
    public void Long_message_costs_within_a_millionth_of_the_ideal()
    {
        var random = new Random(5);
        var frequencies = RandomFrequencies(random, 512, RangeCoding.MaxTotalBits, skewed: true);
        var table = Table(frequencies, RangeCoding.MaxTotalBits);
        var message = DrawSymbols(random, frequencies, 200_000);
        var (stream, ideal) = Encode([table], message);
        Assert.Equal(message, Decode([table], stream, message.Length, out _));
        Assert.InRange(stream.Length * 8.0 - ideal, -8, ideal * 1e-5 + 64);
    }

    [Fact]
    public void Single_symbol_table_costs_nothing()
    {
        // One symbol owning the whole total: probability 1, zero bits however many symbols.
        var table = Table([1 << 20], 20);
        var message = new int[10_000];
        var (stream, ideal) = Encode([table], message);
        Assert.Equal(0, ideal);
        Assert.Empty(stream);
        Assert.Equal(message, Decode([table], stream, message.Length, out _));
    }

    [Fact]
    public void Extreme_skew_costs_the_rare_symbol_its_full_price_and_the_common_one_almost_nothing()
    {
        const int totalBits = RangeCoding.MaxTotalBits;
        var frequencies = new int[300];
        Array.Fill(frequencies, 1);
        frequencies[7] = (1 << totalBits) - 299;
        var table = Table(frequencies, totalBits);

        var common = Enumerable.Repeat(7, 100_000).ToArray();
        var (commonStream, _) = Encode([table], common);
        Assert.True(commonStream.Length <= 8, $"100,000 near-certain symbols took {commonStream.Length} bytes");
        Assert.Equal(common, Decode([table], commonStream, common.Length, out _));

        var rare = Enumerable.Range(0, 2000).Select(i => i % 2 == 0 ? 7 : i % 300 == 7 ? 8 : i % 300).ToArray();
        var (rareStream, ideal) = Encode([table], rare);
        Assert.True(ideal > 1000 * 27.9, "each rare symbol carries about 28 bits");
        Assert.InRange(rareStream.Length * 8.0, ideal - 8, ideal * (1 + 1e-5) + 64);
        Assert.Equal(rare, Decode([table], rareStream, rare.Length, out _));
    }

    [Fact]
    public void Carries_through_long_runs_of_0xFF_are_propagated()
    {
        // Always coding the top symbol of a two-symbol table pushes the low end towards 0xFF…FF,
        // then a low symbol forces a carry back through the pending 0xFF bytes.
        var table = Table([1, (1 << 16) - 1], 16);
        var message = Enumerable.Repeat(1, 5000).Concat([0]).Concat(Enumerable.Repeat(1, 5000)).Concat([0, 0, 1]).ToArray();
        var (stream, _) = Encode([table], message);
        Assert.Equal(message, Decode([table], stream, message.Length, out _));

        var rising = Table([(1 << 16) - 1, 1], 16);
        var ones = Enumerable.Repeat(1, 300).Concat(Enumerable.Repeat(0, 300)).Concat(Enumerable.Repeat(1, 300)).ToArray();
        var (risingStream, _) = Encode([rising], ones);
        Assert.Equal(ones, Decode([rising], risingStream, ones.Length, out _));
    }

    [Fact]
    public void Corrupt_streams_decode_to_something_or_fail_cleanly_and_always_finish()
    {
        var random = new Random(11);
        var frequencies = RandomFrequencies(random, 64, 24, skewed: true);
        var table = Table(frequencies, 24);
        var message = DrawSymbols(random, frequencies, 500);
        var (stream, _) = Encode([table], message);
        int failures = 0, differing = 0;
        for (int trial = 0; trial < 300; trial++)
        {
            var corrupt = (byte[])stream.Clone();
            corrupt[random.Next(corrupt.Length)] ^= (byte)(1 << random.Next(8));
            try
            {
                if (!Decode([table], corrupt, message.Length, out _).AsSpan().SequenceEqual(message))
                    differing++;
            }
            catch (InvalidDataException)
            {
                failures++;
            }
        }
        // Any other exception type would have escaped; a flip in the last bits may still decode right.
        Assert.True(failures + differing > 250, $"{failures} failures, {differing} wrong decodes of 300 corruptions");
    }

    [Fact]
    public void Encoder_rejects_symbols_outside_the_table()
    {
        var encoder = new RangeEncoder();
        Assert.Throws<ArgumentOutOfRangeException>(() => encoder.Encode(5, 0, 10));
        Assert.Throws<ArgumentOutOfRangeException>(() => encoder.Encode(8, 3, 10));
        Assert.Throws<ArgumentOutOfRangeException>(() => encoder.Encode(0, 1, (1u << RangeCoding.MaxTotalBits) + 1));
        var table = Table([3, 5], 3);
        Assert.Throws<ArgumentOutOfRangeException>(() => table.Encode(encoder, 2));
    }

    /// <summary>The encoder may give up on a chunk once its stream is sure to be too long: the bound must never exceed the final length.</summary>
    [Fact]
    public void Minimum_length_never_exceeds_the_finished_stream()
    {
        var gen =
            from seed in Gen.Choose(0, int.MaxValue)
            from count in Gen.Choose(0, 3000)
            from skewed in Gen.Elements(true, false)
            select (seed, count, skewed);
        Prop.ForAll(Arb.From(gen), c =>
        {
            var random = new Random(c.seed);
            var table = new FrequencyTable(1 + random.Next(300), 20);
            var frequencies = RandomFrequencies(random, table.Count, 20, c.skewed);
            table.SetFrequencies(frequencies);
            var encoder = new RangeEncoder();
            var bounds = new List<long>();
            foreach (int symbol in DrawSymbols(random, frequencies, c.count))
            {
                table.Encode(encoder, symbol);
                bounds.Add(encoder.MinimumLength);
            }
            long final = encoder.Finish().Length;
            Assert.All(bounds, b => Assert.True(b <= final, $"bound {b} above the final {final}"));
            // And it is not vacuous: near the end it is within the interval's bytes of the truth.
            if (bounds.Count > 0)
                Assert.True(bounds[^1] >= final - 2 * 8 - 1, $"bound {bounds[^1]} far below {final}");
        }).QuickCheckThrowOnFailure();
    }
}
