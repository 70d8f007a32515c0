using System.Diagnostics;
using System.Text.Json;
using Terse.Neural;
using Terse.Neural.Training;
using Terse.Tests.Infrastructure;
using Xunit.Abstractions;

namespace Terse.Tests.Neural;

/// <summary>
/// The engine against scripts/hf-reference.py, a float64 PyTorch rendering of transformers' Llama/Qwen2
/// forward pass, on the random-weight Hugging Face folders it wrote into Neural/Reference: nats/token
/// of a 96-token sequence, longer than every original context length there, so the scalings matter.
/// </summary>
public class HuggingFaceParityTests(ITestOutputHelper output)
{
    /// <summary>Relative agreement the issue asks for; the engine computes in float32, the reference in float64.</summary>
    private const double Tolerance = 1e-4;

    public static string ReferenceRoot => Path.Combine(TestData.RepositoryRoot, "tests", "Terse.Tests", "Neural", "Reference");

    public static TheoryData<string> Cases => new() { "qwen2-f32", "llama3-bf16", "linear-f16-sharded", "dynamic-bf16", "yarn-bf16" };

    private sealed record Golden(int[] Tokens, double NatsPerToken, double? Stepwise, double WithoutScaling);

    private static Golden ReadGolden(string folder)
    {
        using var document = JsonDocument.Parse(File.ReadAllText(Path.Combine(folder, "expected.json")));
        var root = document.RootElement;
        return new Golden(
            root.GetProperty("tokens").EnumerateArray().Select(t => t.GetInt32()).ToArray(),
            root.GetProperty("nats_per_token").GetDouble(),
            root.TryGetProperty("nats_per_token_stepwise", out var stepwise) ? stepwise.GetDouble() : null,
            root.GetProperty("nats_per_token_without_scaling").GetDouble());
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void DecodingAndTheBatchPassScoreWhatTheFloat64ReferenceScores(string name)
    {
        string folder = Path.Combine(ReferenceRoot, name);
        var golden = ReadGolden(folder);
        var model = ModelFiles.Load(folder);
        Assert.True(golden.Tokens.Length > (model.Config.RopeScaling?.OriginalMaxPositions ?? 0), "the sequence must run past the original context");

        double session = SessionNats(model, golden.Tokens, stepwise: false);
        double batch = BatchNats(model, golden.Tokens);
        var errors = new List<double> { Relative(session, golden.NatsPerToken), Relative(batch, golden.NatsPerToken) };
        if (golden.Stepwise is { } stepwiseGolden)
            errors.Add(Relative(SessionNats(model, golden.Tokens, stepwise: true), stepwiseGolden));
        var unscaled = WithoutScaling(model);
        errors.Add(Relative(SessionNats(unscaled, golden.Tokens, stepwise: false), golden.WithoutScaling));
        output.WriteLine($"{name}: reference {golden.NatsPerToken:R} nats/token, session {session:R}, batch {batch:R}; max relative error {errors.Max():E2}");
        Assert.All(errors, error => Assert.True(error <= Tolerance, $"{name}: relative error {error:E3} > {Tolerance:E0}"));

        // Without the scaling the same weights score measurably differently, so this test sees a wrong scaling.
        if (model.Config.RopeScaling is not null)
            Assert.True(Relative(golden.WithoutScaling, golden.NatsPerToken) > 10 * Tolerance, $"{name}: the scaling hardly changes the score");
        if (golden.Stepwise is { } stepwise)
            Assert.True(Relative(stepwise, golden.NatsPerToken) > 10 * Tolerance, $"{name}: feeding token by token hardly changes the score");
    }

    [Fact]
    public void TheFoldersDeclareWhatTheCasesCover()
    {
        var qwen = ModelFiles.Load(Path.Combine(ReferenceRoot, "qwen2-f32"));
        Assert.True(qwen.Config is { AttentionBias: true, TiedEmbeddings: true, Heads: 2, KvHeads: 1, RopeScaling: null });
        var llama3 = ModelFiles.Load(Path.Combine(ReferenceRoot, "llama3-bf16"));
        Assert.Equal(RopeScalingType.Llama3, llama3.Config.RopeScaling!.Type);
        // generation_config.json overrides config.json's bos 1 / eos 2.
        Assert.Equal(3, llama3.BosTokenId);
        Assert.Equal([5, 7], llama3.EosTokenIds);
        var linear = Path.Combine(ReferenceRoot, "linear-f16-sharded");
        Assert.False(File.Exists(Path.Combine(linear, "model.safetensors")));
        Assert.Equal(2, Directory.GetFiles(linear, "model-0000?-of-00002.safetensors").Length);
        Assert.Equal(RopeScalingType.Linear, ModelFiles.Load(linear).Config.RopeScaling!.Type);
        // Dynamic NTK runs up to factor × max_position_embeddings (32 × 4).
        var dynamic = ModelFiles.Load(Path.Combine(ReferenceRoot, "dynamic-bf16"));
        Assert.Equal((RopeScalingType.Dynamic, 128, 32), (dynamic.Config.RopeScaling!.Type, dynamic.Config.MaxSequenceLength, dynamic.Config.RopeScaling.OriginalMaxPositions));
    }

    /// <summary>When python3-torch is installed, the reference recomputes the committed goldens from the committed files.</summary>
    [Fact]
    public void TheReferenceScriptReproducesTheGoldensWhenTorchIsInstalled()
    {
        if (TorchPython() is not { } python)
        {
            output.WriteLine("python3-torch is not installed: checked against the committed goldens only");
            return;
        }
        foreach (string name in Cases)
        {
            string folder = Path.Combine(ReferenceRoot, name);
            var (code, stdout, stderr) = Run(python, Path.Combine(TestData.RepositoryRoot, "scripts", "hf-reference.py"), "score", folder);
            Assert.True(code == 0, $"hf-reference.py score {name} failed: {stderr}");
            using var scored = JsonDocument.Parse(stdout);
            var golden = ReadGolden(folder);
            Assert.Equal(golden.NatsPerToken, scored.RootElement.GetProperty("nats_per_token").GetDouble(), 1e-9);
            Assert.Equal(golden.WithoutScaling, scored.RootElement.GetProperty("nats_per_token_without_scaling").GetDouble(), 1e-9);
            if (golden.Stepwise is { } stepwise)
                Assert.Equal(stepwise, scored.RootElement.GetProperty("nats_per_token_stepwise").GetDouble(), 1e-9);
        }
    }

    private static string? TorchPython()
    {
        foreach (string candidate in new[] { "/usr/bin/python3", "python3" })
        {
            try
            {
                if (Run(candidate, "-c", "import torch").Code == 0)
                    return candidate;
            }
            catch (System.ComponentModel.Win32Exception)
            {
                // Not installed under that name.
            }
        }
        return null;
    }

    private static (int Code, string Stdout, string Stderr) Run(string program, params string[] arguments)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string argument in arguments)
            start.ArgumentList.Add(argument);
        using var process = Process.Start(start)!;
        var stderr = process.StandardError.ReadToEndAsync();
        string stdout = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, stdout, stderr.Result);
    }

    private static double Relative(double actual, double expected) => Math.Abs(actual - expected) / Math.Abs(expected);

    /// <summary>Mean −ln p(token t+1 | tokens ≤ t) from a decoding session: one prefill, or one call per token.</summary>
    internal static double SessionNats(LlamaModel model, int[] tokens, bool stepwise)
    {
        int vocabulary = model.Config.VocabSize;
        var session = model.CreateSession(tokens.Length);
        var logits = new float[tokens.Length * vocabulary];   // [T][V]
        if (stepwise)
            for (int t = 0; t < tokens.Length; t++)
                session.Step(tokens[t]).CopyTo(logits.AsSpan(t * vocabulary, vocabulary));
        else
            session.Prefill(tokens, logits);
        double nats = 0;
        for (int t = 0; t + 1 < tokens.Length; t++)
        {
            var row = logits.AsSpan(t * vocabulary, vocabulary);
            double max = System.Numerics.Tensors.TensorPrimitives.Max(row), sum = 0;
            foreach (float logit in row)
                sum += Math.Exp(logit - max);
            nats += max + Math.Log(sum) - row[tokens[t + 1]];
        }
        return nats / (tokens.Length - 1);
    }

    /// <summary>The same through the batched training pass: one window holding the whole sequence.</summary>
    private static double BatchNats(LlamaModel model, int[] tokens) =>
        Perplexity.CrossEntropy(model, tokens.AsSpan(1), tokens[0], window: tokens.Length).NatsPerToken;

    private static LlamaModel WithoutScaling(LlamaModel model)
    {
        var copy = new LlamaModel(model.Config with { RopeScaling = null });
        foreach (var parameter in model.Parameters)
            parameter.Value.Span.CopyTo(copy.Parameters[parameter.Name].Value.Span);
        return copy;
    }
}
