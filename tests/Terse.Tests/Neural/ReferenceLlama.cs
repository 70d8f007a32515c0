using Terse.Neural;

namespace Terse.Tests.Neural;

/// <summary>
/// A deliberately naive double-precision Llama forward pass written straight from the equations
/// (full recomputation, no cache, no SIMD, no shared code with the engine), used as an independent
/// reference for the engine's logits and hidden states.
/// </summary>
public static class ReferenceLlama
{
    /// <summary>Logits [T][V] for the inputs (token rows of the embedding, or given embeddings).</summary>
    public static double[][] Logits(LlamaModel model, double[][] inputs)
    {
        var c = model.Config;
        var p = model.Parameters;
        int T = inputs.Length, D = c.Dim, hs = c.HeadSize, kvDim = c.KvDim, group = c.Heads / c.KvHeads;
        var x = inputs.Select(row => (double[])row.Clone()).ToArray();
        for (int l = 0; l < c.Layers; l++)
        {
            string prefix = $"model.layers.{l}.";
            var xn = x.Select(row => Norm(row, Get(p, prefix + "input_layernorm.weight"), c.NormEpsilon)).ToArray();
            var q = xn.Select(row => Linear(row, p[prefix + "self_attn.q_proj.weight"], OptionalBias(p, prefix + "self_attn.q_proj.bias"))).ToArray();
            var k = xn.Select(row => Linear(row, p[prefix + "self_attn.k_proj.weight"], OptionalBias(p, prefix + "self_attn.k_proj.bias"))).ToArray();
            var v = xn.Select(row => Linear(row, p[prefix + "self_attn.v_proj.weight"], OptionalBias(p, prefix + "self_attn.v_proj.bias"))).ToArray();
            for (int t = 0; t < T; t++)
            {
                Rotate(q[t], t, hs, c.RopeTheta);
                Rotate(k[t], t, hs, c.RopeTheta);
            }
            var attended = new double[T][];
            for (int t = 0; t < T; t++)
            {
                attended[t] = new double[D];
                for (int h = 0; h < c.Heads; h++)
                {
                    int kvOffset = h / group * hs;
                    var scores = new double[t + 1];
                    for (int s = 0; s <= t; s++)
                    {
                        double dot = 0;
                        for (int i = 0; i < hs; i++)
                            dot += q[t][h * hs + i] * k[s][kvOffset + i];
                        scores[s] = dot / Math.Sqrt(hs);
                    }
                    double max = scores.Max();
                    var weights = scores.Select(s => Math.Exp(s - max)).ToArray();
                    double total = weights.Sum();
                    for (int s = 0; s <= t; s++)
                        for (int i = 0; i < hs; i++)
                            attended[t][h * hs + i] += weights[s] / total * v[s][kvOffset + i];
                }
            }
            for (int t = 0; t < T; t++)
            {
                var o = Linear(attended[t], p[prefix + "self_attn.o_proj.weight"], null);
                for (int i = 0; i < D; i++)
                    x[t][i] += o[i];
                var xn2 = Norm(x[t], Get(p, prefix + "post_attention_layernorm.weight"), c.NormEpsilon);
                var gate = Linear(xn2, p[prefix + "mlp.gate_proj.weight"], null);
                var up = Linear(xn2, p[prefix + "mlp.up_proj.weight"], null);
                var hidden = gate.Select((g, i) => g / (1 + Math.Exp(-g)) * up[i]).ToArray();
                var down = Linear(hidden, p[prefix + "mlp.down_proj.weight"], null);
                for (int i = 0; i < D; i++)
                    x[t][i] += down[i];
            }
        }
        var classifier = c.TiedEmbeddings ? p["model.embed_tokens.weight"] : p["lm_head.weight"];
        return x.Select(row => Linear(Norm(row, Get(p, "model.norm.weight"), c.NormEpsilon), classifier, null)).ToArray();
    }

    public static double[][] TokenInputs(LlamaModel model, IReadOnlyList<int> tokens)
    {
        var table = model.Parameters["model.embed_tokens.weight"].Value.Span.ToArray();
        int d = model.Config.Dim;
        return tokens.Select(t => Enumerable.Range(0, d).Select(i => (double)table[t * d + i]).ToArray()).ToArray();
    }

    private static double[] Get(ParameterSet p, string name) => p[name].Value.Span.ToArray().Select(v => (double)v).ToArray();

    private static double[]? OptionalBias(ParameterSet p, string name) => p.TryGet(name, out var bias) ? Get(p, name) : null;

    private static double[] Norm(double[] x, double[] weight, float epsilon)
    {
        double meanSquare = x.Sum(v => v * v) / x.Length;
        double scale = 1 / Math.Sqrt(meanSquare + epsilon);
        return x.Select((v, i) => v * scale * weight[i]).ToArray();
    }

    private static double[] Linear(double[] x, Parameter weight, double[]? bias)
    {
        var w = weight.Value.Span;
        int outputs = weight.Shape[0], inputs = weight.Shape[1];
        var y = new double[outputs];
        for (int o = 0; o < outputs; o++)
        {
            double sum = bias?[o] ?? 0;
            for (int i = 0; i < inputs; i++)
                sum += w[o * inputs + i] * x[i];
            y[o] = sum;
        }
        return y;
    }

    private static void Rotate(double[] vector, int position, int headSize, float theta)
    {
        for (int head = 0; head < vector.Length; head += headSize)
            for (int i = 0; i < headSize; i += 2)
            {
                double angle = position * Math.Pow(theta, -(double)i / headSize);
                double v0 = vector[head + i], v1 = vector[head + i + 1];
                vector[head + i] = v0 * Math.Cos(angle) - v1 * Math.Sin(angle);
                vector[head + i + 1] = v0 * Math.Sin(angle) + v1 * Math.Cos(angle);
            }
    }
}
