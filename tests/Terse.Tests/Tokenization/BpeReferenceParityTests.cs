using System.Buffers.Binary;
using System.Text;
using FsCheck;
using FsCheck.Fluent;
using Terse.Tokenization;
using Terse.Tokenization.Llama2c;
using Terse.Tokenization.SentencePiece;
using TestData = Terse.Tests.Infrastructure.TestData;

namespace Terse.Tests.Tokenization;

/// <summary>
/// The fast SentencePiece and llama2.c encoders (pair table, segment cuts decided from the
/// vocabulary, segment cache) against <see cref="ReferenceBpe"/>, which merges whole inputs over
/// strings: identical ids on every shared text file, on random text, and on random small
/// vocabularies built so that pieces span spaces, tie in score, are UNUSED or user-defined.
/// </summary>
public class BpeReferenceParityTests
{
    private const string Llama2 = "tokenizers/llama2_tokenizer.model";
    private const string MistralV3 = "tokenizers/mistral_v3_tokenizer.model";
    private const string BabyLlama = "models/babyllama_tok105.model";

    public static readonly TheoryData<string> SentencePieceModels = new() { Llama2, MistralV3, BabyLlama };

    public static readonly TheoryData<string> Llama2cFiles = new()
    {
        "tokenizers/llama2_tokenizer_llama2c.bin",
        "models/stories260K_tok512.bin",
        "models/aidreams260K_tok512.bin",
    };

    /// <summary>The whole-file comparison is the slow one (the reference runs at well under 1 MB/s); aidreams' 512 tokens add little to stories260K's.</summary>
    public static readonly TheoryData<string> Llama2cFilesForWholeTexts = new()
    {
        "tokenizers/llama2_tokenizer_llama2c.bin",
        "models/stories260K_tok512.bin",
    };

    private static readonly Dictionary<string, SentencePieceModel> s_models = new();

    private static SentencePieceModel Model(string relative)
    {
        lock (s_models)
        {
            if (!s_models.TryGetValue(relative, out var model))
                s_models[relative] = model = SentencePieceModel.FromModelProto(File.ReadAllBytes(TestData.Path(relative)), relative);
            return model;
        }
    }

    private static (byte[][] Pieces, float[] Scores) Vocabulary(Llama2cTokenizer tokenizer) =>
        (Enumerable.Range(0, tokenizer.VocabularySize).Select(id => tokenizer.PieceBytes(id).ToArray()).ToArray(),
         Enumerable.Range(0, tokenizer.VocabularySize).Select(tokenizer.Score).ToArray());

    [Theory]
    [MemberData(nameof(SentencePieceModels))]
    public void SentencePiece_matches_the_reference_on_every_text_file(string relative)
    {
        var tokenizer = SentencePieceTokenizers.Load(relative);
        foreach (var file in TestData.TextFiles())
        {
            var text = TestData.ReadText(file);
            Assert.True(ReferenceBpe.SentencePiece(Model(relative), text, allowControl: false).SequenceEqual(tokenizer.Encode(text)), file);
        }
    }

    [Theory]
    [MemberData(nameof(Llama2cFilesForWholeTexts))]
    public void Llama2c_matches_the_reference_on_every_text_file(string relative)
    {
        var tokenizer = Llama2cTokenizerTests.Load(relative);
        var (pieces, scores) = Vocabulary(tokenizer);
        foreach (var file in TestData.TextFiles())
        {
            var text = TestData.ReadText(file);
            Assert.True(ReferenceBpe.Llama2c(pieces, scores, text, allowSpecial: false, rescan: false).SequenceEqual(tokenizer.Encode(text)), file);
        }
    }

    /// <summary>Random text leaning on what decides cuts: spaces and their runs, tabs, newlines, ▁, characters outside the vocabulary, control spellings.</summary>
    private static Arbitrary<string> CutProneText()
    {
        var fragment = Gen.OneOf(
            TokenizerGenerators.PatternFragment,
            TokenizerGenerators.UnicodeText().Generator.Select(s => s.Length > 12 ? s[..12] : s),
            Gen.Elements(" ", "  ", "   ", "\t", "\t ", " \t", "\n", "\r\n", "\n\n", "\u2581", "\u2581\u2581", " \u2581", "\u2581 ",
                "<s>", "</s>", "[INST]", "[/INST]", "[REFERENCE_DOC_7]", "<0x41>", "<unk>", "\0", "\uD800", "\uDFFF",
                "Once upon a time", " the", "the ", "...", "\u00A7", "日本語", "🦙"));
        return Gen.Choose(0, 30).SelectMany(n => fragment.ArrayOf(n)).Select(string.Concat).ToArbitrary();
    }

    [Theory]
    [MemberData(nameof(SentencePieceModels))]
    public void SentencePiece_matches_the_reference_on_random_text(string relative)
    {
        var tokenizer = SentencePieceTokenizers.Load(relative);
        var model = Model(relative);
        Prop.ForAll(CutProneText(), text =>
                ReferenceBpe.SentencePiece(model, text, allowControl: false).SequenceEqual(tokenizer.Encode(text))
                && ReferenceBpe.SentencePiece(model, text, allowControl: true).SequenceEqual(tokenizer.Encode(text, new EncodeOptions(AllowSpecialTokens: true))))
            .Check(TokenizerGenerators.Config(400));
    }

    [Theory]
    [MemberData(nameof(Llama2cFiles))]
    public void Llama2c_matches_run_c_rescanning_on_random_text(string relative)
    {
        var tokenizer = Llama2cTokenizerTests.Load(relative);
        var (pieces, scores) = Vocabulary(tokenizer);
        Prop.ForAll(CutProneText(), text =>
                ReferenceBpe.Llama2c(pieces, scores, text, allowSpecial: false, rescan: true).SequenceEqual(tokenizer.Encode(text))
                && ReferenceBpe.Llama2c(pieces, scores, text, allowSpecial: true, rescan: true).SequenceEqual(tokenizer.Encode(text, new EncodeOptions(AllowSpecialTokens: true))))
            .Check(TokenizerGenerators.Config(400));
    }

    [Fact]
    public void Repeated_words_come_out_the_same_once_cached()
    {
        // The same words many times over, so most segments come from the cache, and enough distinct
        // words to make the cache start over several times.
        var random = new Random(7);
        string[] common = ["the", "cat", "  sat", "on"];
        var words = Enumerable.Range(0, 40_000).Select(i => i % 3 == 0 ? "w" + random.Next(30_000) : common[i % 4]);
        string text = string.Join(' ', words);
        var tokenizer = SentencePieceTokenizers.Load(Llama2);
        Assert.True(ReferenceBpe.SentencePiece(Model(Llama2), text, allowControl: false).SequenceEqual(tokenizer.Encode(text)));
        Assert.Equal(tokenizer.Encode(text), tokenizer.Encode(text));
    }

    [Fact]
    public void Concurrent_encodes_give_the_same_ids_as_one_at_a_time()
    {
        // Each call borrows the tokenizer's one spare workspace (and its cache) or makes its own.
        var lines = TestData.ReadText("text/wikitext2_raw_test.txt").Split('\n').Where(l => l.Length > 0).Take(4000).ToArray();
        Tokenizer[] tokenizers = [SentencePieceTokenizers.Load(Llama2), Llama2cTokenizerTests.Load("tokenizers/llama2_tokenizer_llama2c.bin")];
        foreach (var tokenizer in tokenizers)
        {
            var expected = lines.Select(l => tokenizer.Encode(l)).ToArray();
            var actual = new int[lines.Length][];
            Parallel.For(0, lines.Length, new ParallelOptions { MaxDegreeOfParallelism = 8 }, i => actual[i] = tokenizer.Encode(lines[i]));
            for (int i = 0; i < lines.Length; i++)
                Assert.True(expected[i].SequenceEqual(actual[i]), $"{tokenizer.Name} line {i}");
        }
    }

    private const string Alphabet = "ab▁é🦙";

    /// <summary>A random string over <see cref="Alphabet"/>'s code points.</summary>
    private static string RandomPiece(Random random, int maxCodePoints)
    {
        var codePoints = Alphabet.EnumerateRunes().ToArray();
        var builder = new StringBuilder();
        for (int n = random.Next(1, maxCodePoints + 1); n > 0; n--)
            builder.Append(codePoints[random.Next(codePoints.Length)].ToString());
        return builder.ToString();
    }

    private static string RandomText(Random random)
    {
        string[] extra = [" ", " ", "  ", "\t", "\n", "x", "中", "<s>", "<u>", "ab", "▁ "];
        var builder = new StringBuilder();
        for (int n = random.Next(0, 25); n > 0; n--)
            builder.Append(random.Next(3) == 0 ? extra[random.Next(extra.Length)] : RandomPiece(random, 1));
        return builder.ToString();
    }

    [Fact]
    public void SentencePiece_matches_the_reference_on_random_vocabularies()
    {
        var random = new Random(20240611);
        for (int vocabulary = 0; vocabulary < 300; vocabulary++)
        {
            bool byteFallback = random.Next(2) == 0;
            var pieces = new List<(string, float, int)> { ("<unk>", 0, 2), ("<s>", 0, 3), ("</s>", 0, 3) };
            if (byteFallback)
                pieces.AddRange(Enumerable.Range(0, 256).Select(b => ($"<0x{b:X2}>", 0f, 6)));
            var seen = new HashSet<string>(pieces.Select(p => p.Item1), StringComparer.Ordinal);
            for (int i = random.Next(3, 40); i > 0; i--)
            {
                string piece = random.Next(8) == 0 ? "<u>" : RandomPiece(random, 4);
                if (!seen.Add(piece))
                    continue;
                int type = piece == "<u>" || random.Next(12) == 0 ? 4 : random.Next(6) == 0 ? 5 : 1;
                pieces.Add((piece, -random.Next(4), type)); // few distinct scores: many ties
            }
            var bytes = ProtoWriter.Model(pieces, modelType: random.Next(8) == 0 ? 4 : 2, byteFallback: byteFallback,
                addDummyPrefix: random.Next(3) != 0, removeExtraWhitespaces: random.Next(3) == 0);
            var tokenizer = SentencePieceTokenizer.FromBytes(bytes, "random.model");
            var model = SentencePieceModel.FromModelProto(bytes, "random.model");
            for (int t = 0; t < 40; t++)
            {
                string text = RandomText(random);
                foreach (bool allow in new[] { false, true })
                {
                    var expected = ReferenceBpe.SentencePiece(model, text, allow);
                    var actual = tokenizer.Encode(text, new EncodeOptions(AllowSpecialTokens: allow));
                    Assert.True(expected.SequenceEqual(actual),
                        $"vocabulary {vocabulary} [{string.Join(" | ", pieces.Skip(3).Where(p => p.Item3 != 6))}], text '{text}', allow {allow}: expected [{string.Join(' ', expected)}], got [{string.Join(' ', actual)}]");
                }
            }
        }
    }

    [Fact]
    public void Llama2c_matches_run_c_on_random_vocabularies()
    {
        var random = new Random(1103);
        string[] units = ["a", "b", " ", " ", "é", "\n", "<", "0x", ">", "\u00FF"];
        for (int vocabulary = 0; vocabulary < 300; vocabulary++)
        {
            var pieces = new List<byte[]> { "<unk>"u8.ToArray(), "\n<s>\n"u8.ToArray(), "\n</s>\n"u8.ToArray() };
            var scores = new List<float> { 0, 0, 0 };
            for (int b = 0; b < 256; b++)
            {
                pieces.Add(Encoding.ASCII.GetBytes($"<0x{b:X2}>"));
                scores.Add(0);
            }
            pieces.Add(" "u8.ToArray());
            scores.Add(-random.Next(3));
            for (int i = random.Next(3, 40); i > 0; i--)
            {
                // Duplicate spellings allowed (the lowest id wins); scores at or below -1e10 never merge.
                string piece = string.Concat(Enumerable.Range(0, random.Next(1, 4)).Select(_ => units[random.Next(units.Length)]));
                pieces.Add(Encoding.UTF8.GetBytes(piece));
                scores.Add(random.Next(10) == 0 ? -1e10f : -random.Next(4));
            }
            var tokenizer = Llama2cTokenizer.FromBytes(WriteLlama2cFile(pieces, scores), "random.bin");
            for (int t = 0; t < 40; t++)
            {
                string text = RandomText(random).Replace("\0", "");
                foreach (bool allow in new[] { false, true })
                {
                    var expected = ReferenceBpe.Llama2c(pieces.ToArray(), scores.ToArray(), text, allow, rescan: true);
                    var actual = tokenizer.Encode(text, new EncodeOptions(AllowSpecialTokens: allow));
                    Assert.True(expected.SequenceEqual(actual),
                        $"vocabulary {vocabulary} [{string.Join(" | ", pieces.Skip(259).Select(Encoding.UTF8.GetString))}], text '{text}', allow {allow}: expected [{string.Join(' ', expected)}], got [{string.Join(' ', actual)}]");
                }
            }
        }
    }

    private static byte[] WriteLlama2cFile(List<byte[]> pieces, List<float> scores)
    {
        var file = new List<byte>();
        var word = new byte[4];
        BinaryPrimitives.WriteInt32LittleEndian(word, pieces.Max(p => p.Length));
        file.AddRange(word);
        for (int i = 0; i < pieces.Count; i++)
        {
            BinaryPrimitives.WriteSingleLittleEndian(word, scores[i]);
            file.AddRange(word);
            BinaryPrimitives.WriteInt32LittleEndian(word, pieces[i].Length);
            file.AddRange(word);
            file.AddRange(pieces[i]);
        }
        return file.ToArray();
    }
}
