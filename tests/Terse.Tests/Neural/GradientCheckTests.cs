using Terse.Neural;
using Terse.Neural.Layers;
using Terse.Neural.Numerics;
using Terse.Neural.Training;

namespace Terse.Tests.Neural;

/// <summary>
/// Every backward pass against central finite differences of its forward pass. Each check compares
/// the directional derivative ⟨∇L, u⟩ for random ±1 directions u (which exercises every element at
/// once) and also single elements, with the loss accumulated in double. Bound:
/// |analytic − numeric| ≤ 1e-2 · max(|analytic|, |numeric|) + 5e-5 — a relative error of 1% plus
/// an absolute floor for the float32 rounding noise of the loss divided by the step (≈1e-5 here).
/// </summary>
public class GradientCheckTests
{
    private const double RelativeBound = 1e-2;
    private const double AbsoluteFloor = 5e-5;
    private const float Step = 1e-2f;

    internal static float[] RandomArray(Random random, int length, double scale = 1) =>
        Enumerable.Range(0, length).Select(_ => (float)((random.NextDouble() * 2 - 1) * scale)).ToArray();

    internal static double WeightedSum(ReadOnlySpan<float> values, float[] weights)
    {
        double sum = 0;
        for (int i = 0; i < values.Length; i++)
            sum += (double)values[i] * weights[i];
        return sum;
    }

    /// <summary>Checks <paramref name="gradient"/> of <paramref name="loss"/> w.r.t. <paramref name="x"/> (perturbed in place and restored).</summary>
    internal static void Check(string what, Func<double> loss, float[] x, float[] gradient, Random random, int elements = 3, float step = Step)
    {
        for (int trial = 0; trial < 2 + elements; trial++)
        {
            var direction = new float[x.Length];
            if (trial < 2)
                for (int i = 0; i < x.Length; i++)
                    direction[i] = random.Next(2) == 0 ? -1 : 1;
            else
                direction[random.Next(x.Length)] = 1;
            var saved = (float[])x.Clone();
            for (int i = 0; i < x.Length; i++) x[i] = saved[i] + step * direction[i];
            double plus = loss();
            for (int i = 0; i < x.Length; i++) x[i] = saved[i] - step * direction[i];
            double minus = loss();
            saved.CopyTo(x, 0);
            double numeric = (plus - minus) / (2 * step);
            double analytic = WeightedSum(gradient, direction);
            double scale = Math.Max(Math.Abs(numeric), Math.Abs(analytic));
            Assert.True(Math.Abs(numeric - analytic) <= RelativeBound * scale + AbsoluteFloor,
                $"{what}, trial {trial}: analytic {analytic:G6} vs numeric {numeric:G6}");
        }
    }

    [Fact]
    public void RmsNorm()
    {
        var random = new Random(1);
        int rows = 3, dim = 10;
        var x = RandomArray(random, rows * dim);
        var weight = RandomArray(random, dim);
        var upstream = RandomArray(random, rows * dim);
        double Loss()
        {
            var y = new float[rows * dim];
            Terse.Neural.Layers.RmsNorm.Forward(x, weight, y, new float[rows], rows, dim, 1e-5f);
            return WeightedSum(y, upstream);
        }
        var rstd = new float[rows];
        Terse.Neural.Layers.RmsNorm.Forward(x, weight, new float[rows * dim], rstd, rows, dim, 1e-5f);
        var dx = new float[rows * dim];
        var dWeight = new float[dim];
        Terse.Neural.Layers.RmsNorm.Backward(upstream, x, weight, rstd, dx, dWeight, rows, dim);
        Check("rmsnorm dx", Loss, x, dx, random);
        Check("rmsnorm dweight", Loss, weight, dWeight, random);
    }

    [Fact]
    public void Rope()
    {
        var random = new Random(2);
        var rope = new Rope(headSize: 8, maxPositions: 20, theta: 10000);
        var x = RandomArray(random, 3 * 8);
        var upstream = RandomArray(random, x.Length);
        double Loss()
        {
            var y = (float[])x.Clone();
            rope.Forward(y, 13);
            return WeightedSum(y, upstream);
        }
        var dx = (float[])upstream.Clone();
        rope.Backward(dx, 13);
        Check("rope", Loss, x, dx, random);
    }

    [Fact]
    public void SwiGlu()
    {
        var random = new Random(3);
        var gate = RandomArray(random, 17, 3);
        var up = RandomArray(random, 17, 3);
        var upstream = RandomArray(random, 17);
        double Loss()
        {
            var h = new float[17];
            Terse.Neural.Layers.SwiGlu.Forward(gate, up, h);
            return WeightedSum(h, upstream);
        }
        var dGate = new float[17];
        var dUp = new float[17];
        Terse.Neural.Layers.SwiGlu.Backward(upstream, gate, up, dGate, dUp);
        Check("swiglu dgate", Loss, gate, dGate, random);
        Check("swiglu dup", Loss, up, dUp, random);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Linear(bool openBlas)
    {
        var gemm = openBlas ? Gemm.OpenBlas! : Gemm.Managed;
        var random = new Random(4);
        int rows = 5, inputs = 7, outputs = 6;
        var x = RandomArray(random, rows * inputs);
        var weight = RandomArray(random, outputs * inputs);
        var bias = RandomArray(random, outputs);
        var upstream = RandomArray(random, rows * outputs);
        double Loss()
        {
            var y = new float[rows * outputs];
            Terse.Neural.Layers.Linear.Forward(gemm, x, weight, bias, y, rows, inputs, outputs);
            return WeightedSum(y, upstream);
        }
        var dx = new float[rows * inputs];
        var dWeight = new float[weight.Length];
        var dBias = new float[outputs];
        Terse.Neural.Layers.Linear.Backward(gemm, upstream, x, weight, dx, false, dWeight, dBias, rows, inputs, outputs);
        Check("linear dx", Loss, x, dx, random);
        Check("linear dweight", Loss, weight, dWeight, random);
        Check("linear dbias", Loss, bias, dBias, random);
    }

    [Fact]
    public void GroupedQueryCausalAttention()
    {
        var random = new Random(5);
        int batch = 2, time = 5, heads = 4, kvHeads = 2, headSize = 4;
        int n = batch * time;
        var q = RandomArray(random, n * heads * headSize, 2);
        var k = RandomArray(random, n * kvHeads * headSize, 2);
        var v = RandomArray(random, n * kvHeads * headSize, 2);
        var upstream = RandomArray(random, n * heads * headSize);
        var probabilities = new float[batch * heads * time * time];
        double Loss()
        {
            var output = new float[n * heads * headSize];
            Attention.Forward(q, k, v, new float[k.Length], new float[probabilities.Length], output, batch, time, heads, kvHeads, headSize);
            return WeightedSum(output, upstream);
        }
        Attention.Forward(q, k, v, new float[k.Length], probabilities, new float[n * heads * headSize], batch, time, heads, kvHeads, headSize);
        var dq = new float[q.Length];
        var dk = new float[k.Length];
        var dv = new float[v.Length];
        Attention.Backward(Gemm.Managed, upstream, q, k, v, probabilities, dq, dk, dv, batch, time, heads, kvHeads, headSize);
        Check("attention dq", Loss, q, dq, random);
        Check("attention dk", Loss, k, dk, random);
        Check("attention dv", Loss, v, dv, random);
    }

    [Fact]
    public void CrossEntropyWithIgnoredRows()
    {
        var random = new Random(6);
        int rows = 4, vocab = 9;
        var logits = RandomArray(random, rows * vocab, 3);
        int[] targets = [3, -1, 8, 0];
        double Loss()
        {
            var losses = new float[rows];
            int counted = CrossEntropy.Forward(logits, targets, losses, new float[vocab], rows, vocab);
            return losses.Sum(l => (double)l) / counted;
        }
        var dLogits = new float[logits.Length];
        CrossEntropy.Backward(logits, targets, dLogits, rows, vocab, 1f / 3);
        Check("cross-entropy", Loss, logits, dLogits, random);
        Assert.All(dLogits.AsSpan(vocab, vocab).ToArray(), g => Assert.Equal(0f, g));
    }

    private static LlamaModel TinyModel(bool bias, bool tied, int seed, int layers = 2) =>
        WithLargeWeights(LlamaModel.CreateRandom(new LlamaConfig(16, 24, layers, 4, 2, 23, 8, TiedEmbeddings: tied, AttentionBias: bias), seed), seed);

    internal static LlamaModel WithLargeWeights(LlamaModel model, int seed)
    {
        // Larger weights than the 0.02 initialisation, so every path carries a gradient well above rounding noise.
        var random = new Random(seed);
        foreach (var parameter in model.Parameters)
        {
            var values = parameter.Value.Span;
            for (int i = 0; i < values.Length; i++)
                values[i] = parameter.Shape.Count == 1 && !parameter.Name.EndsWith("bias") ? 1f + 0.2f * (float)(random.NextDouble() - 0.5)
                    : parameter == model.Parameters[Terse.Neural.Checkpoints.HuggingFaceLlamaNames.Embedding] ? 2f * (float)(random.NextDouble() - 0.5) // O(1) rows: a step of 1e-2 stays in RMSNorm's linear range
                    : 0.4f * (float)(random.NextDouble() - 0.5);
        }
        return model;
    }

    [Theory]
    [InlineData(false, true, false)]
    [InlineData(true, false, false)]
    [InlineData(true, false, true)]
    public void WholeTinyModelFromTokens(bool bias, bool tied, bool openBlas)
    {
        var model = TinyModel(bias, tied, seed: 11);
        model.Gemm = openBlas ? Gemm.OpenBlas! : Gemm.Managed;
        int batch = 2, time = 6;
        var random = new Random(12);
        var tokens = Enumerable.Range(0, batch * time).Select(_ => random.Next(23)).ToArray();
        var targets = Enumerable.Range(0, batch * time).Select(i => i % 5 == 2 ? -1 : random.Next(23)).ToArray();
        var pass = new BatchPass(model, batch, time);
        double Loss()
        {
            pass.Forward(tokens);
            return pass.Loss(targets);
        }
        Loss();
        pass.Backward();
        foreach (var parameter in model.Parameters)
        {
            var values = parameter.Value.Span.ToArray();
            var gradient = pass.Gradients.Of(parameter).ToArray();
            Check(parameter.Name, () =>
            {
                values.CopyTo(parameter.Value.Span);
                return Loss();
            }, values, gradient, random, elements: 1);
            values.CopyTo(parameter.Value.Span);
        }
    }

    [Fact]
    public void WholeTinyModelFromEmbeddingsGivesTheInputGradient()
    {
        var model = TinyModel(bias: true, tied: true, seed: 21);
        int batch = 2, time = 5;
        var random = new Random(22);
        var inputs = RandomArray(random, batch * time * 16);
        var targets = Enumerable.Range(0, batch * time).Select(_ => random.Next(23)).ToArray();
        var pass = new BatchPass(model, batch, time);
        double Loss()
        {
            pass.Forward(inputs);
            return pass.Loss(targets);
        }
        Loss();
        pass.Backward();
        Check("input embeddings", Loss, inputs, pass.InputGradient.ToArray(), random);
    }

    [Fact]
    public void PartialLayerStackBackpropagatesAGivenOutputGradient()
    {
        var model = TinyModel(bias: false, tied: true, seed: 31, layers: 3);
        int batch = 1, time = 7;
        var random = new Random(32);
        var hiddenIn = RandomArray(random, batch * time * 16);
        var upstream = RandomArray(random, batch * time * 16);
        var pass = new BatchPass(model, batch, time, firstLayer: 1, endLayer: 2);
        Assert.False(pass.HasHead);
        double Loss()
        {
            pass.Forward(hiddenIn);
            return WeightedSum(pass.HiddenState(2), upstream);
        }
        Loss();
        pass.Backward(upstream);
        Check("layer-1 input", Loss, hiddenIn, pass.InputGradient.ToArray(), random);
        var query = model.Parameters["model.layers.1.self_attn.q_proj.weight"];
        var values = query.Value.Span.ToArray();
        Check("layer-1 q_proj", () => { values.CopyTo(query.Value.Span); return Loss(); }, values, pass.Gradients.Of(query).ToArray(), random);
        Assert.True(pass.Gradients.Of(model.Parameters["model.layers.0.self_attn.q_proj.weight"]).IndexOfAnyExcept(0f) < 0, "layer 0 is outside the stack");
    }

    [Fact]
    public void FullStackWithoutHeadBackpropagatesAHiddenGradient()
    {
        var model = TinyModel(bias: false, tied: true, seed: 41);
        int batch = 2, time = 4;
        var random = new Random(42);
        var inputs = RandomArray(random, batch * time * 16);
        var upstream = RandomArray(random, batch * time * 16);
        var pass = new BatchPass(model, batch, time, head: false);
        Assert.False(pass.HasHead);
        Assert.Throws<InvalidOperationException>(() => pass.Logits.Length);
        double Loss()
        {
            pass.Forward(inputs);
            return WeightedSum(pass.HiddenState(2), upstream);
        }
        Loss();
        pass.Backward(upstream);
        Check("inputs", Loss, inputs, pass.InputGradient.ToArray(), random);
        Assert.True(pass.Gradients.Of(model.Parameters[Terse.Neural.Checkpoints.HuggingFaceLlamaNames.FinalNorm]).IndexOfAnyExcept(0f) < 0, "the final norm is not part of a headless stack");
    }
}
