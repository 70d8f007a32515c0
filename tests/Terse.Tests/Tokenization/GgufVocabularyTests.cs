using System.Text;
using Terse.Tokenization;
using Terse.Tokenization.Gguf;
using Terse.Tokenization.SentencePiece;
using TestData = Terse.Tests.Infrastructure.TestData;

namespace Terse.Tests.Tokenization;

public class GgufVocabularyTests
{
    /// <summary>Writes GGUF v3 by hand, for synthetic and deliberately broken files.</summary>
    private sealed class GgufWriter
    {
        private readonly MemoryStream _stream = new();
        private readonly BinaryWriter _out;

        public GgufWriter(ulong tensors, ulong keyValues, uint version = 3, uint magic = 0x46554747)
        {
            _out = new BinaryWriter(_stream);
            _out.Write(magic);
            _out.Write(version);
            _out.Write(tensors);
            _out.Write(keyValues);
        }

        public byte[] ToArray() => _stream.ToArray();

        public GgufWriter Str(string value)
        {
            var bytes = Encoding.UTF8.GetBytes(value);
            _out.Write((ulong)bytes.Length);
            _out.Write(bytes);
            return this;
        }

        public GgufWriter Key(string key, GgufValueType type) => Str(key).U32((uint)type);
        public GgufWriter U32(uint value) { _out.Write(value); return this; }
        public GgufWriter U64(ulong value) { _out.Write(value); return this; }
        public GgufWriter Raw(params byte[] bytes) { _out.Write(bytes); return this; }

        public GgufWriter StringArray(string key, IReadOnlyList<string> items)
        {
            Key(key, GgufValueType.Array).U32((uint)GgufValueType.String).U64((ulong)items.Count);
            foreach (var item in items)
                Str(item);
            return this;
        }

        public GgufWriter FloatArray(string key, IReadOnlyList<float> items)
        {
            Key(key, GgufValueType.Array).U32((uint)GgufValueType.Float32).U64((ulong)items.Count);
            foreach (var item in items)
                _out.Write(item);
            return this;
        }

        public GgufWriter IntArray(string key, IReadOnlyList<int> items)
        {
            Key(key, GgufValueType.Array).U32((uint)GgufValueType.Int32).U64((ulong)items.Count);
            foreach (var item in items)
                _out.Write(item);
            return this;
        }
    }

    /// <summary>A small llama-style vocabulary: control pieces, 256 byte pieces, ▁, letters and a few merges.</summary>
    private static byte[] SmallLlamaVocabulary()
    {
        var tokens = new List<string> { "<unk>", "<s>", "</s>" };
        var types = new List<int> { 2, 3, 3 };
        for (int b = 0; b < 256; b++)
        {
            tokens.Add($"<0x{b:X2}>");
            types.Add(6);
        }
        foreach (var piece in new[] { "▁t", "he", "▁the", "▁a", "in", "▁" }.Concat("abcdefghijklmnopqrstuvwxyzO,.".Select(c => c.ToString())))
        {
            tokens.Add(piece);
            types.Add(1);
        }
        var scores = tokens.Select((_, i) => i < 259 ? 0f : -(i - 259)).ToList();
        return new GgufWriter(tensors: 0, keyValues: 6)
            .Key("tokenizer.ggml.model", GgufValueType.String).Str("llama")
            .StringArray("tokenizer.ggml.tokens", tokens)
            .FloatArray("tokenizer.ggml.scores", scores)
            .IntArray("tokenizer.ggml.token_type", types)
            .Key("tokenizer.ggml.bos_token_id", GgufValueType.UInt32).U32(1)
            .Key("tokenizer.ggml.add_bos_token", GgufValueType.Bool).Raw(1)
            .ToArray();
    }

    [Fact]
    public void Llama_spm_vocabulary_passes_the_llama_cpp_vectors() =>
        LlamaCppVocabTests.AssertAllCasesMatch(GgufVocabulary.Load(TestData.Path("tokenizers/ggml-vocab-llama-spm.gguf")).ToTokenizer(), "ggml-vocab-llama-spm.gguf.out");

    [Fact]
    public void Llama_spm_vocabulary_is_the_llama2_tokenizer_model()
    {
        var file = GgufFile.Load(TestData.Path("tokenizers/ggml-vocab-llama-spm.gguf"));
        Assert.Equal(3u, file.Version);
        Assert.Empty(file.Tensors);
        Assert.Equal("llama", file.Metadata["general.architecture"]);
        Assert.Equal(32u, file.Metadata["llama.block_count"]);

        var vocabulary = GgufVocabulary.FromFile(file, "ggml-vocab-llama-spm.gguf");
        Assert.Equal("llama", vocabulary.Model);
        Assert.Equal(32000, vocabulary.Tokens.Count);
        Assert.Equal((1, 2, 0), (vocabulary.BosId, vocabulary.EosId, vocabulary.UnknownId));
        Assert.True(vocabulary.AddBos);
        var tokenizer = Assert.IsType<SentencePieceTokenizer>(vocabulary.ToTokenizer());
        Assert.True(tokenizer.Fingerprint.SequenceEqual(SentencePieceTokenizers.Load("tokenizers/llama2_tokenizer.model").Fingerprint));
    }

    [Fact]
    public void Gpt2_vocabulary_builds_the_same_tokenizer_as_vocab_json_and_merges()
    {
        var vocabulary = GgufVocabulary.Load(TestData.Path("tokenizers/ggml-vocab-gpt-2.gguf"));
        Assert.Equal("gpt2", vocabulary.Model);
        Assert.Equal("gpt-2", vocabulary.PreTokenizer);
        Assert.Equal(50257, vocabulary.Tokens.Count);
        Assert.Equal(50256, vocabulary.BosId);
        var merges = File.ReadLines(TestData.Path("tokenizers/gpt2_merges.txt")).Skip(1).ToArray();
        Assert.Equal(merges, vocabulary.Merges);

        var fromGguf = vocabulary.ToTokenizer();
        LlamaCppVocabTests.AssertAllCasesMatch(fromGguf, "ggml-vocab-gpt-2.gguf.out");
        var fromVocabJson = TokenizerRegistry.Load(TestData.Path("tokenizers/gpt2_vocab.json"));
        var text = TestData.ReadText("text/wikitext2_raw_test.txt")[..50_000];
        Assert.Equal(fromVocabJson.Encode(text), fromGguf.Encode(text));
    }

    [Fact]
    public void Every_value_type_and_tensor_infos_are_read()
    {
        var bytes = new GgufWriter(tensors: 2, keyValues: 13)
            .Key("u8", GgufValueType.UInt8).Raw(200)
            .Key("i8", GgufValueType.Int8).Raw(0xFF)
            .Key("u16", GgufValueType.UInt16).Raw(0x34, 0x12)
            .Key("i16", GgufValueType.Int16).Raw(0xFE, 0xFF)
            .Key("u32", GgufValueType.UInt32).U32(4_000_000_000)
            .Key("i32", GgufValueType.Int32).Raw(0xFD, 0xFF, 0xFF, 0xFF)
            .Key("f32", GgufValueType.Float32).Raw(BitConverter.GetBytes(1.5f))
            .Key("bool", GgufValueType.Bool).Raw(1)
            .Key("str", GgufValueType.String).Str("héllo")
            .Key("u64", GgufValueType.UInt64).U64(ulong.MaxValue)
            .Key("i64", GgufValueType.Int64).Raw(BitConverter.GetBytes(-7L))
            .Key("f64", GgufValueType.Float64).Raw(BitConverter.GetBytes(2.25))
            .Key("nested", GgufValueType.Array).U32((uint)GgufValueType.Array).U64(2)
                .U32((uint)GgufValueType.UInt16).U64(2).Raw(1, 0, 2, 0)
                .U32((uint)GgufValueType.String).U64(1).Str("x")
            .Str("token_embd.weight").U32(2).U64(4).U64(8).U32(0).U64(0)
            .Str("output.weight").U32(1).U64(4).U32(1).U64(64)
            .Raw(new byte[200])
            .ToArray();
        var file = GgufFile.Parse(bytes, "synthetic.gguf");
        var m = file.Metadata;
        Assert.Equal((byte)200, m["u8"]);
        Assert.Equal((sbyte)-1, m["i8"]);
        Assert.Equal((ushort)0x1234, m["u16"]);
        Assert.Equal((short)-2, m["i16"]);
        Assert.Equal(4_000_000_000u, m["u32"]);
        Assert.Equal(-3, m["i32"]);
        Assert.Equal(1.5f, m["f32"]);
        Assert.Equal(true, m["bool"]);
        Assert.Equal("héllo", m["str"]);
        Assert.Equal(ulong.MaxValue, m["u64"]);
        Assert.Equal(-7L, m["i64"]);
        Assert.Equal(2.25, m["f64"]);
        var nested = Assert.IsType<GgufArray>(m["nested"]);
        var inner = Assert.IsType<GgufArray[]>(nested.Items);
        Assert.Equal(new object[] { (ushort)1, (ushort)2 }, inner[0].Items.Cast<object>());
        Assert.Equal(["x"], inner[1].Items.Cast<string>());
        Assert.Equal(2, file.Tensors.Count);
        Assert.Equal(new ulong[] { 4, 8 }, file.Tensors[0].Dimensions);
        Assert.Equal(64ul, file.Tensors[1].Offset);
        Assert.Equal(0, file.DataOffset % 32);
    }

    [Fact]
    public void Small_synthetic_llama_vocabulary_builds_a_tokenizer()
    {
        var tokenizer = GgufVocabulary.FromBytes(SmallLlamaVocabulary(), "small.gguf").ToTokenizer();
        var ids = tokenizer.Encode("the cat", new EncodeOptions(AddBos: true));
        Assert.Equal(1, ids[0]);
        Assert.Equal("the cat", tokenizer.Decode(ids));
        Assert.Equal("é!", tokenizer.Decode(tokenizer.Encode("é!")));
    }

    private static string Rejection(byte[] bytes) =>
        Assert.Throws<InvalidDataException>(() => GgufVocabulary.FromBytes(bytes, "bad.gguf").ToTokenizer()).Message;

    [Fact]
    public void Malformed_files_are_rejected_with_the_reason()
    {
        Assert.Contains("not a GGUF file", Rejection(new GgufWriter(0, 0, magic: 0x46554746).ToArray()));
        Assert.Contains("unknown GGUF version 7", Rejection(new GgufWriter(0, 0, version: 7).ToArray()));
        Assert.Contains("(a big-endian file?)", Rejection(new GgufWriter(0, 0, version: 0x03000000).ToArray()));
        Assert.Contains("file truncated reading", Rejection(SmallLlamaVocabulary()[..10]));
        Assert.Contains("cannot fit in the", Rejection(new GgufWriter(0, ulong.MaxValue).ToArray()));
        Assert.Contains("cannot fit in the", Rejection(new GgufWriter(1L << 40, 0).ToArray()));
        Assert.Contains("claims 1099511627776 bytes", Rejection(new GgufWriter(0, 1).U64(1UL << 40).Raw(new byte[16]).ToArray()));
        Assert.Contains("not a GGUF value type", Rejection(new GgufWriter(0, 1).Str("k").U32(13).ToArray()));
        Assert.Contains("is 2, not 0 or 1", Rejection(new GgufWriter(0, 1).Key("b", GgufValueType.Bool).Raw(2).ToArray()));
        Assert.Contains("appears twice", Rejection(new GgufWriter(0, 2).Key("k", GgufValueType.UInt8).Raw(1).Key("k", GgufValueType.UInt8).Raw(1).ToArray()));
        Assert.Contains("elements of 'a' (count at offset", Rejection(new GgufWriter(0, 1).Key("a", GgufValueType.Array).U32((uint)GgufValueType.UInt64).U64(1UL << 60).ToArray()));
        Assert.Contains("not valid UTF-8", Rejection(new GgufWriter(0, 1).Key("s", GgufValueType.String).U64(2).Raw(0xC3, 0x28).ToArray()));
        Assert.Contains("tokenizer.ggml.model is missing", Rejection(new GgufWriter(0, 0).ToArray()));
        Assert.Contains("'tokenizer.ggml.tokens' has type array of Int32, expected an array of String",
            Rejection(new GgufWriter(0, 2).Key("tokenizer.ggml.model", GgufValueType.String).Str("llama").IntArray("tokenizer.ggml.tokens", [1, 2]).ToArray()));
        Assert.Contains("general.alignment must be a power-of-two",
            Rejection(new GgufWriter(0, 1).Key("general.alignment", GgufValueType.UInt32).U32(24).ToArray()));
        Assert.Contains("beyond the 0 bytes of tensor data", Rejection(new GgufWriter(1, 0).Str("t").U32(1).U64(4).U32(0).U64(32).ToArray()));
        Assert.Contains("has 9 dimensions", Rejection(new GgufWriter(1, 0).Str("t").U32(9).Raw(new byte[100]).ToArray()));

        var deep = new GgufWriter(0, 1).Key("a", GgufValueType.Array);
        for (int i = 0; i < 9; i++)
            deep.U32((uint)GgufValueType.Array).U64(1);
        Assert.Contains("nests arrays more than 8 deep", Rejection(deep.U32(0).U64(0).ToArray()));
    }

    [Fact]
    public void Version_1_and_unknown_tokenizer_models_are_not_supported()
    {
        Assert.Contains("version 1 is not supported", Assert.Throws<NotSupportedException>(() => GgufFile.Parse(new GgufWriter(0, 0, version: 1).ToArray(), "v1.gguf")).Message);
        var bert = new GgufWriter(0, 2).Key("tokenizer.ggml.model", GgufValueType.String).Str("bert").StringArray("tokenizer.ggml.tokens", ["a"]).ToArray();
        Assert.Contains("'bert' is not supported", Assert.Throws<NotSupportedException>(() => GgufVocabulary.FromBytes(bert, "bert.gguf").ToTokenizer()).Message);
    }

    [Fact]
    public void Random_and_mutated_files_load_or_fail_cleanly()
    {
        var outcome = FormatFuzzer.Run(SmallLlamaVocabulary(), bytes =>
        {
            var tokenizer = GgufVocabulary.FromBytes(bytes, "fuzz.gguf").ToTokenizer();
            var ids = tokenizer.Encode("the cat sat, O 🦙", new EncodeOptions(AllowSpecialTokens: true, AddBos: true));
            tokenizer.Decode(ids);
        }, cases: 3000, seed: 5, allowNotSupported: true);
        Assert.True(outcome.Rejected > 500, $"{outcome}");
        Assert.True(outcome.Loaded > 10, $"{outcome}");
    }
}
