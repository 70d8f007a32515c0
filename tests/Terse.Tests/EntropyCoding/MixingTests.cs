using Terse.EntropyCoding;

namespace Terse.Tests.EntropyCoding;

/// <summary>The pieces of container version 4's mixer: fixed-point log2, counts, the match model and the mixture.</summary>
public class MixingTests
{
    [Fact]
    public void Fixed_point_log2_is_within_one_unit_of_the_exact_value()
    {
        var random = new Random(5);
        var values = Enumerable.Range(1, 5000).Select(i => (uint)i)
            .Concat(Enumerable.Range(0, 5000).Select(_ => (uint)random.NextInt64(1, uint.MaxValue + 1L)))
            .Append(uint.MaxValue);
        foreach (uint x in values)
        {
            double exact = Math.Log2(x) * FixedLog2.One;
            Assert.InRange(FixedLog2.Of(x), Math.Floor(exact) - 1, Math.Floor(exact));
        }
        Assert.Equal(0, FixedLog2.Of(1));
        Assert.Equal(31 * FixedLog2.One, FixedLog2.Of(1u << 31));
        Assert.Throws<ArgumentOutOfRangeException>(() => FixedLog2.Of(0));
    }

    [Fact]
    public void Context_counts_match_a_dictionary_of_the_last_k_tokens()
    {
        var random = new Random(9);
        var tokens = Enumerable.Range(0, 3000).Select(_ => random.Next(6)).ToArray();
        foreach (int order in new[] { 1, 2, 3, 6 })
        {
            var counts = new ContextCounts(order);
            counts.Reset();
            var expected = new Dictionary<string, Dictionary<int, int>>();
            for (int i = 0; i < tokens.Length; i++)
            {
                var history = tokens.AsSpan(0, i);
                string key = string.Join(",", Enumerable.Range(1, order).Select(k => i - k >= 0 ? tokens[i - k] : -1));
                counts.Find(history);
                var followers = expected.GetValueOrDefault(key) ?? [];
                Assert.Equal(followers.Values.Sum(), counts.Total);
                var seen = new Dictionary<int, int>();
                for (int e = counts.First; e >= 0; e = counts.Next(e))
                    seen.Add(counts.Token(e), counts.Count(e));
                Assert.Equal(followers.OrderBy(p => p.Key), seen.OrderBy(p => p.Key));
                counts.Add(history, tokens[i]);
                expected[key] = followers;
                followers[tokens[i]] = followers.GetValueOrDefault(tokens[i]) + 1;
            }
        }
    }

    [Fact]
    public void The_match_model_follows_a_repeat_and_drops_it_at_the_first_miss()
    {
        int[] phrase = [5, 9, 2, 7, 7, 1, 3, 8, 4, 6];
        int[] tokens = [.. phrase, 11, .. phrase[..6], 12, 13];
        var match = new MatchModel(shortOrder: 3, longOrder: 8);
        var predictions = new List<int>();
        for (int i = 0; i < tokens.Length; i++)
        {
            var history = tokens.AsSpan(0, i);
            predictions.Add(match.Predicted(history));
            match.Update(tokens.AsSpan(0, i + 1));
        }
        // Nothing until three tokens of the repeat are seen, then the phrase's continuation.
        int start = phrase.Length + 1;
        Assert.All(predictions.Take(start + 3), p => Assert.Equal(-1, p));
        Assert.Equal(phrase[3..6], predictions.Skip(start + 3).Take(3));
        // The repeat breaks at token 12 (the match said 3); nothing matches "… 1 12" after that.
        Assert.Equal(phrase[6], predictions[start + 6]);
        Assert.Equal(-1, predictions[^1]);
        Assert.Equal(0, match.Length);
    }

    [Fact]
    public void Mixed_tables_keep_every_token_codable_and_add_up_to_the_total()
    {
        const int vocabulary = 40;
        var random = new Random(11);
        var mixer = new TokenMixer(vocabulary, MixerSettings.Version4);
        var table = new FrequencyTable(vocabulary + 1);
        var logits = new float[vocabulary];
        mixer.Start();
        for (int step = 0; step < 2000; step++)
        {
            // Sharp, flat and broken logits: the table must hold in every case.
            for (int i = 0; i < vocabulary; i++)
                logits[i] = (step % 7) switch
                {
                    0 => float.NegativeInfinity,
                    1 => i == 3 ? float.NaN : 0,
                    2 => i * 5f,
                    _ => (float)(random.NextDouble() * 20 - 10),
                };
            int escape = step % 3 == 0 ? 0 : 1 + random.Next(1000);
            var current = escape == 0 ? new FrequencyTable(vocabulary) : table;
            mixer.SetTable(current, logits, escape);
            long sum = 0;
            for (int s = 0; s < current.Count; s++)
            {
                Assert.True(current.Frequency(s) >= 1);
                sum += current.Frequency(s);
            }
            Assert.Equal(current.Total, sum);
            if (escape > 0)
                Assert.Equal(escape, current.Frequency(vocabulary));
            // Repeating patterns, so the match and the counts have something to say.
            mixer.Update(current, step % 50 < 30 ? step % 10 : random.Next(vocabulary));
        }
    }

    /// <summary>Encoder and decoder run two mixers over the same logits; they must build the same tables.</summary>
    [Fact]
    public void Two_mixers_fed_the_same_tokens_build_identical_tables_and_the_stream_round_trips()
    {
        const int vocabulary = 64;
        var random = new Random(13);
        var tokens = Enumerable.Range(0, 4000).Select(i => i % 300 < 200 ? (i * 7 + i / 300) % vocabulary : random.Next(vocabulary)).ToArray();
        var logits = tokens.Select(_ => Enumerable.Range(0, vocabulary).Select(_ => (float)(random.NextDouble() * 6)).ToArray()).ToArray();

        var encoderMixer = new TokenMixer(vocabulary, MixerSettings.Version4);
        var table = new FrequencyTable(vocabulary);
        var encoder = new RangeEncoder(tokens.Length);
        encoderMixer.Start();
        double bits = 0;
        for (int i = 0; i < tokens.Length; i++)
        {
            encoderMixer.SetTable(table, logits[i], 0);
            bits += table.CostBits(tokens[i]);
            table.Encode(encoder, tokens[i]);
            encoderMixer.Update(table, tokens[i]);
        }
        var stream = encoder.Finish();

        var decoderMixer = new TokenMixer(vocabulary, MixerSettings.Version4);
        var decoder = new RangeDecoder(stream);
        decoderMixer.Start();
        for (int i = 0; i < tokens.Length; i++)
        {
            decoderMixer.SetTable(table, logits[i], 0);
            int token = table.Decode(ref decoder);
            Assert.Equal(tokens[i], token);
            decoderMixer.Update(table, token);
        }
        // The random logits know nothing; the repeats make the mixture far cheaper than 6 bits a token.
        Assert.True(bits < 0.6 * tokens.Length * Math.Log2(vocabulary), $"{bits / tokens.Length:F2} bits/token");
    }

    [Fact]
    public void Model_bits_are_the_logits_in_log2_units_below_the_top()
    {
        var bits = new int[5];
        TokenMixer.ModelBits([0f, -1f, float.NegativeInfinity, float.NaN, 2f], bits);
        Assert.Equal(-2 * 1.4426950408889634 * FixedLog2.One, bits[0], 0.5);
        Assert.Equal(-3 * 1.4426950408889634 * FixedLog2.One, bits[1], 0.5);
        Assert.Equal(-64 * FixedLog2.One, bits[2]);
        Assert.Equal(-64 * FixedLog2.One, bits[3]);
        Assert.Equal(0, bits[4]);
        TokenMixer.ModelBits([float.PositiveInfinity, 1f, 0f, 0f, 0f], bits);
        Assert.All(bits, b => Assert.Equal(0, b));
    }
}
