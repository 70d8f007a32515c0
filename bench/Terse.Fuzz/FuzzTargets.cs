using System.Buffers.Binary;
using System.Text;
using Terse.EntropyCoding;
using Terse.Gmsa;
using Terse.IO;
using Terse.MetaTokens;
using Terse.Neural;
using Terse.Neural.Checkpoints;
using Terse.Tokenization;
using Terse.Tokenization.Gguf;
using Terse.Tokenization.HuggingFace;
using Terse.Tokenization.PreTokenization;
using Terse.Tokenization.Llama2c;
using Terse.Tokenization.SentencePiece;
using Terse.Tokenization.Tiktoken;
using Terse.ZTokens;

namespace Terse.Fuzz;

/// <summary>
/// One harness per parser of external or container data: it reads the bytes the way Terse reads
/// such a file and uses what it got. A harness may reject its input only with the exceptions its
/// format documents (<see cref="InvalidDataException"/>, and <see cref="NotSupportedException"/> for
/// well-formed files using a feature Terse does not implement); anything else, a hang or an
/// allocation beyond the fuzzer's heap limit is a bug. Shared by the coverage-guided fuzzer
/// (bench/Terse.Fuzz, docs/fuzzing.md) and the test suite, which replays the corpus.
/// </summary>
public static class FuzzTargets
{
    public sealed record Target(string Name, string Description, Action<byte[]> Parse, bool AllowNotSupported = false);

    public static IReadOnlyList<Target> All { get; } =
    [
        new("tmtk", "meta-token container (MetaTokenContainer.Read, then the expansion)", MetaTokens),
        new("tsec", "entropy-coded container header and chunk table (EntropyContainer.Read, Brotli chunks unpacked)", Entropy),
        new("tztk", "Z-token container with every segment record (ZTokenContainer.Read)", ZTokenRecords),
        new("safetensors", "safetensors header and every tensor (Safetensors.Open, Read, ReadFloat32)", SafetensorsFile),
        new("config", "Hugging Face config.json (HuggingFaceLlamaConfig.Parse and the engine's configuration)", Config),
        new("adapter-config", "PEFT adapter_config.json (LoraAdapterConfig.Parse)", bytes => LoraAdapterConfig.Parse(Text(bytes), "fuzz")),
        new("llama2c", "llama2.c checkpoint (Llama2cCheckpoint.Load)", bytes => Llama2cCheckpoint.Load(new MemoryStream(bytes), "fuzz.bin")),
        new("tiktoken", "tiktoken rank file (TiktokenRankFile.Parse) as a tokenizer with cl100k's pre-tokenizer (what --pre-tokenizer gives), then encode and decode",
            bytes => Exercise(TiktokenEncodings.Create("fuzz", TiktokenRankFile.Parse(bytes, "fuzz.tiktoken"), [], PreTokenizers.ByName("cl100k"), "fuzz.tiktoken"))),
        new("tokenizer-json", "Hugging Face tokenizer.json (HuggingFaceLoader.FromTokenizerJson), then encode and decode",
            bytes => Exercise(HuggingFaceLoader.FromTokenizerJson("fuzz", bytes, null, TokenizerLoadOptions.Default, "tokenizer.json")), AllowNotSupported: true),
        new("sentencepiece", "SentencePiece tokenizer.model (SentencePieceTokenizer.FromBytes), then encode and decode",
            bytes => Exercise(SentencePieceTokenizer.FromBytes(bytes, "fuzz.model")), AllowNotSupported: true),
        new("llama2c-tokenizer", "llama2.c tokenizer.bin (Llama2cTokenizer.FromBytes), then encode and decode",
            bytes => Exercise(Llama2cTokenizer.FromBytes(bytes, "fuzz.bin"))),
        new("gguf", "GGUF vocabulary (GgufVocabulary.FromBytes), then encode and decode",
            bytes => Exercise(GgufVocabulary.FromBytes(bytes, "fuzz.gguf").ToTokenizer()), AllowNotSupported: true),
        new("vocab-merges", "GPT-2-style vocab.json and merges.txt, split at the first NUL (HuggingFaceLoader.FromVocabAndMerges), then encode and decode",
            VocabAndMerges),
        new("tokenizer-config", "tokenizer_config.json (TokenizerConfigFile.Parse) applied to a small vocabulary, then encode and decode",
            TokenizerConfig, AllowNotSupported: true),
        new("soft-tokens", "GMSA soft-token file (SoftTokenFile.Read)", bytes => SoftTokenFile.Read(bytes, "fuzz.safetensors")),
        new("gmsa-config", "GMSA compressor gmsa.json (GmsaModel.ParseConfig), then a compressor of those settings on a tiny model", GmsaConfig),
    ];

    public static Target Named(string name) => All.FirstOrDefault(t => t.Name == name)
        ?? throw new ArgumentException($"no fuzz target '{name}'; targets: {string.Join(", ", All.Select(t => t.Name))}");

    /// <summary>Runs a harness on one input; false when the input was rejected as documented, true when it was accepted. Any other exception escapes.</summary>
    public static bool Run(Target target, byte[] input)
    {
        try
        {
            target.Parse(input);
            return true;
        }
        catch (InvalidDataException e) when (e.Message.Length > 0)
        {
            return false;
        }
        catch (NotSupportedException) when (target.AllowNotSupported)
        {
            return false;
        }
    }

    /// <summary>
    /// The containers end with a CRC-32C of everything before it, which no mutation keeps right: the
    /// harnesses recompute it so that the fuzzer reaches the parser behind it (which must not trust
    /// the checksum alone). Inputs shorter than a checksum are left as they are.
    /// </summary>
    private static byte[] WithChecksum(byte[] input)
    {
        if (input.Length < 8)
            return input;
        var fixedUp = (byte[])input.Clone();
        BinaryPrimitives.WriteUInt32LittleEndian(fixedUp.AsSpan(^4), Crc32C.Compute(fixedUp.AsSpan(0, fixedUp.Length - 4)));
        return fixedUp;
    }

    private static void MetaTokens(byte[] input)
    {
        var file = MetaTokenContainer.Read(WithChecksum(input));
        if (file.Sequence.OriginalLength <= 1 << 20)
            file.Sequence.Expand();
    }

    private static void Entropy(byte[] input)
    {
        var data = WithChecksum(input);
        var parsed = EntropyContainer.Read(data);
        for (int i = 0; i < parsed.Header.Chunks.Length; i++)
        {
            var chunk = parsed.Header.Chunks[i];
            if (chunk.Mode == ChunkMode.Brotli)
                BrotliChunk.Unpack(data.AsSpan(parsed.PayloadOffsets[i], chunk.PayloadLength), chunk.BrotliLength);
        }
    }

    private static void ZTokenRecords(byte[] input)
    {
        var data = WithChecksum(input);
        ZTokenCompressor.ReadHeader(data);
        ZTokenContainer.Read(data, firstCode: 0);
    }

    private static void SafetensorsFile(byte[] input)
    {
        using var reader = Safetensors.Open(input);
        foreach (var info in reader.Tensors)
        {
            reader.Read(info.Name);
            if (info.DType.IsFloatingPoint())
                reader.ReadFloat32(info.Name);
        }
    }

    private static void Config(byte[] input)
    {
        var config = HuggingFaceLlamaConfig.Parse(Text(input), "fuzz");
        _ = config.ToJson();
        _ = ModelFiles.FromHuggingFace(config, "fuzz");
    }

    private static string Text(byte[] input) => Encoding.UTF8.GetString(input);

    private static void VocabAndMerges(byte[] input)
    {
        // One input carries both files so that AFL++ mutates them together; neither file holds a NUL.
        int nul = Array.IndexOf(input, (byte)0);
        var (vocab, merges) = nul < 0 ? (input, Array.Empty<byte>()) : (input[..nul], input[(nul + 1)..]);
        Exercise(HuggingFaceLoader.FromVocabAndMerges("fuzz", vocab, merges, null, TokenizerLoadOptions.Default, "vocab.json", "merges.txt"));
    }

    /// <summary>
    /// A small byte-level vocabulary, built on first use rather than in this class's static
    /// constructor: that runs before SharpFuzz's <c>Fuzzer.Run</c> maps AFL's coverage memory, and
    /// instrumented Terse code run earlier crashes the fork server.
    /// </summary>
    private static class SmallVocabulary
    {
        private static readonly string[] MergeLines = ["h e", "l l", "he ll", "hell o", "Ġ w", "o r", "Ġw or", "Ġwor l", "Ġworl d"];
        public static readonly byte[] Vocab = Encoding.UTF8.GetBytes(ByteLevelVocabJson(MergeLines, "<|endoftext|>"));
        public static readonly byte[] Merges = Encoding.UTF8.GetBytes("#version: 0.2\n" + string.Join("\n", MergeLines) + "\n");
    }

    /// <summary>A byte-level vocab.json: the 256 byte tokens, then one token per merge and the extra tokens.</summary>
    internal static string ByteLevelVocabJson(IEnumerable<string> mergeLines, params string[] extra)
    {
        var vocab = new Dictionary<string, int>();
        for (int b = 0; b < 256; b++)
            vocab[ByteLevelAlphabet.CharOf((byte)b).ToString()] = b;
        foreach (var token in mergeLines.Select(line => line.Replace(" ", "")).Concat(extra))
            vocab[token] = vocab.Count;
        return System.Text.Json.JsonSerializer.Serialize(vocab);
    }

    private static void TokenizerConfig(byte[] input) =>
        Exercise(HuggingFaceLoader.FromVocabAndMerges("fuzz", SmallVocabulary.Vocab, SmallVocabulary.Merges, TokenizerConfigFile.Parse(input, "tokenizer_config.json"),
            TokenizerLoadOptions.Default, "vocab.json", "merges.txt"));

    // A method, not a static field, for the reason SmallVocabulary gives.
    private static LlamaConfig TinyDecoder() => new(8, 16, 2, 2, 2, 16, 16);

    private static void GmsaConfig(byte[] input)
    {
        var settings = GmsaModel.ParseConfig(Text(input), "gmsa.json").Settings;
        if (settings.Problem(TinyDecoder()) is { } problem)
            throw new InvalidDataException(problem);
        // Settings that pass the check must build a compressor (a fresh decoder each time: a failure must not leave an adapter behind for the next input).
        new GmsaModel(LlamaModel.CreateRandom(TinyDecoder(), seed: 1), settings).Detach();
    }

    /// <summary>A tokenizer that loads must also encode and decode text with special tokens, control tokens and bytes.</summary>
    private static void Exercise(Tokenizer tokenizer)
    {
        var ids = tokenizer.Encode("Once upon a time, 🦙 said\n\"hi\" <s></s><|endoftext|> 123", new EncodeOptions(AllowSpecialTokens: true, AddBos: true));
        tokenizer.Decode(ids);
        var raw = new List<int>();
        tokenizer.TryEncodeBytes([0xFF, 0x41, 0xC3], raw, EncodeOptions.Default);
    }

    /// <summary>Small valid inputs for every target that Terse's own writers make (the others come from files: docs/fuzzing.md).</summary>
    public static IEnumerable<(string Target, string Name, byte[] Bytes)> GeneratedSeeds()
    {
        var identity = new TokenizerIdentity("seed", [1, 2, 3, 4]);
        int[] ids = [5, 6, 7, 5, 6, 7, 5, 6, 7, 8, 9, 5, 6, 7, 8, 9, 1];
        yield return ("tmtk", "flat", MetaTokenContainer.Write(MetaTokenCompressor.Compress(ids, 300), identity));
        yield return ("tmtk", "hierarchical", MetaTokenContainer.Write(MetaTokenCompressor.Compress(ids, 300, new MetaTokenOptions { Hierarchical = true }), identity));

        var text = System.Text.Encoding.ASCII.GetBytes(string.Concat(Enumerable.Repeat("once upon a time ", 12)));
        var brotli = BrotliChunk.Pack(text, text.Length) ?? throw new InvalidOperationException("Brotli did not pack the seed");
        yield return ("tsec", "stored-and-brotli", EntropySeed(28, 3 + text.Length,
            [new ChunkEntry(ChunkMode.Stored, 3, 0), new ChunkEntry(ChunkMode.Brotli, brotli.Length, 0, text.Length)], [new byte[] { 1, 2, 3 }, brotli]));
        yield return ("tsec", "coded", EntropySeed(24, 12,
            [new ChunkEntry(ChunkMode.Tokens, 5, 4), new ChunkEntry(ChunkMode.TokensWithEscapes, 4, 3)], [new byte[] { 9, 8, 7, 6, 5 }, new byte[] { 1, 2, 3, 4 }]));

        var header = new ZTokenContainerHeader
        {
            ModelName = "seed",
            ModelIdentity = new byte[8],
            TokenizerName = "seed",
            TokenizerFingerprint = new byte[8],
            BaseVocabulary = 512,
            Codes = 16,
            SegmentLength = 4,
            MaxCodeLength = 3,
            OriginalLength = 20,
            OriginalCrc = 0,
            TokenCount = 10,
        };
        yield return ("tztk", "blocks", ZTokenContainer.Write(header, blockSegments: 2, [[7, 1, 200, 3], [9, 9]]));
        yield return ("tztk", "mixed", ZTokenContainer.WriteBitPacked(header,
        [
            new StoredSegment([512 + 3, 512 + 7], Corrections.None, null),
            new StoredSegment([], Corrections.None, [1, 2, 3, 4]),
            new StoredSegment([512 + 1], new Corrections([1], [99]), null),
        ], firstCode: 512));

        float[] values = [0.5f, -1, 2, 0.25f, 3, -0.75f];
        yield return ("safetensors", "mixed", Safetensors.Serialize(
            [NamedTensor.FromFloat32("a", [2, 3], values), NamedTensor.FromFloat32("b", [3], values[..3], TensorDType.BF16), NamedTensor.FromFloat32("c", [2], values[..2], TensorDType.F16)],
            new Dictionary<string, string> { ["format"] = "pt" }));

        var model = LlamaModel.CreateRandom(new LlamaConfig(8, 16, 1, 2, 2, 16, 8), seed: 1);
        var checkpoint = new MemoryStream();
        Llama2cCheckpoint.Save(model, checkpoint);
        yield return ("llama2c", "tiny", checkpoint.ToArray());
        yield return ("config", "llama", Encoding.UTF8.GetBytes(ModelFiles.ToHuggingFace(model.Config).ToJson()));
        yield return ("adapter-config", "lora", Encoding.UTF8.GetBytes(new LoraAdapterConfig { Rank = 4, Alpha = 8, Dropout = 0, TargetModules = ["q_proj", "v_proj"] }.ToJson()));

        var ranks = new StringWriter();
        TiktokenRankFile.Write([.. Enumerable.Range(0, 256).Select(b => new[] { (byte)b }), "th"u8.ToArray(), "the"u8.ToArray(), " t"u8.ToArray()], ranks);
        yield return ("tiktoken", "bytes-and-merges", Encoding.UTF8.GetBytes(ranks.ToString()));

        yield return ("vocab-merges", "gpt2-style", [.. SmallVocabulary.Vocab, 0, .. SmallVocabulary.Merges]);
        yield return ("tokenizer-config", "added-tokens", Encoding.UTF8.GetBytes("""
            {"added_tokens_decoder": {"265": {"content": "<|endoftext|>", "lstrip": false, "rstrip": false, "special": true},
              "266": {"content": "<pad>", "lstrip": true, "rstrip": true}},
             "bos_token": null, "eos_token": {"content": "<|endoftext|>"}, "tokenizer_class": "Qwen2Tokenizer"}
            """));
        yield return ("gmsa-config", "mean", Encoding.UTF8.GetBytes("""
            {"format": "terse-gmsa/1", "encoder_layers": 1, "lsa_layers": 1, "merge": "mean", "rates": [2, 4], "segment_length": 4,
             "lora_rank": 2, "lora_alpha": 4, "base_identity": "00ff", "keft": false, "decoder_adapter_in_autoencoder": false,
             "base_model": "tiny", "tokenizer": "tiny"}
            """));
        yield return ("soft-tokens", "two", SoftTokenFile.Serialize(new SoftContext(new float[] { 1, 2, 3, 4, 5, 6 }, 2, 3, 4, 8, 16), new byte[32]));
    }

    private static byte[] EntropySeed(int frequencyTotalBits, int originalLength, ChunkEntry[] chunks, ReadOnlyMemory<byte>[] payloads) => EntropyContainer.Write(new ContainerHeader
    {
        ModelName = "seed",
        ModelIdentity = new byte[8],
        TokenizerName = "seed",
        TokenizerFingerprint = new byte[8],
        FrequencyTotalBits = frequencyTotalBits,
        Context = new ContextPolicy(64, 16),
        OriginalLength = originalLength,
        OriginalCrc = 0,
        Chunks = chunks,
    }, payloads);
}
