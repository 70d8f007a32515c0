using System.Text.Json;
using System.Text.RegularExpressions;
using Terse.Tests.Infrastructure;
using Terse.Tokenization;
using Terse.Tokenization.PreTokenization;
using Terse.Tokenization.Tiktoken;

namespace Terse.Tests.Tokenization;

/// <summary>The built-in tiktoken encodings against published vectors and their source rank files.</summary>
public class TiktokenGoldenTests
{
    public static TheoryData<string> Encodings() => [.. TiktokenEncodings.BuiltIn.Select(e => e.Name)];

    /// <summary>SharpToken's test plan: every sample of every encoding Terse ships, special tokens allowed.</summary>
    [Theory]
    [MemberData(nameof(Encodings))]
    public void SharpTokenTestPlanVectors(string encodingName)
    {
        var tokenizer = TokenizerRegistry.Load(encodingName);
        var plan = TestData.ReadText("tokenizers/sharptoken_TestPlans.txt");
        var cases = Regex.Matches(plan, @"EncodingName: (\S+)\nSample: (.*)\nEncoded: \[([0-9, ]*)\]")
            .Where(m => m.Groups[1].Value == encodingName)
            .Select(m => (Sample: m.Groups[2].Value, Ids: m.Groups[3].Value.Split(", ", StringSplitOptions.RemoveEmptyEntries).Select(int.Parse).ToArray()))
            .ToList();
        // p50k_edit and the others each have dozens of vectors in the plan; an empty list would mean a parsing slip.
        Assert.True(cases.Count >= 60, $"only {cases.Count} vectors for {encodingName}");
        foreach (var (sample, expected) in cases)
        {
            var actual = tokenizer.Encode(sample, new EncodeOptions(AllowSpecialTokens: true));
            Assert.True(expected.SequenceEqual(actual), $"{encodingName} '{sample}': expected [{string.Join(", ", expected)}] got [{string.Join(", ", actual)}]");
            Assert.Equal(sample, tokenizer.Decode(actual));
        }
    }

    /// <summary>The compact embedded assets hold exactly the ranks of the source .tiktoken files.</summary>
    [Theory]
    [MemberData(nameof(Encodings))]
    public void EmbeddedAssetEqualsSourceRankFile(string encodingName)
    {
        var encoding = TiktokenEncodings.Find(encodingName)!;
        var source = TestData.ReadBytes($"tokenizers/{encoding.RanksAsset[..encoding.RanksAsset.IndexOf('.')]}.tiktoken");
        var expected = TiktokenRankFile.Parse(source, "source");
        var embedded = TiktokenEncodings.RanksOf(encoding);
        Assert.Equal(expected.Length, embedded.Length);
        for (int rank = 0; rank < expected.Length; rank++)
            Assert.True((expected[rank] ?? []).AsSpan().SequenceEqual(embedded[rank] ?? []), $"rank {rank} differs");
        Assert.Equal(encoding.VocabularySize, TokenizerRegistry.Load(encodingName).VocabularySize);
    }

    /// <summary>
    /// Pattern and special tokens as npm tiktoken defines them (Golden/tiktoken-definitions.json, from
    /// <c>node bench/tiktoken-node/tiktoken-reference.mjs definitions</c>): the built-in's scanner is
    /// the one for exactly that pattern.
    /// </summary>
    [Theory]
    [MemberData(nameof(Encodings))]
    public void DefinitionsEqualNpmTiktoken(string encodingName)
    {
        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(TestData.RepositoryRoot, "tests/Terse.Tests/Tokenization/Golden/tiktoken-definitions.json")));
        var definition = json.RootElement.GetProperty("encodings").GetProperty(encodingName);
        var encoding = TiktokenEncodings.Find(encodingName)!;
        Assert.Same(encoding.PreTokenizer, PreTokenizers.ScannerFor(definition.GetProperty("pat_str").GetString()!));
        var expected = definition.GetProperty("special_tokens").EnumerateObject().Select(p => (p.Name, p.Value.GetInt32())).Order();
        Assert.Equal(expected, encoding.SpecialTokens.Select(s => (s.Text, s.Id)).Order());
        Assert.Equal(expected, TokenizerRegistry.Load(encodingName).SpecialTokens.Select(p => (p.Key, p.Value)).Order());
    }
}
