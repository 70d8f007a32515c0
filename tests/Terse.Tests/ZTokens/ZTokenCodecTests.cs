using FsCheck;
using FsCheck.Fluent;
using Terse.Neural.Checkpoints;
using TestData = Terse.Tests.Infrastructure.TestData;
using Terse.Tokenization.Llama2c;
using Terse.ZTokens;

namespace Terse.Tests.ZTokens;

/// <summary>The greedy codec and the lossless compressor: whatever the model, the round trip is exact.</summary>
public class ZTokenCodecTests
{
    /// <summary>A tiny model whose adapters and rows are perturbed, so its codes and greedy decodings are arbitrary.</summary>
    private static ZTokenModel Scrambled(int seed)
    {
        var model = ZTokenTestModels.Tiny(seed, codes: 8, segment: 6, maxCode: 4);
        ZTokenTestModels.Perturb(model, seed, 0.5f, model.Compressor, model.Decompressor);
        return model;
    }

    [Fact]
    public void DecodingACodeWithItsCorrectionsAlwaysRestoresTheSegment()
    {
        var model = Scrambled(31);
        var codec = new ZTokenCodec(model);
        var segments = Gen.Choose(1, 6).SelectMany(length => Gen.ArrayOf(Gen.Choose(0, 15), length)).ToArbitrary();
        Prop.ForAll(segments, segment =>
        {
            var code = codec.Encode(segment);
            Assert.InRange(code.Length, 1, 4);
            Assert.All(code, id => Assert.True(model.Vocabulary.IsCode(id)));
            var corrections = codec.FindCorrections(code, segment);
            Assert.Equal(segment, codec.Decode(code, segment.Length, corrections));
            // Without corrections, greedy decoding reproduces the segment exactly when none were needed.
            Assert.Equal(corrections.Count == 0, codec.Decode(code, segment.Length, Corrections.None).SequenceEqual(segment));
        }).QuickCheckThrowOnFailure();
    }

    [Fact]
    public void CodingIsDeterministicAcrossCodecs()
    {
        var model = Scrambled(32);
        int[] segment = [3, 9, 9, 1, 0, 15];
        var a = new ZTokenCodec(model);
        var b = new ZTokenCodec(model);
        Assert.Equal(a.Encode(segment), b.Encode(segment));
        var code = a.Encode(segment);
        Assert.Equal(a.FindCorrections(code, segment), b.FindCorrections(code, segment), (x, y) => x.Positions.SequenceEqual(y.Positions) && x.Tokens.SequenceEqual(y.Tokens));
    }

    [Fact]
    public void BadArgumentsAreRefused()
    {
        var model = Scrambled(33);
        var codec = new ZTokenCodec(model);
        var v = model.Vocabulary;
        Assert.Throws<ArgumentException>(() => codec.Encode([]));
        Assert.Throws<ArgumentException>(() => codec.Encode(new int[7]));
        Assert.Throws<ArgumentOutOfRangeException>(() => codec.Encode([16]));
        Assert.Throws<ArgumentException>(() => codec.Decode([], 3, Corrections.None));
        Assert.Throws<ArgumentOutOfRangeException>(() => codec.Decode([5], 3, Corrections.None));
        Assert.Throws<InvalidDataException>(() => codec.Decode([v.FirstCode], 2, new Corrections([4], [1])));
    }

    /// <summary>stories260K extended with a small, untrained Z vocabulary (decoder = base, since LoRA's B starts at 0; adapters perturbed).</summary>
    internal static ZTokenModel Stories(int seed = 40, bool perturb = true)
    {
        var model = ZTokenModel.Create(Llama2cCheckpoint.Load(TestData.Path("models/stories260K.bin")), "stories260K",
            new ZTokenShape(Codes: 16, SegmentLength: 8, MaxCodeLength: 4, LoraRank: 2, LoraAlpha: 4), bos: 1, seed);
        if (perturb)
            ZTokenTestModels.Perturb(model, seed, 0.2f, model.Compressor);
        return model;
    }

    [Fact]
    public void CompressingAnyTextRoundTripsExactly()
    {
        var model = Stories();
        var tokenizer = Llama2cTokenizer.Stories260K;
        var repairing = new ZTokenCompressor(model, tokenizer);
        var strict = new ZTokenCompressor(model, tokenizer, new ZTokenCompressionOptions(Repair: false));
        var searching = new ZTokenCompressor(model, tokenizer, new ZTokenCompressionOptions(Search: true));
        var texts = Gen.OneOf(
                Gen.Elements("Once upon a time, there was a little girl named Lily. She loved to play outside.", "The cat sat.", "", "a", "\n\n", "Tom and Sue went to the park to see the big tree."),
                ArbMap.Default.GeneratorFor<string>().Where(s => s is not null && s.Length < 60))
            .ToArbitrary();
        Prop.ForAll(texts, text =>
        {
            var bytes = System.Text.Encoding.UTF8.GetBytes(text);
            var ids = tokenizer.Encode(text);
            if (!tokenizer.DecodeToBytes(ids).AsSpan().SequenceEqual(bytes))
                return; // text the tokenizer does not reproduce (lone surrogates) is the CLI's TokenizeExactly business
            int? greedyBytes = null;
            foreach (var compressor in new[] { repairing, strict, searching })
            {
                var (container, report) = compressor.Compress(bytes, ids);
                Assert.True(report.Exact);
                Assert.Equal(bytes, compressor.Decompress(container));
                Assert.Equal(report.Segments, report.ExactSegments + report.RepairedSegments + report.RawSegments);
                Assert.Equal(ids.Length, report.InputTokens);
                Assert.Equal(container.Length, report.OutputBytes);
                if (compressor == strict)
                    Assert.Equal(0, report.RepairedSegments);
                if (compressor == repairing)
                    greedyBytes = container.Length;
                // Each segment keeps the cheapest of its candidates, the greedy code among them.
                if (compressor == searching)
                    Assert.True(container.Length <= greedyBytes, $"search {container.Length} > greedy {greedyBytes}");
            }
        }).Check(Config.QuickThrowOnFailure.WithMaxTest(25).WithQuietOnSuccess(true));
    }

    [Fact]
    public void A_minimum_length_extends_the_greedy_code_and_the_search_keeps_the_cheapest_candidate()
    {
        var model = Scrambled(37);
        var codec = new ZTokenCodec(model);
        var segments = Gen.Choose(1, 6).SelectMany(length => Gen.ArrayOf(Gen.Choose(0, 15), length)).ToArbitrary();
        Prop.ForAll(segments, segment =>
        {
            var greedy = codec.Encode(segment);
            Assert.Equal(greedy, codec.Encode(segment, minLength: 1));
            for (int length = 1; length <= 4; length++)
            {
                var forced = codec.Encode(segment, length);
                Assert.True(forced.Length >= length);
                // Up to where the greedy code stopped the choices are the same; a code that wanted to stop
                // before the minimum stops exactly at it.
                Assert.Equal(greedy[..Math.Min(greedy.Length, forced.Length)], forced[..Math.Min(greedy.Length, forced.Length)]);
                if (greedy.Length < length)
                    Assert.Equal(length, forced.Length);
            }
            var code = codec.EncodeSearch(segment, (candidate, s) =>
            {
                int fixes = codec.FindCorrections(candidate, s).Count;
                return (fixes * 100.0 + candidate.Length, fixes == 0);
            });
            var corrections = codec.FindCorrections(code, segment);
            Assert.True(corrections.Count <= codec.FindCorrections(greedy, segment).Count);
            Assert.Equal(segment, codec.Decode(code, segment.Length, corrections));
        }).QuickCheckThrowOnFailure();
    }

    [Fact]
    public void AContainerNeedsTheModelAndTokenizerThatMadeIt()
    {
        var tokenizer = Llama2cTokenizer.Stories260K;
        var text = "Once upon a time, there was a dog."u8.ToArray();
        var ids = tokenizer.Encode("Once upon a time, there was a dog.");
        var (container, _) = new ZTokenCompressor(Stories(41), tokenizer).Compress(text, ids);
        var other = new ZTokenCompressor(Stories(42), tokenizer);
        Assert.Contains("Z-token model", Assert.Throws<InvalidDataException>(() => other.Decompress(container)).Message);
        Assert.Throws<ArgumentException>(() => new ZTokenCompressor(Stories(41), tokenizer).Compress("x"u8, ids));
    }
}
