using System.Text;
using System.Text.Json;
using FsCheck;
using FsCheck.Fluent;
using Terse.Tests.Infrastructure;
using TestData = Terse.Tests.Infrastructure.TestData;
using Terse.Tokenization;
using Terse.Tokenization.Llama2c;

namespace Terse.Tests.Tokenization;

public class Llama2cTokenizerTests
{
    public static readonly TheoryData<string> TokenizerFiles = new()
    {
        "models/stories260K_tok512.bin",
        "models/aidreams260K_tok512.bin",
        "tokenizers/llama2_tokenizer_llama2c.bin",
    };

    private static readonly Dictionary<string, Llama2cTokenizer> s_loaded = new();

    internal static Llama2cTokenizer Load(string relative)
    {
        lock (s_loaded)
        {
            if (!s_loaded.TryGetValue(relative, out var tokenizer))
                s_loaded[relative] = tokenizer = Llama2cTokenizer.Load(TestData.Path(relative));
            return tokenizer;
        }
    }

    public static TheoryData<string, string, string> GoldenPrompts()
    {
        var data = new TheoryData<string, string, string>();
        foreach (var line in File.ReadLines(TestData.Path("golden/llama2c_greedy.jsonl")))
        {
            if (string.IsNullOrWhiteSpace(line))
                continue;
            using var json = JsonDocument.Parse(line);
            var root = json.RootElement;
            data.Add(root.GetProperty("tokenizer").GetString()!, root.GetProperty("prompt").GetString()!, root.GetProperty("expected").GetString()!);
        }
        return data;
    }

    /// <summary>
    /// run.c encodes the prompt with BOS, forces the prompt tokens and prints each one with
    /// decode(prev, token) + safe_printf; its recorded stdout begins with exactly that text.
    /// </summary>
    [Theory]
    [MemberData(nameof(GoldenPrompts))]
    public void Prompt_encoded_as_run_c_prints_back_as_the_start_of_the_recorded_output(string tokenizerFile, string prompt, string expected)
    {
        var tokenizer = Load("models/" + tokenizerFile);
        var ids = tokenizer.Encode(prompt, new EncodeOptions(AddBos: true));

        Assert.Equal(Llama2cTokenizer.BosToken, ids[0]);
        Assert.Equal(prompt.Length == 0 ? 1 : ids.Length, ids.Length);
        var printed = new List<byte>();
        for (int position = 1; position < ids.Length; position++)
            printed.AddRange(tokenizer.GeneratedPieceBytes(ids[position - 1], ids[position]).ToArray());
        var text = Encoding.UTF8.GetString(printed.ToArray());

        Assert.Equal(prompt, text);
        Assert.StartsWith(text, expected, StringComparison.Ordinal);
    }

    [Fact]
    public void Merges_follow_the_scores_from_characters_up()
    {
        // stories260K's first merges are " t" (score 0), "he" (-1), ..., " the" (-6): "the" becomes
        // dummy " " + t,h,e → " t","he" → " the".
        var tokenizer = Llama2cTokenizer.Stories260K;
        int Id(string piece) => Enumerable.Range(0, tokenizer.VocabularySize).Single(i => tokenizer.PieceBytes(i).SequenceEqual(Encoding.UTF8.GetBytes(piece)));

        Assert.Equal([Id(" the")], tokenizer.Encode("the"));
        Assert.Equal([Llama2cTokenizer.BosToken, Id(" the"), Llama2cTokenizer.EosToken], tokenizer.Encode("the", new EncodeOptions(AddBos: true, AddEos: true)));
        Assert.Empty(tokenizer.Encode(""));
        Assert.Equal([Llama2cTokenizer.BosToken], tokenizer.Encode("", new EncodeOptions(AddBos: true)));
    }

    [Fact]
    public void Code_points_missing_from_the_vocabulary_become_byte_tokens_plus_three()
    {
        var tokenizer = Llama2cTokenizer.Stories260K;
        // 🦙 is F0 9F A6 99: not among the 512 pieces, so run.c emits byte+3 for each byte, after the dummy " ".
        var ids = tokenizer.Encode("🦙");
        Assert.Equal(0xF0 + 3, ids[^4]);
        Assert.Equal(new[] { 0xF0 + 3, 0x9F + 3, 0xA6 + 3, 0x99 + 3 }, ids[^4..]);
        Assert.Equal(" ", Encoding.UTF8.GetString(tokenizer.PieceBytes(ids[0])));
        Assert.Equal("🦙", tokenizer.Decode(ids));
    }

    [Fact]
    public void Generated_piece_bytes_follow_run_c_decode_and_safe_printf()
    {
        var tokenizer = Load("tokenizers/llama2_tokenizer_llama2c.bin");
        int hello = tokenizer.Encode("Hello").Single(); // " Hello"
        Assert.Equal(" Hello", Encoding.UTF8.GetString(tokenizer.PieceBytes(hello)));

        Assert.Equal("Hello", Encoding.UTF8.GetString(tokenizer.GeneratedPieceBytes(Llama2cTokenizer.BosToken, hello)));
        Assert.Equal(" Hello", Encoding.UTF8.GetString(tokenizer.GeneratedPieceBytes(hello, hello)));
        Assert.Equal("\n", Encoding.ASCII.GetString(tokenizer.GeneratedPieceBytes(hello, 0x0A + 3)));
        Assert.Equal("A", Encoding.ASCII.GetString(tokenizer.GeneratedPieceBytes(hello, 'A' + 3)));
        Assert.True(tokenizer.GeneratedPieceBytes(hello, 0x01 + 3).IsEmpty, "control byte is not printed");
        Assert.True(tokenizer.GeneratedPieceBytes(hello, 0xE4 + 3).IsEmpty, "a lone high byte is not printable");
        Assert.Equal("\n</s>\n", Encoding.ASCII.GetString(tokenizer.GeneratedPieceBytes(hello, Llama2cTokenizer.EosToken)));
        Assert.Throws<ArgumentOutOfRangeException>(() => tokenizer.GeneratedPieceBytes(hello, tokenizer.VocabularySize));
    }

    [Fact]
    public void Built_in_stories260K_is_the_shared_tok512_file()
    {
        var shipped = Llama2cTokenizer.Stories260K;
        var shared = Load("models/stories260K_tok512.bin");
        Assert.Equal("stories260K", shipped.Name);
        Assert.Equal(512, shipped.VocabularySize);
        Assert.True(shipped.Fingerprint.SequenceEqual(shared.Fingerprint));
        Assert.False(shipped.Fingerprint.SequenceEqual(Load("models/aidreams260K_tok512.bin").Fingerprint));
    }

    [Fact]
    public void The_two_512_token_vocabularies_merge_differently()
    {
        const string text = "In the silence of the network, the nodes dream.";
        var stories = Load("models/stories260K_tok512.bin").Encode(text);
        var dreams = Load("models/aidreams260K_tok512.bin").Encode(text);
        Assert.NotEqual(stories, dreams);
        Assert.Equal(text, Load("models/stories260K_tok512.bin").Decode(stories));
        Assert.Equal(text, Load("models/aidreams260K_tok512.bin").Decode(dreams));
    }

    [Theory]
    [MemberData(nameof(TokenizerFiles))]
    public void Real_text_round_trips(string file)
    {
        var tokenizer = Load(file);
        var text = TestData.ReadText("text/tinystories_sample_cs336.txt") + TestData.ReadText("text/squad_v2_sample.json")[..6000];
        var ids = tokenizer.Encode(text, new EncodeOptions(AddBos: true, AddEos: true));
        Assert.Equal(text, tokenizer.Decode(ids));
        Assert.All(ids, id => Assert.InRange(id, 0, tokenizer.VocabularySize - 1));
    }

    [Fact]
    public void Token_count_from_the_model_header_limits_what_is_read()
    {
        var bytes = File.ReadAllBytes(TestData.Path("models/stories260K_tok512.bin"));
        var withTrailingBytes = bytes.Concat(new byte[] { 1, 2, 3 }).ToArray();
        Assert.Equal(512, Llama2cTokenizer.FromBytes(withTrailingBytes, "t", tokenCount: 512).VocabularySize);
        var error = Assert.Throws<InvalidDataException>(() => Llama2cTokenizer.FromBytes(bytes, "t", tokenCount: 513));
        Assert.Contains("ends after 512 tokens, expected 513", error.Message);
    }

    [Theory]
    [MemberData(nameof(TokenizerFiles))]
    public void Random_unicode_round_trips(string file)
    {
        var tokenizer = Load(file);
        Prop.ForAll(TokenizerGenerators.UnicodeText(), text =>
                Encoding.UTF8.GetString(tokenizer.DecodeToBytes(tokenizer.Encode(text))) == text
                && tokenizer.Decode(tokenizer.Encode(text, new EncodeOptions(AddBos: true, AddEos: true))) == text)
            .Check(TokenizerGenerators.Config(300));
    }

    [Theory]
    [MemberData(nameof(TokenizerFiles))]
    public void Random_bytes_round_trip_through_byte_tokens(string file)
    {
        var tokenizer = Load(file);
        Prop.ForAll(TokenizerGenerators.MixedBytes(), bytes =>
            {
                var ids = new List<int>();
                bool encoded = tokenizer.TryEncodeBytes(bytes, ids, EncodeOptions.Default);
                return encoded && tokenizer.DecodeToBytes(ids.ToArray()).AsSpan().SequenceEqual(bytes);
            })
            .Check(TokenizerGenerators.Config(300));
    }

    [Fact]
    public void Valid_utf8_bytes_encode_like_the_text()
    {
        var tokenizer = Load("tokenizers/llama2_tokenizer_llama2c.bin");
        const string text = " Hello, 世界! naïve café 🦙\n\tend ";
        var ids = new List<int>();
        Assert.True(tokenizer.TryEncodeBytes(Encoding.UTF8.GetBytes(text), ids, EncodeOptions.Default));
        Assert.Equal(tokenizer.Encode(text), ids);
    }

    [Fact]
    public void Special_tokens_are_text_unless_allowed()
    {
        var tokenizer = Llama2cTokenizer.Stories260K;
        const string text = "a</s>b";
        var plain = tokenizer.Encode(text);
        Assert.DoesNotContain(Llama2cTokenizer.EosToken, plain);
        Assert.Equal(text, tokenizer.Decode(plain));

        var special = tokenizer.Encode(text, new EncodeOptions(AllowSpecialTokens: true));
        Assert.Contains(Llama2cTokenizer.EosToken, special);
        Assert.Equal(tokenizer.Encode("a").Concat([Llama2cTokenizer.EosToken]).ToArray(), special[..^1]);
    }

    [Fact]
    public void Decoding_an_id_outside_the_vocabulary_throws()
    {
        var tokenizer = Llama2cTokenizer.Stories260K;
        Assert.Throws<ArgumentOutOfRangeException>(() => tokenizer.Decode([5, 512]));
        Assert.Throws<ArgumentOutOfRangeException>(() => tokenizer.Decode([-1]));
    }
}
