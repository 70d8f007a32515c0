using System.Text;
using Terse.Tokenization;
using Terse.Tokenization.SentencePiece;
using TestData = Terse.Tests.Infrastructure.TestData;

namespace Terse.Tests.Tokenization;

/// <summary>SentencePiece rules on small hand-built models, and the protobuf reader on broken input.</summary>
public class SentencePieceModelFileTests
{
    private static SentencePieceTokenizer Build(byte[] model) => SentencePieceTokenizer.FromBytes(model, "test.model");

    private static string[] Pieces(SentencePieceTokenizer tokenizer, IEnumerable<int> ids) => ids.Select(tokenizer.Piece).ToArray();

    [Fact]
    public void Best_score_merges_first_and_ties_go_to_the_leftmost_pair()
    {
        // "bc" outranks "ab", so "abc" → a + bc; "aa" twice in "aaa" is a tie → leftmost.
        var tokenizer = Build(ProtoWriter.Model(ProtoWriter.Pieces("▁", "a", "b", "c", "bc", "ab", "aa")));
        Assert.Equal(["▁", "a", "bc"], Pieces(tokenizer, tokenizer.Encode("abc")));
        Assert.Equal(["▁", "aa", "a"], Pieces(tokenizer, tokenizer.Encode("aaa")));
        Assert.Equal(["▁", "ab", "▁", "a", "bc"], Pieces(tokenizer, tokenizer.Encode("ab abc")));
    }

    [Fact]
    public void Characters_without_a_piece_still_merge_into_pieces_that_contain_them()
    {
        // "x" has no piece of its own, but "ax" does: SentencePiece merges by string.
        var tokenizer = Build(ProtoWriter.Model(ProtoWriter.Pieces("▁", "a", "ax")));
        Assert.Equal(["▁", "ax"], Pieces(tokenizer, tokenizer.Encode("ax")));
        Assert.Equal(["▁", "<unk>"], Pieces(tokenizer, tokenizer.Encode("x")));
    }

    [Fact]
    public void Unused_pieces_are_split_back_into_what_was_merged()
    {
        var pieces = ProtoWriter.Pieces("▁", "a", "b", "c", "ab", "abc");
        pieces[7] = ("ab", -4, 5); // UNUSED
        var tokenizer = Build(ProtoWriter.Model(pieces));
        Assert.Equal(["▁", "abc"], Pieces(tokenizer, tokenizer.Encode("abc")));
        Assert.Equal(["▁", "a", "b"], Pieces(tokenizer, tokenizer.Encode("ab")));
    }

    [Fact]
    public void User_defined_pieces_are_frozen()
    {
        var pieces = ProtoWriter.Pieces("▁", "a", "b", "ab", "▁a");
        pieces.Add(("<b>", 0, 4)); // USER_DEFINED
        var tokenizer = Build(ProtoWriter.Model(pieces));
        Assert.Equal(["▁a", "<b>", "b"], Pieces(tokenizer, tokenizer.Encode("a<b>b")));
        Assert.Equal("a<b>b", tokenizer.Decode(tokenizer.Encode("a<b>b")));
    }

    [Fact]
    public void Extra_whitespace_is_removed_when_the_normalizer_says_so()
    {
        var tokenizer = Build(ProtoWriter.Model(ProtoWriter.Pieces("▁", "a", "b"), removeExtraWhitespaces: true));
        Assert.Equal(["▁", "a", "▁", "b"], Pieces(tokenizer, tokenizer.Encode("   a    b  ")));
        Assert.Equal("a b", tokenizer.Decode(tokenizer.Encode("   a    b  ")));
        Assert.Empty(tokenizer.Encode("    "));
    }

    [Fact]
    public void Without_dummy_prefix_nothing_is_prepended_or_stripped()
    {
        var tokenizer = Build(ProtoWriter.Model(ProtoWriter.Pieces("▁", "a", "▁a"), addDummyPrefix: false));
        Assert.Equal(["a"], Pieces(tokenizer, tokenizer.Encode("a")));
        Assert.Equal(["▁a"], Pieces(tokenizer, tokenizer.Encode(" a")));
        Assert.Equal(" a", tokenizer.Decode(tokenizer.Encode(" a")));
    }

    [Fact]
    public void Char_models_do_not_merge()
    {
        var tokenizer = Build(ProtoWriter.Model(ProtoWriter.Pieces("▁", "a", "b", "ab"), modelType: 4));
        Assert.Equal(["▁", "a", "b"], Pieces(tokenizer, tokenizer.Encode("ab")));
    }

    [Fact]
    public void Byte_fallback_spells_unknown_characters_as_utf8_bytes()
    {
        var pieces = ProtoWriter.Pieces("▁", "a");
        for (int b = 0; b < 256; b++)
            pieces.Add(($"<0x{b:X2}>", 0, 6));
        var tokenizer = Build(ProtoWriter.Model(pieces, byteFallback: true));
        Assert.Equal(["▁", "a", "<0xC3>", "<0xA9>"], Pieces(tokenizer, tokenizer.Encode("aé")));
        Assert.Equal("aé", tokenizer.Decode(tokenizer.Encode("aé")));
    }

    [Theory]
    [InlineData(1, "UNIGRAM")]
    [InlineData(3, "WORD")]
    public void Unsupported_model_types_are_refused(int modelType, string name)
    {
        var error = Assert.Throws<NotSupportedException>(() => Build(ProtoWriter.Model(ProtoWriter.Pieces("▁", "a"), modelType)));
        Assert.Contains($"model type {name} is not supported", error.Message);
    }

    [Fact]
    public void Precompiled_normalization_maps_are_refused()
    {
        var error = Assert.Throws<NotSupportedException>(() => Build(ProtoWriter.Model(ProtoWriter.Pieces("▁", "a"), charsMap: [1, 2, 3, 4, 5])));
        Assert.Contains("precompiled character map", error.Message);
    }

    private static string Rejection(byte[] model) =>
        Assert.Throws<InvalidDataException>(() => Build(model)).Message;

    [Fact]
    public void Inconsistent_vocabularies_are_rejected()
    {
        Assert.Contains("no piece of type UNKNOWN", Rejection(ProtoWriter.Model([("a", 0, 1)])));
        Assert.Contains("piece 4 'a' is already defined", Rejection(ProtoWriter.Model(ProtoWriter.Pieces("a", "a"))));
        Assert.Contains("although byte_fallback is false", Rejection(ProtoWriter.Model([.. ProtoWriter.Pieces("a"), ("<0x41>", 0, 6)])));
        Assert.Contains("no byte piece <0x00>", Rejection(ProtoWriter.Model(ProtoWriter.Pieces("a"), byteFallback: true)));
        Assert.Contains("piece 3 is empty", Rejection(ProtoWriter.Model(ProtoWriter.Pieces(""))));
        Assert.Contains("piece type 9 is not one of", Rejection(ProtoWriter.Model([.. ProtoWriter.Pieces("a"), ("b", 0, 9)])));
        Assert.Contains("has no pieces", Rejection(new ProtoWriter().Varint(9, 1).ToArray()));
    }

    [Fact]
    public void Wire_format_errors_name_the_field_and_offset()
    {
        var valid = ProtoWriter.Model(ProtoWriter.Pieces("▁", "a"));
        Assert.Contains("field 1 has wire type 0 (Varint), expected 2", Rejection(new ProtoWriter().Varint(1, 5).ToArray()));
        Assert.Contains("claims 1000 bytes but only", Rejection(new ProtoWriter().Tag(1, 2).Raw(1000).RawBytes(1, 2, 3).ToArray()));
        Assert.Contains("claims 18446744073709551615 bytes", Rejection(new ProtoWriter().Tag(1, 2).Raw(ulong.MaxValue).ToArray()));
        Assert.Contains("group wire type", Rejection([.. valid, .. new ProtoWriter().Tag(7, 3).ToArray()]));
        Assert.Contains("invalid wire type 7", Rejection([.. valid, (7 << 3) | 7]));
        Assert.Contains("bad tag: truncated", Rejection([.. valid, 0x80]));
        Assert.Contains("is truncated", Rejection(new ProtoWriter().Message(1, new ProtoWriter().String(1, "a").Tag(2, 5).RawBytes(0, 0)).ToArray()));
        Assert.Contains("not valid UTF-8", Rejection(new ProtoWriter().Message(1, new ProtoWriter().Bytes(1, [0xC3, 0x28])).ToArray()));
        Assert.Contains("ModelProto.pieces[0]", Rejection(new ProtoWriter().Message(1, new ProtoWriter().Varint(1, 3)).ToArray()));
        Assert.Contains("ModelProto.trainer_spec", Rejection([.. valid, .. new ProtoWriter().Bytes(2, [0x18, 0x80]).ToArray()]));
        Assert.Contains("invalid field number 0", Rejection([.. valid, 0x02, 0x00]));
    }

    [Fact]
    public void Random_and_mutated_models_load_or_fail_cleanly()
    {
        var small = File.ReadAllBytes(TestData.Path("models/babyllama_tok105.model"));
        var outcome = FormatFuzzer.Run(small, bytes => Exercise(SentencePieceTokenizer.FromBytes(bytes, "fuzz")), cases: 3000, seed: 3, allowNotSupported: true);
        Assert.True(outcome.Rejected > 500, $"{outcome}");
        Assert.True(outcome.Loaded > 100, $"{outcome}");

        var large = File.ReadAllBytes(TestData.Path("tokenizers/llama2_tokenizer.model"));
        FormatFuzzer.Run(large, bytes => Exercise(SentencePieceTokenizer.FromBytes(bytes, "fuzz")), cases: 40, seed: 4, allowNotSupported: true);
    }

    private static void Exercise(Tokenizer tokenizer)
    {
        const string text = "Once upon a time,  🦙 said\n\"hi\" [INST]";
        var ids = tokenizer.Encode(text, new EncodeOptions(AllowSpecialTokens: true, AddBos: true));
        tokenizer.Decode(ids);
        tokenizer.TryEncodeBytes(Encoding.UTF8.GetBytes(text).Append((byte)0xFF).ToArray(), [], EncodeOptions.Default);
    }
}
