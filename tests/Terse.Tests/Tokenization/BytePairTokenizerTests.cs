using System.Text;
using FsCheck;
using FsCheck.Fluent;
using Terse.Tokenization;
using Terse.Tokenization.BytePair;

namespace Terse.Tests.Tokenization;

public class BytePairTokenizerTests
{
    public static TheoryData<string> Tokenizers() => ShippedTokenizers.Theory();

    [Theory]
    [MemberData(nameof(Tokenizers))]
    public void DecodeOfEncodeIsTheTextForRandomUnicode(string name)
    {
        var tokenizer = ShippedTokenizers.Get(name);
        Prop.ForAll(TokenizerGenerators.PatternText, text =>
        {
            foreach (bool allowSpecial in new[] { false, true })
            {
                var ids = tokenizer.Encode(text, new EncodeOptions(AllowSpecialTokens: allowSpecial));
                var decoded = tokenizer.Decode(ids);
                if (decoded != ShippedTokenizers.RoundTripOf(name, text))
                    throw new Exception($"'{text}' came back as '{decoded}'");
            }
        }).Check(TokenizerGenerators.Config(1500));
    }

    [Theory]
    [MemberData(nameof(Tokenizers))]
    public void SpecialTokenTextIsTextUnlessAllowed(string name)
    {
        var tokenizer = ShippedTokenizers.Get(name);
        foreach (var (text, id) in tokenizer.SpecialTokens.Take(8))
        {
            var sample = "a" + text + " b";
            // GPT-2's <|endoftext|> is also an ordinary vocabulary entry; merges never produce it.
            Assert.DoesNotContain(id, tokenizer.Encode(sample));
            Assert.Equal(sample, tokenizer.Decode(tokenizer.Encode(sample)));
            var allowed = tokenizer.Encode(sample, new EncodeOptions(AllowSpecialTokens: true));
            Assert.Single(allowed, id);
            Assert.Equal(sample, tokenizer.Decode(allowed));
        }
    }

    [Theory]
    [MemberData(nameof(Tokenizers))]
    public void EncodeBytesRoundTripsArbitraryBytes(string name)
    {
        var tokenizer = ShippedTokenizers.Get(name);
        Prop.ForAll(TokenizerGenerators.MixedBytes(), bytes =>
        {
            var ids = new List<int>();
            if (!tokenizer.TryEncodeBytes(bytes, ids, EncodeOptions.Default))
                throw new Exception("a byte-level tokenizer must encode any bytes");
            var decoded = tokenizer.DecodeToBytes(ids.ToArray());
            if (!decoded.AsSpan().SequenceEqual(bytes))
                throw new Exception($"[{Convert.ToHexString(bytes)}] came back as [{Convert.ToHexString(decoded)}]");
            // Valid UTF-8 is encoded exactly as text is.
            if (System.Text.Unicode.Utf8.IsValid(bytes) && ShippedTokenizers.RoundTripOf(name, Encoding.UTF8.GetString(bytes)) == Encoding.UTF8.GetString(bytes)
                && !ids.SequenceEqual(tokenizer.Encode(Encoding.UTF8.GetString(bytes))))
                throw new Exception($"[{Convert.ToHexString(bytes)}] encodes differently as bytes and as text");
        }).Check(TokenizerGenerators.Config(1500));
    }

    [Theory]
    [MemberData(nameof(Tokenizers))]
    public void HeapMergeEqualsLinearMerge(string name)
    {
        var model = ((BytePairTokenizer)ShippedTokenizers.Get(name)).Model;
        var pieces = Gen.OneOf(
            Gen.Choose(2, 64).SelectMany(n => TokenizerGenerators.PatternFragment.ArrayOf(n)).Select(p => Encoding.UTF8.GetBytes(string.Concat(p))),
            Gen.Choose(0, 255).Select(b => (byte)b).ArrayOf()).Where(b => b.Length is >= 2 and <= 64);
        Prop.ForAll(Arb.From(pieces), piece =>
        {
            var linear = new List<int>();
            var heap = new List<int>();
            model.MergeLinear(piece, linear);
            model.MergeWithHeap(piece, heap);
            if (!linear.SequenceEqual(heap))
                throw new Exception($"[{Convert.ToHexString(piece)}]: linear [{string.Join(",", linear)}] heap [{string.Join(",", heap)}]");
        }).Check(TokenizerGenerators.Config(1000));
    }

    [Theory]
    [MemberData(nameof(Tokenizers))]
    public void LongPiecesRoundTrip(string name)
    {
        var tokenizer = ShippedTokenizers.Get(name);
        foreach (var text in new[] { new string(' ', 5000), string.Concat(Enumerable.Repeat("!?", 3000)), new string('a', 4000) + "b",
            string.Concat(Enumerable.Repeat("\u4E2D\u6587", 2000)), string.Concat(Enumerable.Repeat("\U0001F600", 1000)) })
            Assert.Equal(ShippedTokenizers.RoundTripOf(name, text), tokenizer.Decode(tokenizer.Encode(text)));
    }

    [Fact]
    public void DecodeRejectsIdsOutsideTheVocabulary()
    {
        var tokenizer = ShippedTokenizers.Get("o200k_base");
        Assert.Throws<ArgumentOutOfRangeException>(() => tokenizer.Decode([-1]));
        Assert.Throws<ArgumentOutOfRangeException>(() => tokenizer.Decode([tokenizer.VocabularySize]));
        Assert.Throws<ArgumentOutOfRangeException>(() => tokenizer.Decode([199998])); // unassigned between ranks and specials
    }

    [Fact]
    public void InvalidUtf8DecodesToReplacementCharacters()
    {
        var tokenizer = ShippedTokenizers.Get("cl100k_base");
        var ids = new List<int>();
        Assert.True(tokenizer.TryEncodeBytes(new byte[] { (byte)'a', 0xE2, 0x82, (byte)'b', 0xFF }, ids, EncodeOptions.Default));
        Assert.Equal("a\uFFFDb\uFFFD", tokenizer.Decode(ids.ToArray()));
        Assert.Equal(new byte[] { (byte)'a', 0xE2, 0x82, (byte)'b', 0xFF }, tokenizer.DecodeToBytes(ids.ToArray()));
    }

    [Fact]
    public void LoneSurrogatesEncodeAsReplacementCharacter()
    {
        var tokenizer = ShippedTokenizers.Get("cl100k_base");
        Assert.Equal(tokenizer.Encode("x\uFFFDy"), tokenizer.Encode("x\uD800y"));
    }

    [Fact]
    public void FingerprintsIdentifyVocabularies()
    {
        var fingerprints = ShippedTokenizers.Names.ToDictionary(n => n, n => Convert.ToHexString(ShippedTokenizers.Get(n).Fingerprint));
        Assert.All(fingerprints.Values, f => Assert.Equal(64, f.Length));
        Assert.Equal(fingerprints.Count, fingerprints.Values.Distinct().Count());
        // The same vocabulary loaded another way has the same fingerprint.
        var fromFile = TokenizerRegistry.Load(Infrastructure.TestData.Path("tokenizers/cl100k_base.tiktoken"));
        Assert.Equal(fingerprints["cl100k_base"], Convert.ToHexString(fromFile.Fingerprint));
    }

    [Fact]
    public void BosAndEosAreAddedWhereTheTokenizerHasThem()
    {
        var llama3 = ShippedTokenizers.Get("llama3");
        Assert.Equal([128000, 9906, 1917, 128001], llama3.Encode("Hello world", new EncodeOptions(AddBos: true, AddEos: true)));
        var cl100k = ShippedTokenizers.Get("cl100k_base");
        Assert.Null(cl100k.BosId);
        Assert.Equal([9906, 1917, 100257], cl100k.Encode("Hello world", new EncodeOptions(AddBos: true, AddEos: true)));
    }
}
