using Terse.Neural;
using Terse.Neural.Checkpoints;
using Terse.Tests.Infrastructure;

namespace Terse.Tests.Neural;

public class LlamaModelTests
{
    [Fact]
    public void Stories260KHeaderIsReadAsDocumented()
    {
        var config = ModelFixtures.Stories260K.Config;
        Assert.Equal(new LlamaConfig(64, 172, 5, 8, 4, 512, 512), config);
        // SOURCES.md counts 264,128 floats including the two obsolete 512×4 RoPE tables.
        Assert.Equal(264_128 - 2 * 512 * 4, ModelFixtures.Stories260K.Parameters.ElementCount);
    }

    [Theory]
    [InlineData("stories260K.bin", "stories260K_tok512.bin")]
    [InlineData("aidreams260K.bin", "aidreams260K_tok512.bin")]
    public void GreedyGenerationFromBosMatchesRunC(string modelFile, string tokenizerFile)
    {
        foreach (var golden in ModelFixtures.GoldenCases().Where(g => g.Model == modelFile && g.Prompt == ""))
        {
            var model = ModelFixtures.Load(modelFile);
            var pieces = ModelFixtures.ReadLlama2cPieces(tokenizerFile, model.Config.VocabSize);
            var ids = ModelFixtures.GreedyFromBos(model, golden.Steps);
            Assert.Equal(golden.Expected, ModelFixtures.PrintLikeRunC(pieces, ids));
        }
    }
}

public class ReferenceAgreementTests
{
    [Fact]
    public void DecodingMatchesTheDoublePrecisionReferenceOnStories260K()
    {
        var model = ModelFixtures.Stories260K;
        int[] tokens = [1, 403, 407, 261, 378, 10, 1000 % 512, 77, 300, 4];
        var expected = ReferenceLlama.Logits(model, ReferenceLlama.TokenInputs(model, tokens));
        var session = model.CreateSession();
        for (int t = 0; t < tokens.Length; t++)
        {
            var logits = session.Step(tokens[t]).ToArray();
            double worst = logits.Select((v, i) => Math.Abs(v - expected[t][i])).Max();
            // float32 vs float64 through 5 layers: logits of magnitude ~10 agree to ~1e-4.
            Assert.True(worst < 2e-3, $"position {t}: max |Δlogit| = {worst}");
        }
    }
}
