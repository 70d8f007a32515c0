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

public class TextGenerationTests
{
    /// <summary>run.c's generate loop written out literally (one forward per position).</summary>
    private static List<int> RunCLoop(Terse.Neural.LlamaModel model, int[] prompt, int steps)
    {
        var session = model.CreateSession();
        var printed = new List<int>();
        int token = prompt[0];
        for (int pos = 0; pos < steps; pos++)
        {
            var logits = session.Step(token);
            int next = pos < prompt.Length - 1 ? prompt[pos + 1] : Terse.Neural.Sampler.ArgMax(logits);
            if (next == 1)
                break;
            printed.Add(next);
            token = next;
        }
        return printed;
    }

    [Theory]
    [InlineData("", 1)]
    [InlineData("", 7)]
    [InlineData("Once upon a time there was a dog", 3)]   // budget ends inside the prompt
    [InlineData("Once upon a time there was a dog", 9)]   // ends exactly at the last prompt token
    [InlineData("Once upon a time there was a dog", 10)]
    [InlineData("Once upon a time there was a dog", 40)]
    public void FollowsRunCsLoopForAnyBudget(string prompt, int steps)
    {
        var model = ModelFixtures.Stories260K;
        var tokenizer = Terse.Tokenization.Llama2c.Llama2cTokenizer.Stories260K;
        var promptTokens = tokenizer.Encode(prompt, new Terse.Tokenization.EncodeOptions(AddBos: true));
        var expected = RunCLoop(model, promptTokens, steps);
        var printed = new List<byte>();
        var result = Terse.Neural.TextGeneration.Generate(model, tokenizer, prompt, steps, new Terse.Neural.Sampler(0), b => printed.AddRange(b.ToArray()));
        Assert.Equal(expected, result.Tokens.Skip(1));
        var expectedBytes = new List<byte>();
        int previous = 1;
        foreach (int id in expected)
        {
            expectedBytes.AddRange(tokenizer.GeneratedPieceBytes(previous, id).ToArray());
            previous = id;
        }
        Assert.Equal(expectedBytes, printed);
    }

    [Fact]
    public void StopsAtAnEndOfSequenceIdTheModelDeclares()
    {
        var tokenizer = Terse.Tokenization.Llama2c.Llama2cTokenizer.Stories260K;
        var free = Terse.Neural.TextGeneration.Generate(ModelFixtures.Stories260K, tokenizer, "Once upon a time", 40, new Terse.Neural.Sampler(0));
        Assert.False(free.StoppedAtEos);
        // The first generated token not seen before it, so that declaring it EOS changes nothing earlier.
        int at = Enumerable.Range(free.PromptTokens, free.Tokens.Count - free.PromptTokens).First(j => !free.Tokens.Take(j).Contains(free.Tokens[j]));
        int eos = free.Tokens[at];
        // The same weights declaring that id as EOS (as generation_config.json would).
        var declaring = new LlamaModel(ModelFixtures.Stories260K.Config) { EosTokenIds = [eos] };
        foreach (var parameter in ModelFixtures.Stories260K.Parameters)
            parameter.Value.Span.CopyTo(declaring.Parameters[parameter.Name].Value.Span);
        var stopped = Terse.Neural.TextGeneration.Generate(declaring, tokenizer, "Once upon a time", 40, new Terse.Neural.Sampler(0));
        Assert.True(stopped.StoppedAtEos);
        Assert.False(stopped.StoppedAtBos);
        Assert.Equal(free.Tokens.Take(at), stopped.Tokens);
    }
}
