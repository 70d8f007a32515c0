using System.Text;
using FsCheck;
using FsCheck.Fluent;
using Terse.Tokenization;
using Terse.Tokenization.Llama2c;
using Terse.Tokenization.SentencePiece;
using TestData = Terse.Tests.Infrastructure.TestData;

namespace Terse.Tests.Tokenization;

public class SentencePieceTokenizerTests
{
    private const string Llama2 = "tokenizers/llama2_tokenizer.model";
    private const string MistralV1 = "tokenizers/mistral_v1_tokenizer.model";
    private const string MistralV3 = "tokenizers/mistral_v3_tokenizer.model";
    private const string BabyLlama = "models/babyllama_tok105.model";

    public static readonly TheoryData<string> ByteFallbackModels = new() { Llama2, MistralV1, MistralV3 };

    private static SentencePieceTokenizer Load(string relative) => SentencePieceTokenizers.Load(relative);

    private static string RealTextSample()
    {
        var builder = new StringBuilder();
        foreach (var file in TestData.TextFiles())
        {
            var text = TestData.ReadText(file);
            builder.Append(text.AsSpan(0, Math.Min(text.Length, 20_000)));
        }
        return builder.ToString();
    }

    [Fact]
    public void Llama2_model_and_llama2c_export_give_identical_ids()
    {
        var model = Load(Llama2);
        var exported = Llama2cTokenizerTests.Load("tokenizers/llama2_tokenizer_llama2c.bin");
        var inputs = LlamaCppVocabTests.Cases("ggml-vocab-llama-spm.gguf.out").Select(c => c.Input).Append(RealTextSample());
        foreach (var input in inputs)
            Assert.Equal(model.Encode(input, new EncodeOptions(AddBos: true)), exported.Encode(input, new EncodeOptions(AddBos: true)));
    }

    [Fact]
    public void Mistral_v1_matches_a_recorded_instruction_tokenization()
    {
        // Mistral-7B v0.1 ids recorded in a public project for "[INST] What is your final answer? [/INST]"
        // (special tokens not parsed, no BOS).
        int[] expected = [733, 16289, 28793, 1824, 349, 574, 1480, 4372, 28804, 733, 28748, 16289, 28793];
        Assert.Equal(expected, Load(MistralV1).Encode("[INST] What is your final answer? [/INST]"));
    }

    [Fact]
    public void Mistral_v3_is_v1_shifted_past_its_768_new_special_pieces()
    {
        var v1 = Load(MistralV1);
        var v3 = Load(MistralV3);
        Assert.Equal(32000 + 768, v3.VocabularySize);
        var text = RealTextSample();
        var expected = v1.Encode(text, new EncodeOptions(AddBos: true, AddEos: true)).Select(id => id < 3 ? id : id + 768);
        Assert.Equal(expected, v3.Encode(text, new EncodeOptions(AddBos: true, AddEos: true)));
    }

    [Fact]
    public void Mistral_v3_control_tokens_need_AllowSpecialTokens()
    {
        var v3 = Load(MistralV3);
        int inst = v3.SpecialTokens["[INST]"], endInst = v3.SpecialTokens["[/INST]"];
        Assert.Equal((3, 4), (inst, endInst));
        const string prompt = "[INST] What is 2+2? [/INST] 4";

        var asText = v3.Encode(prompt);
        Assert.DoesNotContain(inst, asText);
        Assert.Equal(prompt, v3.Decode(asText));

        var special = v3.Encode(prompt, new EncodeOptions(AllowSpecialTokens: true, AddBos: true));
        Assert.Equal(v3.BosId, special[0]);
        Assert.Equal(1, special.Count(id => id == inst));
        Assert.Equal(1, special.Count(id => id == endInst));
        Assert.Equal(prompt, v3.Decode(special));
    }

    [Fact]
    public void User_defined_pieces_are_matched_whole_without_any_option()
    {
        var v3 = Load(MistralV3);
        int reference = Enumerable.Range(0, v3.VocabularySize).Single(i => v3.Piece(i) == "[REFERENCE_DOC_7]");
        Assert.Equal(PieceType.UserDefined, v3.TypeOf(reference));
        var ids = v3.Encode("see [REFERENCE_DOC_7] here");
        Assert.Contains(reference, ids);
        Assert.Equal("see [REFERENCE_DOC_7] here", v3.Decode(ids));
    }

    [Theory]
    [MemberData(nameof(ByteFallbackModels))]
    public void Random_unicode_round_trips(string file)
    {
        var tokenizer = Load(file);
        Prop.ForAll(TokenizerGenerators.UnicodeText(withSpaceSymbol: false), text =>
                tokenizer.Decode(tokenizer.Encode(text)) == text
                && tokenizer.Decode(tokenizer.Encode(text, new EncodeOptions(AddBos: true, AddEos: true))) == text)
            .Check(TokenizerGenerators.Config(300));
    }

    [Theory]
    [MemberData(nameof(ByteFallbackModels))]
    public void Random_bytes_round_trip_through_byte_pieces(string file)
    {
        var tokenizer = Load(file);
        Prop.ForAll(TokenizerGenerators.MixedBytes(withSpaceSymbol: false), bytes =>
            {
                var ids = new List<int>();
                return tokenizer.TryEncodeBytes(bytes, ids, EncodeOptions.Default)
                    && tokenizer.DecodeToBytes(ids.ToArray()).AsSpan().SequenceEqual(bytes);
            })
            .Check(TokenizerGenerators.Config(300));
    }

    [Fact]
    public void Text_with_control_spellings_round_trips_when_they_are_allowed()
    {
        var v3 = Load(MistralV3);
        var controls = v3.SpecialTokens.Keys.Where(k => k is not ("<s>" or "</s>")).Take(40).ToArray();
        var gen = Gen.ListOf(Gen.OneOf(TokenizerGenerators.UnicodeText(withSpaceSymbol: false).Generator, Gen.Elements(controls)))
            .Select(parts => string.Concat(parts));
        Prop.ForAll(gen.ToArbitrary(), text => v3.Decode(v3.Encode(text, new EncodeOptions(AllowSpecialTokens: true))) == text)
            .Check(TokenizerGenerators.Config(200));
    }

    [Fact]
    public void A_literal_space_symbol_decodes_as_a_space_as_in_SentencePiece()
    {
        // SentencePiece escapes spaces as U+2581 and unescapes every U+2581, so the two spell the same ids.
        var tokenizer = Load(Llama2);
        Assert.Equal(tokenizer.Encode("a b"), tokenizer.Encode("a\u2581b"));
        Assert.Equal("a b", tokenizer.Decode(tokenizer.Encode("a\u2581b")));
    }

    [Fact]
    public void Valid_utf8_bytes_encode_like_the_text()
    {
        var tokenizer = Load(Llama2);
        const string text = "  Hello,\tworld!\n 🦙 naïve 日本語  ";
        var ids = new List<int>();
        Assert.True(tokenizer.TryEncodeBytes(Encoding.UTF8.GetBytes(text), ids, EncodeOptions.Default));
        Assert.Equal(tokenizer.Encode(text), ids);
    }

    [Fact]
    public void BabyLlama_encodes_tinystories_text_with_its_105_character_pieces()
    {
        var baby = Load(BabyLlama);
        Assert.Equal(105, baby.VocabularySize);
        Assert.Equal(SentencePieceModelType.Bpe, baby.ModelType);
        Assert.False(baby.ByteFallback);
        Assert.False(baby.TryEncodeBytes("abc"u8, new List<int>(), EncodeOptions.Default));

        var lines = TestData.ReadText("text/tinystories_valid_head.txt").Split('\n')
            .Where(line => line.Trim().Length > 0).Take(400).ToArray();
        int unknownLines = 0;
        foreach (var line in lines)
        {
            var ids = baby.Encode(line, new EncodeOptions(AddBos: true));
            Assert.Equal(baby.BosId, ids[0]);
            if (ids.Contains(baby.UnknownId))
            {
                unknownLines++;
                continue;
            }
            // remove_extra_whitespaces: leading/trailing spaces dropped, runs of spaces collapsed.
            var normalized = string.Join(' ', line.Split(' ', StringSplitOptions.RemoveEmptyEntries));
            Assert.Equal(normalized, baby.Decode(ids));
        }
        Assert.True(unknownLines < lines.Length / 20, $"{unknownLines} of {lines.Length} lines hit <unk>");
    }

    [Fact]
    public void BabyLlama_turns_each_run_of_unknown_characters_into_one_unknown_id()
    {
        var baby = Load(BabyLlama);
        var ids = baby.Encode("a日本語b\u00a7");
        Assert.Equal(2, ids.Count(id => id == baby.UnknownId));
        Assert.Equal([3, 5, baby.UnknownId, 23, baby.UnknownId], ids);
        // The model's unk_surface was written with literal backslashes; SentencePiece decodes to it as stored.
        Assert.Equal(@"a \342\201\207 b \342\201\207 ", baby.Decode(ids));
    }

    [Fact]
    public void Generated_pieces_print_as_run_c_would_with_the_exported_vocabulary()
    {
        var baby = Load(BabyLlama);
        const string text = "Once upon a time, there was a little girl named Lily.";
        var ids = baby.Encode(text, new EncodeOptions(AddBos: true));
        var printed = new List<byte>();
        for (int i = 1; i < ids.Length; i++)
            printed.AddRange(baby.GeneratedPieceBytes(ids[i - 1], ids[i]).ToArray());
        Assert.Equal(text, Encoding.UTF8.GetString(printed.ToArray()));
        Assert.Equal("\n</s>\n", Encoding.UTF8.GetString(baby.GeneratedPieceBytes(ids[1], baby.EosId!.Value)));

        // On Llama 2 the export is the shipped llama2.c tokenizer.bin, so both print alike.
        var model = Load(Llama2);
        var exported = Llama2cTokenizerTests.Load("tokenizers/llama2_tokenizer_llama2c.bin");
        foreach (int previous in new[] { 1, 2, 13, 15043 })
            for (int token = 0; token < model.VocabularySize; token += 7)
                Assert.True(model.GeneratedPieceBytes(previous, token).SequenceEqual(exported.GeneratedPieceBytes(previous, token)), $"{previous} {token}");
    }

    [Fact]
    public void Fingerprints_identify_the_vocabulary()
    {
        Assert.True(Load(Llama2).Fingerprint.SequenceEqual(SentencePieceTokenizer.Load(TestData.Path(Llama2)).Fingerprint));
        Assert.False(Load(Llama2).Fingerprint.SequenceEqual(Load(MistralV1).Fingerprint));
        Assert.Equal(32, Load(MistralV3).Fingerprint.Length);
    }

    [Fact]
    public void Decoding_an_id_outside_the_vocabulary_throws() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => Load(Llama2).Decode([15043, 32000]));
}
