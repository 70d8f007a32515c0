using System.Buffers.Binary;
using System.Text;
using FsCheck;
using FsCheck.Fluent;
using Terse.EntropyCoding;
using Terse.IO;
using TestData = Terse.Tests.Infrastructure.TestData;

namespace Terse.Tests.EntropyCoding;

public class EntropyCodecTests
{
    private static readonly ByteMergeTokenizer Bytes = new();
    private static readonly LettersTokenizer Letters = new();

    private static AdaptiveContextModel ModelFor(Terse.Tokenization.Tokenizer tokenizer, int window = 64, string name = "adaptive") =>
        new(tokenizer.VocabularySize, order: 2, maxSessionTokens: window, name: name);

    /// <param name="context">Tokens of context the model holds (the model's window is <paramref name="window"/>).</param>
    /// <param name="brotli">Let Brotli take the chunks it packs smaller; off where a test measures the model itself.</param>
    /// <param name="version">Container version written (3: the model alone, which a test of the model's cost needs).</param>
    private static EntropyCodec Codec(Terse.Tokenization.Tokenizer tokenizer, int degree = 1, int? context = null, int window = 64,
        int? carry = null, int? chunkBytes = null, bool brotli = true, int? version = null) =>
        new(ModelFor(tokenizer, window), tokenizer, new EntropyCodecOptions(degree, context, carry, chunkBytes, brotli, version));

    private const string Story = "Once upon a time, there was a little girl named Lily. She loved to play outside in the park. " +
        "One day, she saw a big, red ball. She wanted to play with it, but it was too high.\n\n";

    [Fact]
    public void Random_bytes_round_trip_with_a_byte_fallback_tokenizer()
    {
        var gen =
            from seed in Gen.Choose(0, int.MaxValue)
            from length in Gen.Choose(0, 600)
            from kind in Gen.Choose(0, 2)
            select (seed, length, kind);
        Prop.ForAll(Arb.From(gen), c =>
        {
            var input = RandomInput(new Random(c.seed), c.length, c.kind);
            int context = 1 + c.seed % 40;
            var codec = Codec(Bytes, degree: 2, context: context, carry: c.seed / 40 % context, chunkBytes: 1 + c.seed / 7 % 300);
            var result = codec.Compress(input);
            Assert.Equal(input, codec.Decompress(result.Container));
            Assert.Equal(0, result.RawBytes);
            AssertWithinExpansionBound(input, result);
        }).QuickCheckThrowOnFailure();
    }

    [Fact]
    public void Random_bytes_round_trip_with_a_tokenizer_that_cannot_represent_them()
    {
        var gen =
            from seed in Gen.Choose(0, int.MaxValue)
            from length in Gen.Choose(0, 400)
            from kind in Gen.Choose(0, 2)
            select (seed, length, kind);
        Prop.ForAll(Arb.From(gen), c =>
        {
            var input = RandomInput(new Random(c.seed), c.length, c.kind);
            int context = 1 + c.seed % 40;
            var codec = Codec(Letters, degree: 2, context: context, carry: c.seed / 40 % context, chunkBytes: 1 + c.seed / 7 % 300);
            var result = codec.Compress(input);
            Assert.Equal(input, codec.Decompress(result.Container));
            AssertWithinExpansionBound(input, result);
        }).QuickCheckThrowOnFailure();
    }

    /// <summary>
    /// The documented bound: a container is at most the input plus its header and 3 bytes per chunk
    /// (a stored chunk's table entry), the header being magic, version, the four length-prefixed
    /// names and identities, precision, window, carry, original length, CRC, chunk count and trailing CRC.
    /// </summary>
    internal static void AssertWithinExpansionBound(byte[] input, EntropyCompressionResult result)
    {
        var info = EntropyCodec.ReadInfo(result.Container);
        static int Prefixed(string hexOrText, bool hex) => hex ? 1 + hexOrText.Length / 2 : 1 + Encoding.UTF8.GetByteCount(hexOrText);
        int header = 4 + 1 + Prefixed(info.ModelName, false) + Prefixed(info.ModelIdentity, true) + Prefixed(info.TokenizerName, false)
            + Prefixed(info.TokenizerFingerprint, true) + 1 + Leb128Bytes(info.ContextWindow) + Leb128Bytes(info.ContextCarry)
            + Leb128Bytes(input.Length) + 4 + Leb128Bytes(info.ChunkCount) + 4;
        Assert.True(result.OutputBytes <= input.Length + header + 3 * info.ChunkCount,
            $"{result.OutputBytes} bytes for {input.Length} input bytes, a {header}-byte header and {info.ChunkCount} chunks");
    }

    private static int Leb128Bytes(long value) => value < 128 ? 1 : 1 + Leb128Bytes(value >> 7);

    /// <summary>Kind 0: any bytes; 1: valid UTF-8 with any characters; 2: mostly lowercase text with a few odd bytes.</summary>
    private static byte[] RandomInput(Random random, int length, int kind)
    {
        switch (kind)
        {
            case 0:
                var bytes = new byte[length];
                random.NextBytes(bytes);
                return bytes;
            case 1:
                var text = new StringBuilder();
                while (text.Length < length)
                {
                    int code = random.Next(4) switch { 0 => random.Next(0x20, 0x7F), 1 => random.Next(0xA0, 0x800), 2 => random.Next(0x4E00, 0x9FFF), _ => random.Next(0x1F600, 0x1F650) };
                    text.Append(char.ConvertFromUtf32(code));
                }
                return Encoding.UTF8.GetBytes(text.ToString());
            default:
                var mostly = new byte[length];
                for (int i = 0; i < length; i++)
                    mostly[i] = random.Next(20) == 0 ? (byte)random.Next(256) : (byte)" abcdefghij.ead"[random.Next(15)];
                return mostly;
        }
    }

    [Fact]
    public void Only_what_the_tokenizer_cannot_represent_is_stored_raw()
    {
        var input = Encoding.UTF8.GetBytes("the cat sat. The Dog sat on the mat!\nmore text here ü\u00FF");
        var codec = Codec(Letters);
        var prepared = codec.Prepare(input);
        // 'T', 'D', '!', '\n', 'ü' (2 bytes) and 'ÿ' (2 bytes) are outside the letters alphabet, and
        // the three spaces before 'T', 'D' and 'ü' would end a token segment, where the tokenizer strips them.
        Assert.Equal(1 + 1 + 1 + 1 + 2 + 2 + 3, prepared.RawByteCount);
        Assert.Equal(input, codec.Decompress(codec.Compress(prepared).Container));
    }

    [Fact]
    public void Escapes_cost_a_few_bits_each_and_are_only_used_when_needed()
    {
        var lines = Enumerable.Range(0, 300).Select(i => i % 3 == 0 ? "the cat sat on the mat." : i % 3 == 1 ? "a dog ran to the park." : "the end.").ToArray();
        var withNewlines = Encoding.UTF8.GetBytes(string.Join("\n", lines));
        var withSpaces = Encoding.UTF8.GetBytes(string.Join(" ", lines));
        var codec = Codec(Letters, window: 4000, brotli: false);
        var escaped = codec.Compress(withNewlines);
        var plain = codec.Compress(withSpaces);
        Assert.Equal(withNewlines, codec.Decompress(escaped.Container));
        Assert.True(EntropyCodec.ReadInfo(escaped.Container).Escapes);
        Assert.False(EntropyCodec.ReadInfo(plain.Container).Escapes);
        Assert.Equal(299, escaped.RawBytes);
        double bitsPerEscape = (escaped.OutputBytes - plain.OutputBytes) * 8.0 / 299;
        Assert.True(bitsPerEscape < 12, $"{bitsPerEscape:F1} bits per escaped newline");
    }

    [Theory]
    [InlineData("ÄÖÜ")]
    [InlineData("\n")]
    [InlineData("!the end?")]
    [InlineData("the end\n\n")]
    public void Inputs_starting_or_ending_with_raw_bytes_round_trip(string text)
    {
        var input = Encoding.UTF8.GetBytes(text);
        var codec = Codec(Letters, context: 3);
        var result = codec.Compress(input);
        Assert.Equal(input, codec.Decompress(result.Container));
        Assert.Equal(1, result.Chunks);
        // Escapes are coded, or the chunk is stored when that is smaller (a short input).
        Assert.True(result.StoredChunks == 1 || EntropyCodec.ReadInfo(result.Container).Escapes);
    }

    [Fact]
    public void Whitespace_the_tokenizer_normalises_is_kept_exactly()
    {
        var input = Encoding.UTF8.GetBytes("  two  spaces   and three.   \tend  ");
        var codec = Codec(Letters);
        var result = codec.Compress(input);
        Assert.Equal(input, codec.Decompress(result.Container));
        Assert.True(result.RawBytes < input.Length / 2, $"{result.RawBytes} of {input.Length} bytes raw");
    }

    [Fact]
    public void Output_is_identical_whatever_the_degree_of_parallelism_and_decodes_with_any_degree()
    {
        var input = Encoding.UTF8.GetBytes(string.Concat(Enumerable.Repeat(Story, 12)));
        var containers = new[] { 1, 2, 3, 8 }.Select(d => Codec(Bytes, degree: d, context: 37, chunkBytes: 200).Compress(input).Container).ToArray();
        Assert.All(containers, c => Assert.Equal(containers[0], c));
        foreach (int degree in new[] { 1, 2, 5 })
            Assert.Equal(input, Codec(Bytes, degree: degree, context: 37, chunkBytes: 200).Decompress(containers[0]));
        Assert.True(EntropyCodec.ReadInfo(containers[0]).ChunkCount > 8, "the text spans many chunks");
    }

    [Fact]
    public void Each_worker_opens_one_session_and_reuses_it_for_its_chunks()
    {
        var model = ModelFor(Bytes);
        var codec = new EntropyCodec(model, Bytes, new EntropyCodecOptions(2, 16, ChunkBytes: 40));
        var result = codec.Compress(Encoding.UTF8.GetBytes(string.Concat(Enumerable.Repeat(Story, 4))));
        Assert.True(result.Chunks >= 20);
        Assert.InRange(model.SessionsCreated, 1, 2);
    }

    [Fact]
    public void A_predictable_text_compresses_and_the_size_matches_the_models_surprisal()
    {
        var input = Encoding.UTF8.GetBytes(string.Concat(Enumerable.Repeat(Story, 6)));
        var codec = Codec(Bytes, window: 2000, brotli: false, version: 3);
        var result = codec.Compress(input);
        Assert.Equal(1, result.Chunks);
        Assert.Equal(input, codec.Decompress(result.Container));
        Assert.True(result.BitsPerByte < 3, $"{result.BitsPerByte:F2} bits/byte on repeated text");

        var surprisal = codec.Surprisal(input);
        Assert.Equal(result.InputTokens, surprisal.Bits.Length);
        Assert.Equal(result.InputTokens, surprisal.Tokens.Length);
        // Version 3's streams cost the model's surprisal plus a few bytes per chunk and the tiny quantisation loss.
        double codedBits = result.CodedBytes * 8.0;
        Assert.InRange(codedBits - surprisal.TotalBits, -8.0 * result.Chunks, 8.0 * result.Chunks + 0.001 * surprisal.TotalBits);
        Assert.All(surprisal.Bits, b => Assert.True(b >= 0 && double.IsFinite(b)));

        // Version 4's match model copies the five repeats, which the adaptive order-2 model only
        // learns to predict (145 bytes against 207 when written).
        var mixing = Codec(Bytes, window: 2000, brotli: false);
        var mixed = mixing.Compress(input);
        Assert.Equal(input, mixing.Decompress(mixed.Container));
        Assert.True(mixed.CodedBytes * 4 < result.CodedBytes * 3, $"mixed {mixed.CodedBytes} bytes against {result.CodedBytes} for the model alone");
    }

    [Fact]
    public void Surprisal_of_a_token_sequence_follows_the_sliding_window()
    {
        var tokens = Bytes.Encode(string.Concat(Enumerable.Repeat("abcabc", 20)));
        var whole = Codec(Bytes, window: 200).Surprisal(tokens);
        // Window 59, no carry: tokens 0..59 see the same context as without a limit; token 60 starts cold.
        var reset = Codec(Bytes, window: 200, context: 59, carry: 0).Surprisal(tokens);
        Assert.Equal(whole.Take(60), reset.Take(60));
        Assert.Equal(whole[0], reset[60], 9);
        Assert.True(reset.Sum() > whole.Sum());

        // With a carry of 10, token 60 is predicted from tokens 50..59 alone.
        var carried = Codec(Bytes, window: 200, context: 59, carry: 10).Surprisal(tokens);
        Assert.Equal(whole.Take(60), carried.Take(60));
        var fromCarry = Codec(Bytes, window: 200).Surprisal(tokens.AsSpan(50, 11));
        Assert.Equal(fromCarry[^1], carried[60], 9);
        Assert.True(carried.Sum() < reset.Sum());
    }

    [Theory]
    [InlineData(1, 0)]
    [InlineData(5, 0)]
    [InlineData(5, 4)]
    [InlineData(16, 3)]
    public void Model_positions_fed_are_what_the_policy_says(int window, int carry)
    {
        var model = new CountingModel(new AdaptiveContextModel(Bytes.VocabularySize, maxSessionTokens: 64));
        var codec = new EntropyCodec(model, Bytes, new EntropyCodecOptions(1, window, carry));
        foreach (int length in new[] { 0, 1, 2, window, window + 1, window + 2, 3 * window + 7 })
        {
            var tokens = Enumerable.Range(0, length).Select(i => 97 + i % 5).ToArray();
            model.Fed = 0;
            Assert.Equal(length, codec.Surprisal(tokens).Length);
            Assert.Equal(new ContextPolicy(window, carry).PositionsFed(length), model.Fed);
        }
    }

    [Fact]
    public void Empty_input_round_trips()
    {
        var codec = Codec(Letters);
        var result = codec.Compress([]);
        Assert.Equal(0, result.InputTokens);
        Assert.Empty(codec.Decompress(result.Container));
        var info = EntropyCodec.ReadInfo(result.Container);
        Assert.Equal(0, info.OriginalLength);
        Assert.Equal(0, info.ChunkCount);
    }

    [Fact]
    public void Real_text_round_trips()
    {
        var input = TestData.ReadBytes("text/tinystories_valid_head.txt").AsSpan(0, 20_000).ToArray();
        var codec = Codec(Bytes, degree: 2, window: 256);
        var result = codec.Compress(input);
        Assert.Equal(input, codec.Decompress(result.Container));
        Assert.True(result.BitsPerByte < 8);
    }

    [Fact]
    public void Container_says_which_model_and_tokenizer_it_needs()
    {
        var model = ModelFor(Bytes, name: "tiny-model");
        var result = new EntropyCodec(model, Bytes, new EntropyCodecOptions(BrotliFallback: false)).Compress(Encoding.UTF8.GetBytes(Story));
        var info = EntropyCodec.ReadInfo(result.Container);
        Assert.Equal("tiny-model", info.ModelName);
        Assert.Equal(Convert.ToHexStringLower(model.Identity), info.ModelIdentity);
        Assert.Equal("test-bytes", info.TokenizerName);
        Assert.Equal(Convert.ToHexStringLower(Bytes.Fingerprint), info.TokenizerFingerprint);
        Assert.Equal(Story.Length, info.OriginalLength);
        Assert.Equal(result.InputTokens, info.TokenCount);
    }

    [Fact]
    public void A_different_model_is_refused_naming_both_identities()
    {
        var made = ModelFor(Bytes, name: "model-a");
        var other = new AdaptiveContextModel(Bytes.VocabularySize, order: 3, maxSessionTokens: 64, name: "model-b");
        var container = new EntropyCodec(made, Bytes).Compress(Encoding.UTF8.GetBytes(Story)).Container;
        var error = Assert.Throws<ModelMismatchException>(() => new EntropyCodec(other, Bytes).Decompress(container));
        Assert.Contains("model-a", error.Message);
        Assert.Contains("model-b", error.Message);
        Assert.Contains(Convert.ToHexStringLower(made.Identity), error.Message);
        Assert.Contains(Convert.ToHexStringLower(other.Identity), error.Message);
    }

    [Fact]
    public void A_different_tokenizer_is_refused_naming_both()
    {
        var model = new AdaptiveContextModel(Bytes.VocabularySize);
        var container = new EntropyCodec(model, Bytes).Compress(Encoding.UTF8.GetBytes("the end.")).Container;
        var error = Assert.Throws<ModelMismatchException>(() => new EntropyCodec(model, Letters).Decompress(container));
        Assert.Contains("test-bytes", error.Message);
        Assert.Contains("test-letters", error.Message);
    }

    [Fact]
    public void Tokens_outside_the_models_vocabulary_are_refused_at_compression()
    {
        var small = new AdaptiveContextModel(100);
        var error = Assert.Throws<ArgumentException>(() => new EntropyCodec(small, Bytes).Compress(Encoding.UTF8.GetBytes("the ÿ")));
        Assert.Contains("outside the vocabulary", error.Message);
    }

    [Fact]
    public void Chunks_that_do_not_pay_are_stored_and_the_rest_coded()
    {
        var text = Encoding.UTF8.GetBytes(string.Concat(Enumerable.Repeat(Story, 3)));
        var noise = RandomBytes(new Random(11), 700);
        byte[] input = [.. text, .. noise, .. text];
        var codec = Codec(Bytes, window: 2000, chunkBytes: 256, degree: 2, brotli: false);
        var result = codec.Compress(input);
        Assert.Equal(input, codec.Decompress(result.Container));
        var info = EntropyCodec.ReadInfo(result.Container);
        Assert.Equal(result.StoredChunks, info.StoredChunks);
        // The noise (and only about that much) is stored; the stories are coded.
        Assert.InRange(result.StoredBytes, 700 - 2 * 256, 700 + 2 * 256);
        Assert.True(result.StoredChunks >= 2 && result.StoredChunks < result.Chunks);
        Assert.True(result.CodedBytes < input.Length - result.StoredBytes, $"{result.CodedBytes} coded bytes for {input.Length - result.StoredBytes} bytes");
        AssertWithinExpansionBound(input, result);
    }

    /// <summary>
    /// A line repeated at a distance beyond the model's window of 8 tokens: the model cannot see the
    /// repeats, Brotli can, so those chunks become Brotli streams, exactly what Brotli makes of
    /// them; noise stays stored. No chunk costs more than Brotli would. (With a real model, stories
    /// coded beside logs packed: LlamaEntropyTests.)
    /// </summary>
    [Fact]
    public void Chunks_Brotli_packs_smaller_than_the_model_are_packed_and_noise_is_stored()
    {
        var random = new Random(12);
        var line = new string(Enumerable.Range(0, 90).Select(_ => (char)random.Next('a', 'z' + 1)).ToArray()) + "\n";
        byte[] repeats = Encoding.UTF8.GetBytes(string.Concat(Enumerable.Repeat(line, 12)));
        byte[] input = [.. repeats, .. RandomBytes(new Random(13), 1_200)];
        var codec = Codec(Bytes, context: 8, carry: 2, chunkBytes: 400, degree: 2);
        var result = codec.Compress(input);
        Assert.Equal(input, codec.Decompress(result.Container));
        Assert.Equal(result.BrotliChunks, EntropyCodec.ReadInfo(result.Container).BrotliChunks);
        Assert.InRange(result.BrotliBytes, repeats.Length - 400, repeats.Length + 400);
        Assert.InRange(result.StoredBytes, 1_200 - 400, 1_200);
        Assert.Equal(result.Chunks, result.BrotliChunks + result.StoredChunks);
        AssertNoChunkCostsMoreThanBrotli(codec, input, result.Container);
        AssertWithinExpansionBound(input, result);
    }

    /// <summary>Every chunk's table entry and payload together are at most what a Brotli entry of its bytes would take.</summary>
    internal static void AssertNoChunkCostsMoreThanBrotli(EntropyCodec codec, byte[] input, byte[] container)
    {
        var entries = EntropyContainer.Read(container).Header.Chunks;
        var ranges = codec.Prepare(input).Chunks.Select(c => c.Bytes).ToArray();
        Assert.Equal(ranges.Length, entries.Length);
        for (int i = 0; i < entries.Length; i++)
        {
            var bytes = input.AsSpan(ranges[i]);
            var buffer = new byte[bytes.Length + 100];
            Assert.True(System.IO.Compression.BrotliEncoder.TryCompress(bytes, buffer, out int brotli, 11, 22));
            int brotliCost = new ChunkEntry(ChunkMode.Brotli, brotli, 0, bytes.Length).TableBytes + brotli;
            int cost = entries[i].TableBytes + entries[i].PayloadLength;
            Assert.True(cost <= brotliCost, $"chunk {i} ({entries[i].Mode}) costs {cost} bytes, Brotli {brotliCost}");
            if (entries[i].Mode == ChunkMode.Brotli)
                Assert.Equal(brotli, entries[i].PayloadLength);
        }
    }

    [Fact]
    public void A_version_2_container_cannot_hold_Brotli_chunks()
    {
        var repeated = Encoding.UTF8.GetBytes(string.Concat(Enumerable.Repeat("qzxv wkjy pfgb mnhl tsrd ", 40)));
        var codec = Codec(Bytes, context: 4, carry: 0);
        var container = codec.Compress(repeated).Container;
        Assert.Equal(1, EntropyCodec.ReadInfo(container).BrotliChunks);
        Assert.Equal(repeated, codec.Decompress(container));
        var old = AsVersion2(container);
        var error = Assert.Throws<InvalidDataException>(() => codec.Decompress(old));
        Assert.Contains("unknown mode 3", error.Message);
    }

    [Fact]
    public void Incompressible_input_costs_at_most_the_header_and_three_bytes_per_chunk()
    {
        var random = new Random(3);
        foreach (int length in new[] { 1, 2, 100, 5_000, 40_000 })
        {
            var input = RandomBytes(random, length);
            foreach (var tokenizer in new Terse.Tokenization.Tokenizer[] { Bytes, Letters })
            {
                var codec = Codec(tokenizer, degree: 2, chunkBytes: 4096);
                var result = codec.Compress(input);
                Assert.Equal(input, codec.Decompress(result.Container));
                Assert.Equal(result.Chunks, result.StoredChunks);
                Assert.Equal(length, result.StoredBytes);
                AssertWithinExpansionBound(input, result);
            }
        }
    }

    [Fact]
    public void A_container_of_another_version_is_refused_saying_which_versions()
    {
        var container = Codec(Bytes).Compress(Encoding.UTF8.GetBytes(Story)).Container;
        Assert.Equal(EntropyContainer.Version, container[4]);
        foreach (byte version in new byte[] { 0, 1, 5, 255 })
        {
            var other = (byte[])container.Clone();
            other[4] = version;
            FixChecksum(other);
            var error = Assert.Throws<InvalidDataException>(() => Codec(Bytes).Decompress(other));
            Assert.Contains($"version {version} is not supported", error.Message);
            Assert.Contains("reads versions 2 to 4", error.Message);
            Assert.Throws<InvalidDataException>(() => EntropyCodec.ReadInfo(other));
        }
        // Even a bare magic and version says so, before any checksum.
        var bare = Assert.Throws<InvalidDataException>(() => Codec(Bytes).Decompress([.. "TSEC"u8, 1]));
        Assert.Contains("version 1 is not supported", bare.Message);
    }

    [Fact]
    public void Every_truncation_and_every_single_bit_flip_is_detected()
    {
        // Three chunks: two coded, the random bytes stored.
        var codec = Codec(Bytes, context: 10, chunkBytes: 40);
        var input = Encoding.UTF8.GetBytes("the end. " + Story[..60]).Concat(RandomBytes(new Random(5), 30)).ToArray();
        var result = codec.Compress(input);
        Assert.Equal(1, result.StoredChunks);
        Assert.Equal(3, result.Chunks);
        var container = result.Container;
        for (int length = 0; length < container.Length; length++)
            Assert.Throws<InvalidDataException>(() => codec.Decompress(container.AsSpan(0, length)));
        for (int bit = 0; bit < container.Length * 8; bit++)
        {
            var flipped = (byte[])container.Clone();
            flipped[bit / 8] ^= (byte)(1 << (bit % 8));
            Assert.Throws<InvalidDataException>(() => codec.Decompress(flipped));
        }
    }

    /// <summary>
    /// 12,000 malformed inputs: random bytes, random bytes behind the right magic and a version the
    /// reader knows (2 or 3), and mutations of real containers of both versions — half of them with
    /// the container checksum recomputed, so the
    /// parser and the decoder behind the checksum see the damage too. Each must either fail with
    /// InvalidDataException, or with ModelMismatchException when a forged checksum makes a changed
    /// model identity or tokenizer fingerprint look genuine, or (when only informational bytes
    /// changed) give back the exact original.
    /// </summary>
    [Fact]
    public void Fuzzed_containers_fail_cleanly_or_decode_exactly()
    {
        var random = new Random(2024);
        var codecs = new[] { Codec(Bytes, context: 12, chunkBytes: 48), Codec(Letters, context: 12, carry: 5, chunkBytes: 48) };
        var version3 = new[] { Codec(Bytes, context: 12, chunkBytes: 48, version: 3), Codec(Letters, context: 12, carry: 5, chunkBytes: 48, version: 3) };
        var originals = new[] { "", "a", "the end.", Story[..90], "\u00FF\u0000binary\u0001", "Tea\nfor two!", "the end\n\n" }
            .Select(Encoding.UTF8.GetBytes)
            // Random bytes after text: chunks stored verbatim beside coded ones.
            .Append([.. Encoding.UTF8.GetBytes(Story[..50]), .. RandomBytes(new Random(7), 60)])
            .Append([.. RandomBytes(new Random(8), 50), .. Encoding.UTF8.GetBytes("the cat sat. the cat sat. the cat sat. the end.")])
            // Repeats beyond the model's 12-token window: Brotli chunks.
            .Append(Encoding.UTF8.GetBytes(string.Concat(Enumerable.Repeat("qzxv wkjy pfgb mnhl ", 6))))
            .ToArray();
        // Every other pair of containers in version 3, half of those relabelled version 2 (the same
        // layout; these test models have one arithmetic): the readers of old versions are fuzzed too.
        var results = originals.Select((o, i) => (i % 4 < 2 ? codecs : version3)[i % 2].Compress(o)).ToArray();
        Assert.True(results.Count(r => r.StoredChunks > 0 && r.StoredChunks < r.Chunks) >= 2, "some containers mix stored and coded chunks");
        var containers = results.Select((r, i) => i % 8 < 6 ? r.Container : AsVersion2(r.Container)).ToArray();
        Assert.Contains(containers, c => c[4] == 2);
        Assert.Contains(containers, c => c[4] == 3);
        Assert.Contains(containers, c => c[4] == EntropyContainer.Version && EntropyCodec.ReadInfo(c).BrotliChunks > 0);
        for (int i = 0; i < originals.Length; i++)
            Assert.Equal(originals[i], codecs[i % 2].Decompress(containers[i]));
        int rejected = 0, exact = 0, mismatched = 0;
        for (int trial = 0; trial < 12_000; trial++)
        {
            int which = random.Next(originals.Length);
            byte[] candidate = (trial % 6) switch
            {
                0 => RandomBytes(random, random.Next(0, 80)),
                1 => [.. "TSEC"u8, (byte)random.Next(EntropyContainer.OldestVersion, EntropyContainer.Version + 1), .. RandomBytes(random, random.Next(0, 80))],
                3 => MutateChunkTable(random, containers[which]),
                _ => Mutate(random, containers[which], fixChecksum: trial % 2 == 0),
            };
            if (trial % 6 == 1 && random.Next(2) == 0)
                FixChecksum(candidate);
            try
            {
                var decoded = codecs[which % 2].Decompress(candidate);
                Assert.Equal(originals[which], decoded);
                exact++;
            }
            catch (InvalidDataException)
            {
                rejected++;
            }
            catch (ModelMismatchException)
            {
                mismatched++;
            }
        }
        Assert.Equal(12_000, rejected + exact + mismatched);
        Assert.True(rejected > 10_000, $"only {rejected} rejected");
    }

    private static byte[] AsVersion2(byte[] container)
    {
        var old = (byte[])container.Clone();
        old[4] = 2;
        FixChecksum(old);
        return old;
    }

    /// <summary>Damages the chunk table (modes, lengths, token counts) and forges the checksum.</summary>
    private static byte[] MutateChunkTable(Random random, byte[] container)
    {
        var header = EntropyContainer.Read(container);
        var mutated = (byte[])container.Clone();
        if (header.Header.Chunks.Length == 0)
            return Mutate(random, container, fixChecksum: true);
        int tableEnd = header.PayloadOffsets[0];
        int tableStart = tableEnd - header.Header.Chunks.Sum(c => c.TableBytes);
        int at = random.Next(tableStart, tableEnd);
        if (random.Next(2) == 0)
            mutated[at] ^= (byte)(1 << random.Next(3)); // the mode bits and the lowest length bit
        else
            mutated[at] = (byte)random.Next(256);
        FixChecksum(mutated);
        return mutated;
    }

    private static byte[] RandomBytes(Random random, int length)
    {
        var bytes = new byte[length];
        random.NextBytes(bytes);
        return bytes;
    }

    private static byte[] Mutate(Random random, byte[] container, bool fixChecksum)
    {
        var bytes = new List<byte>(container);
        int edits = 1 + random.Next(3);
        for (int e = 0; e < edits && bytes.Count > 0; e++)
        {
            int at = random.Next(bytes.Count);
            switch (random.Next(5))
            {
                case 0: bytes[at] ^= (byte)(1 << random.Next(8)); break;
                case 1: bytes[at] = (byte)random.Next(256); break;
                case 2: bytes.RemoveAt(at); break;
                case 3: bytes.Insert(at, (byte)random.Next(256)); break;
                default: bytes.RemoveRange(at, bytes.Count - at); break;
            }
        }
        var mutated = bytes.ToArray();
        if (fixChecksum && mutated.Length >= 9)
            FixChecksum(mutated);
        return mutated;
    }

    private static void FixChecksum(byte[] container)
    {
        if (container.Length < 4)
            return;
        BinaryPrimitives.WriteUInt32LittleEndian(container.AsSpan(container.Length - 4), Crc32C.Compute(container.AsSpan(0, container.Length - 4)));
    }
}
