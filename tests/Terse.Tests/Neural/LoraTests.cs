using Terse.Neural;
using Terse.Neural.Checkpoints;
using Terse.Neural.Training;
using Terse.Tests.Infrastructure;

namespace Terse.Tests.Neural;

public class LoraTests
{
    private static readonly int[] Tokens = [1, 403, 407, 261, 378, 10, 290, 77];

    private static LlamaModel FreshStories() => Llama2cCheckpoint.Load(TestData.Path("models/stories260K.bin"));

    private static LoraSettings AllTargets(int rank = 4, float dropout = 0f) =>
        new(rank, Alpha: 8, dropout, Enum.GetValues<LlamaProjection>());

    private static void Randomize(LoraAdapter adapter, int seed, float scale = 0.05f)
    {
        var random = new Random(seed);
        foreach (var parameter in adapter.Parameters)
            foreach (ref float value in parameter.Value.Span)
                value = scale * (float)(random.NextDouble() * 2 - 1);
    }

    [Fact]
    public void AFreshAdapterLeavesEveryLogitUnchanged()
    {
        var model = FreshStories();
        var adapter = model.AddAdapter("fresh", AllTargets(), seed: 1);
        Assert.Equal(model.CreateSession().Prefill(Tokens).ToArray(), model.CreateSession(adapter: adapter).Prefill(Tokens).ToArray());
        var basePass = new BatchPass(model, 1, Tokens.Length);
        var adapted = new BatchPass(model, 1, Tokens.Length, adapter: adapter);
        basePass.Forward(Tokens);
        adapted.Forward(Tokens);
        Assert.Equal(basePass.Logits.ToArray(), adapted.Logits.ToArray());
    }

    [Fact]
    public void MergeThenUnmergeRestoresTheBaseExactlyAndMergedOutputsMatchTheAdapter()
    {
        var model = FreshStories();
        var adapter = model.AddAdapter("a", AllTargets(), seed: 2);
        Randomize(adapter, 3);
        var before = model.Parameters.ToDictionary(p => p.Name, p => p.Value.Span.ToArray());
        var unmerged = model.CreateSession(adapter: adapter).Prefill(Tokens).ToArray();
        Assert.NotEqual(model.CreateSession().Prefill(Tokens).ToArray(), unmerged);

        adapter.Merge();
        Assert.True(adapter.IsMerged);
        var merged = model.CreateSession().Prefill(Tokens).ToArray();
        for (int i = 0; i < merged.Length; i++)
            Assert.True(Math.Abs(merged[i] - unmerged[i]) < 1e-4f, $"logit {i}: merged {merged[i]} vs adapter {unmerged[i]}");
        // A session with the merged adapter does not apply it twice.
        Assert.Equal(merged, model.CreateSession(adapter: adapter).Prefill(Tokens).ToArray());

        adapter.Unmerge();
        foreach (var parameter in model.Parameters)
            Assert.Equal(before[parameter.Name], parameter.Value.Span.ToArray());
    }

    [Fact]
    public void SeveralAdaptersShareOneBaseAndEachForwardChoosesOne()
    {
        var model = FreshStories();
        var compressor = model.AddAdapter("compressor", new LoraSettings(4, 8), seed: 1);
        var decompressor = model.AddAdapter("decompressor", new LoraSettings(2, 4, Targets: [LlamaProjection.Gate, LlamaProjection.Down]), seed: 2);
        Randomize(compressor, 10);
        Randomize(decompressor, 11);
        var baseLogits = model.CreateSession().Prefill(Tokens).ToArray();
        var first = model.CreateSession(adapter: compressor).Prefill(Tokens).ToArray();
        var second = model.CreateSession(adapter: decompressor).Prefill(Tokens).ToArray();
        Assert.NotEqual(baseLogits, first);
        Assert.NotEqual(baseLogits, second);
        Assert.NotEqual(first, second);
        Assert.Equal(first, model.CreateSession(adapter: compressor).Prefill(Tokens).ToArray());
        Assert.Equal(["compressor", "decompressor"], model.Adapters.Keys.Order());
        Assert.Equal(2 * 5 * 2, compressor.Parameters.Count); // q and v in each of 5 layers, A and B

        compressor.Merge();
        Assert.Throws<InvalidOperationException>(() => model.CreateSession(adapter: decompressor));
        compressor.Unmerge();
        Assert.Equal(second, model.CreateSession(adapter: decompressor).Prefill(Tokens).ToArray());

        var foreign = FreshStories().AddAdapter("x", new LoraSettings(2, 2));
        Assert.Throws<ArgumentException>(() => model.CreateSession(adapter: foreign));
    }

    [Fact]
    public void WithAFrozenBaseOnlyTheAdapterGetsGradients()
    {
        var model = FreshStories();
        foreach (var parameter in model.Parameters)
            parameter.Frozen = true;
        var adapter = model.AddAdapter("train", AllTargets(), seed: 4);
        var pass = new BatchPass(model, 1, Tokens.Length, adapter: adapter);
        pass.Forward(Tokens);
        pass.Loss(Tokens.Skip(1).Append(-1).ToArray());
        pass.Backward();
        Assert.Equal(adapter.Parameters.OrderBy(p => p.Name), pass.Gradients.Parameters.OrderBy(p => p.Name));
        // With B = 0 the first step moves only B (dA = 0 because dA ∝ B).
        Assert.Contains(adapter.Parameters, p => p.Name.EndsWith("lora_B.weight") && pass.Gradients.Of(p).IndexOfAnyExcept(0f) >= 0);
        Assert.All(adapter.Parameters.Where(p => p.Name.EndsWith("lora_A.weight")), p => Assert.True(pass.Gradients.Of(p).IndexOfAnyExcept(0f) < 0));
    }

    [Theory]
    [InlineData(0f)]
    [InlineData(0.3f)]
    public void AdapterGradientsMatchFiniteDifferences(float dropout)
    {
        var model = LlamaModel.CreateRandom(new LlamaConfig(16, 24, 2, 4, 2, 23, 8), seed: 9);
        foreach (var parameter in model.Parameters)
            parameter.Frozen = true;
        var adapter = model.AddAdapter("check", AllTargets(rank: 3, dropout), seed: 5);
        Randomize(adapter, 6, scale: 0.5f);
        var random = new Random(7);
        var tokens = Enumerable.Range(0, 10).Select(_ => random.Next(23)).ToArray();
        var targets = Enumerable.Range(0, 10).Select(_ => random.Next(23)).ToArray();
        // A new pass with the same seed draws the same dropout masks, so the loss is a fixed function of the weights.
        double Loss()
        {
            var pass = new BatchPass(model, 2, 5, adapter: adapter, seed: 42);
            pass.Forward(tokens);
            return pass.Loss(targets);
        }
        var reference = new BatchPass(model, 2, 5, adapter: adapter, seed: 42);
        reference.Forward(tokens);
        reference.Loss(targets);
        reference.Backward();
        foreach (var parameter in adapter.Parameters.Where((_, i) => i % 3 == 0))
        {
            var gradient = reference.Gradients.Of(parameter).ToArray();
            var direction = Enumerable.Range(0, parameter.Length).Select(_ => random.Next(2) == 0 ? -1f : 1f).ToArray();
            var saved = parameter.Value.Span.ToArray();
            const float step = 3e-3f; // the adapter update is scaled by α/r ≈ 2.7, so a smaller step keeps the difference quotient in the linear range
            for (int i = 0; i < saved.Length; i++) parameter.Value.Span[i] = saved[i] + step * direction[i];
            double plus = Loss();
            for (int i = 0; i < saved.Length; i++) parameter.Value.Span[i] = saved[i] - step * direction[i];
            double minus = Loss();
            saved.CopyTo(parameter.Value.Span);
            double numeric = (plus - minus) / (2 * step);
            double analytic = gradient.Select((g, i) => (double)g * direction[i]).Sum();
            // Same bound as GradientCheckTests: 1% relative plus a float32 noise floor.
            Assert.True(Math.Abs(numeric - analytic) <= 1e-2 * Math.Max(Math.Abs(numeric), Math.Abs(analytic)) + 5e-5,
                $"{parameter.Name}: analytic {analytic} vs numeric {numeric}");
        }
    }

    [Fact]
    public void InvalidSettingsAreRejected()
    {
        var model = FreshStories();
        Assert.Throws<ArgumentOutOfRangeException>(() => model.AddAdapter("r0", new LoraSettings(0, 1)));
        Assert.Throws<ArgumentOutOfRangeException>(() => model.AddAdapter("p1", new LoraSettings(2, 1, Dropout: 1f)));
        Assert.Throws<ArgumentOutOfRangeException>(() => model.AddAdapter("l9", new LoraSettings(2, 1, Layers: [9])));
        model.AddAdapter("dup", new LoraSettings(2, 1));
        Assert.Throws<ArgumentException>(() => model.AddAdapter("dup", new LoraSettings(2, 1)));
    }
}
