using Terse.Neural;
using Terse.Neural.Layers;
using Terse.Neural.Numerics;

namespace Terse.Tests.Neural;

/// <summary>
/// The portable arithmetic the entropy coder computes with (<see cref="Portable"/>, <see cref="PortableMath"/>,
/// portable sessions). Its promise is the same bits on every machine; in one process that is
/// checked by running every kernel on both lane types — Vector128 hardware and four scalars, what a
/// machine without vector intrinsics runs — and by comparing with the documented order of operations.
/// The end-to-end check in other processes is <c>EntropyCliTests.A_file_decodes_exactly_without_intrinsics_with_narrower_vectors_and_one_thread</c>.
/// </summary>
[Collection(nameof(ThreadBudgetCollection))]
public class PortableArithmeticTests
{
    private static float[] RandomFloats(Random random, int length, float scale = 1f)
    {
        var values = new float[length];
        for (int i = 0; i < length; i++)
            values[i] = scale * (float)(2 * random.NextDouble() - 1);
        return values;
    }

    private static void AssertSameBits(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(BitConverter.SingleToInt32Bits(expected[i]) == BitConverter.SingleToInt32Bits(actual[i]) || (float.IsNaN(expected[i]) && float.IsNaN(actual[i])),
                $"{what}: element {i} is {actual[i]:R}, expected {expected[i]:R}");
    }

    [Fact]
    public void Dot_is_the_documented_eight_lane_order_on_both_lane_types()
    {
        var random = new Random(1);
        for (int n = 0; n <= 70; n++)
        {
            var a = RandomFloats(random, n, 3);
            var b = RandomFloats(random, n, 3);
            float expected = ReferenceDot(a, b);
            AssertSameBits([expected], [Portable.Dot<HardwareQuad>(a, b)], $"hardware dot of {n}");
            AssertSameBits([expected], [Portable.Dot<SoftwareQuad>(a, b)], $"software dot of {n}");
            AssertSameBits([ReferenceDot(a, Enumerable.Repeat(1f, n).ToArray())], [Portable.Sum<SoftwareQuad>(a)], $"sum of {n}");
            AssertSameBits([Portable.Sum<HardwareQuad>(a)], [Portable.Sum<SoftwareQuad>(a)], $"sum of {n}");
        }
    }

    /// <summary>docs: lane l of 8 takes elements 8m + l; lanes l and l + 4 are added, then (l0 + l1) + (l2 + l3); the tail one by one.</summary>
    private static float ReferenceDot(float[] a, float[] b)
    {
        var lanes = new float[8];
        int full = a.Length / 8 * 8;
        for (int i = 0; i < full; i++)
        {
            float product = a[i] * b[i];
            lanes[i % 8] = lanes[i % 8] + product;
        }
        var half = new float[4];
        for (int l = 0; l < 4; l++)
            half[l] = lanes[l] + lanes[l + 4];
        float sum = (half[0] + half[1]) + (half[2] + half[3]);
        for (int i = full; i < a.Length; i++)
        {
            float product = a[i] * b[i];
            sum += product;
        }
        return sum;
    }

    [Fact]
    public void Matrix_products_are_canonical_dots_and_the_same_on_both_lane_types()
    {
        var random = new Random(2);
        foreach (var (rows, outputs, k) in new[] { (1, 1, 1), (1, 4, 8), (1, 7, 13), (3, 9, 40), (2, 12, 128), (5, 6, 33), (1, 130, 96) })
        {
            var x = RandomFloats(random, rows * (k + 3));
            var w = RandomFloats(random, outputs * k);
            var bias = RandomFloats(random, outputs);
            foreach (var withBias in new[] { false, true })
            {
                var hardware = new float[rows * (outputs + 2)];
                var software = new float[rows * (outputs + 2)];
                ReadOnlySpan<float> b = withBias ? bias : default;
                Portable.MultiplyTransposed<HardwareQuad>(x, k + 3, w, b, hardware, outputs + 2, rows, outputs, k);
                Portable.MultiplyTransposed<SoftwareQuad>(x, k + 3, w, b, software, outputs + 2, rows, outputs, k);
                AssertSameBits(hardware, software, $"{rows}×{outputs}×{k}");
                for (int r = 0; r < rows; r++)
                    for (int j = 0; j < outputs; j++)
                    {
                        float dot = Portable.Dot<SoftwareQuad>(x.AsSpan(r * (k + 3), k), w.AsSpan(j * k, k));
                        AssertSameBits([withBias ? bias[j] + dot : dot], [hardware[r * (outputs + 2) + j]], $"element {r},{j} of {rows}×{outputs}×{k}");
                    }
            }
        }
    }

    [Fact]
    public void Exp_is_within_two_units_in_the_last_place_clamps_its_range_and_is_the_same_on_both_lane_types()
    {
        var random = new Random(3);
        var x = new float[20_003];
        for (int i = 0; i < x.Length; i++)
            x[i] = -87f + 175f * (float)random.NextDouble();
        x[0] = 0f;
        x[1] = -0f;
        x[2] = 1f;
        var hardware = (float[])x.Clone();
        var software = (float[])x.Clone();
        Portable.Exp<HardwareQuad>(hardware);
        Portable.Exp<SoftwareQuad>(software);
        AssertSameBits(hardware, software, "exp");
        for (int i = 0; i < x.Length; i++)
        {
            double exact = Math.Exp(x[i]);
            double ulp = MathF.BitIncrement((float)exact) - (float)exact;
            Assert.True(Math.Abs(hardware[i] - exact) <= 2 * ulp, $"exp({x[i]:R}) = {hardware[i]:R}, exactly {exact:R}");
        }
        Assert.Equal(1f, hardware[0]);

        float[] edges = [-1000f, -87f, 88f, 1000f, float.NegativeInfinity, float.PositiveInfinity, float.NaN, 1e-45f];
        var edgeHardware = (float[])edges.Clone();
        var edgeSoftware = (float[])edges.Clone();
        Portable.Exp<HardwareQuad>(edgeHardware);
        Portable.Exp<SoftwareQuad>(edgeSoftware);
        AssertSameBits(edgeHardware, edgeSoftware, "exp at the edges");
        Assert.Equal(edgeHardware[1], edgeHardware[0]);
        Assert.Equal(edgeHardware[1], edgeHardware[4]);
        Assert.Equal(edgeHardware[2], edgeHardware[3]);
        Assert.Equal(edgeHardware[2], edgeHardware[5]);
        Assert.True(float.IsNaN(edgeHardware[6]));
        Assert.Equal(1f, edgeHardware[7]);
        Assert.InRange(edgeHardware[2], 1.6e38f, 1.7e38f);
    }

    [Fact]
    public void Softmax_and_SwiGlu_are_the_same_on_both_lane_types_and_close_to_exact()
    {
        var random = new Random(4);
        for (int n = 1; n <= 41; n += 4)
        {
            var logits = RandomFloats(random, n, 20);
            var hardware = (float[])logits.Clone();
            var software = (float[])logits.Clone();
            Portable.Softmax<HardwareQuad>(hardware);
            Portable.Softmax<SoftwareQuad>(software);
            AssertSameBits(hardware, software, $"softmax of {n}");
            double max = logits.Max(), sum = logits.Sum(l => Math.Exp(l - max));
            for (int i = 0; i < n; i++)
                Assert.Equal(Math.Exp(logits[i] - max) / sum, hardware[i], 1e-6);

            var gate = RandomFloats(random, n, 12);
            var up = RandomFloats(random, n, 2);
            var h1 = new float[n];
            var h2 = new float[n];
            Portable.SwiGlu<HardwareQuad>(gate, up, h1);
            Portable.SwiGlu<SoftwareQuad>(gate, up, h2);
            AssertSameBits(h1, h2, $"SwiGLU of {n}");
            for (int i = 0; i < n; i++)
                Assert.Equal(gate[i] / (1 + Math.Exp(-gate[i])) * up[i], h1[i], 1e-5);
        }
    }

    [Fact]
    public unsafe void Attention_is_the_same_on_both_lane_types_and_close_to_the_native_kernel()
    {
        var random = new Random(5);
        foreach (int headSize in new[] { 2, 6, 18, 32, 36 })
            foreach (int count in new[] { 1, 3, 4, 15, 16, 17, 40, 300 })
            {
                int capacity = count + 5, valueStride = headSize + 3;
                var query = RandomFloats(random, headSize, 2);
                var keys = RandomFloats(random, headSize * capacity, 2);
                var values = RandomFloats(random, capacity * valueStride);
                var p = new float[count];
                var hardware = new float[headSize];
                var software = new float[headSize];
                var native = new float[headSize];
                fixed (float* q = query, k = keys, v = values, pp = p, h = hardware, s = software, n = native)
                {
                    Attention.AttendOnePortable<HardwareQuad>(q, headSize, k, capacity, v, valueStride, count, pp, h);
                    Attention.AttendOnePortable<SoftwareQuad>(q, headSize, k, capacity, v, valueStride, count, pp, s);
                    Attention.AttendOne(q, headSize, k, capacity, v, valueStride, count, pp, n);
                }
                AssertSameBits(hardware, software, $"attention, head size {headSize}, {count} positions");
                for (int i = 0; i < headSize; i++)
                    Assert.Equal(native[i], hardware[i], 1e-5);
            }
    }

    [Fact]
    public void Elementary_functions_agree_with_the_runtime_to_a_few_units_in_the_last_place()
    {
        static void Close(double expected, double actual, string what) =>
            Assert.True(Math.Abs(expected - actual) <= 4 * Math.Max(double.Epsilon, Math.Abs(Math.BitIncrement(expected) - expected)),
                $"{what}: {actual:R}, the runtime says {expected:R}");
        var random = new Random(6);
        for (int i = 0; i < 20_000; i++)
        {
            double angle = (random.NextDouble() * 2 - 1) * (i % 2 == 0 ? 4 : 600);
            var (sin, cos) = PortableMath.SinCos(angle);
            // Near a zero the relative error of any method grows; compare the absolute error there.
            Assert.True(Math.Abs(sin - Math.Sin(angle)) <= 4e-16 * Math.Max(1, Math.Abs(angle) / 100), $"sin({angle:R}) = {sin:R}, the runtime says {Math.Sin(angle):R}");
            Assert.True(Math.Abs(cos - Math.Cos(angle)) <= 4e-16 * Math.Max(1, Math.Abs(angle) / 100), $"cos({angle:R}) = {cos:R}, the runtime says {Math.Cos(angle):R}");
            double x = (random.NextDouble() * 2 - 1) * 700;
            Close(Math.Exp(x), PortableMath.Exp(x), $"exp({x:R})");
            double positive = Math.Exp((random.NextDouble() * 2 - 1) * 700);
            Close(Math.Log(positive), PortableMath.Log(positive), $"log({positive:R})");
        }
        Assert.Equal(0.0, PortableMath.Log(1.0));
        Assert.Equal(1.0, PortableMath.Exp(0.0));
        Assert.Equal(0.0, PortableMath.Sin(0.0));
        Assert.Equal(1.0, PortableMath.Cos(0.0));
        // e^(y·log x) magnifies log's rounding by y·log x; still far below the float it is rounded to.
        for (int i = 0; i < 64; i++)
            Assert.Equal(Math.Pow(10000, i / 64.0), PortableMath.Pow(10000, i / 64.0), Math.Pow(10000, i / 64.0) * 1e-14);
        Assert.Throws<ArgumentOutOfRangeException>(() => PortableMath.Log(0));
        Assert.Throws<ArgumentOutOfRangeException>(() => PortableMath.Exp(double.NaN));
        Assert.Throws<ArgumentOutOfRangeException>(() => PortableMath.SinCos(1e7));
    }

    [Fact]
    public void Portable_rotary_tables_are_the_native_ones_to_a_unit_in_the_last_place()
    {
        var native = new Rope(32, 512, 10000f);
        var portable = new Rope(32, 512, 10000f, portable: true);
        var random = new Random(7);
        foreach (int position in new[] { 0, 1, 17, 255, 511 })
        {
            var vector = RandomFloats(random, 128);
            var a = (float[])vector.Clone();
            var b = (float[])vector.Clone();
            native.Forward(a, position);
            portable.Forward(b, position);
            for (int i = 0; i < a.Length; i++)
                Assert.Equal(a[i], b[i], 1e-6);
        }
    }

    // Awkward on purpose: head size 18 and hidden 250 leave tails in every kernel; grouped-query
    // attention (6 heads, 3 kv heads) and biases. A prefill of 70 tokens is split over two threads.
    private static readonly LlamaModel Odd = LlamaModel.CreateRandom(
        new LlamaConfig(Dim: 108, HiddenDim: 250, Layers: 2, Heads: 6, KvHeads: 3, VocabSize: 301, MaxSequenceLength: 120, AttentionBias: true), seed: 11);

    private static readonly int[] Tokens = Enumerable.Range(0, 90).Select(i => (i * 7919 + 13) % 301).ToArray();

    private static float[] StepAll(LlamaModel model, bool portable, int threads, int prefill = 0, LoraAdapter? adapter = null)
    {
        int saved = Compute.Threads;
        try
        {
            Compute.Threads = threads;
            var session = portable ? model.CreatePortableSession(adapter: adapter) : model.CreateSession(adapter: adapter);
            var all = new List<float>();
            if (prefill > 0)
            {
                var logits = new float[prefill * model.Config.VocabSize];
                session.Prefill(Tokens.AsSpan(0, prefill), logits);
                all.AddRange(logits);
            }
            foreach (int token in Tokens[prefill..])
                all.AddRange(session.Step(token).ToArray());
            return all.ToArray();
        }
        finally
        {
            Compute.Threads = saved;
        }
    }

    [Fact]
    public void A_portable_session_gives_the_same_bits_for_any_thread_count_and_prefill_and_nearly_the_native_logits()
    {
        var reference = StepAll(Odd, portable: true, threads: 1);
        AssertSameBits(reference, StepAll(Odd, portable: true, threads: 2), "two threads");
        AssertSameBits(reference, StepAll(Odd, portable: true, threads: 2, prefill: 70), "a prefill of 70 tokens");
        var native = StepAll(Odd, portable: false, threads: 1);
        double largest = reference.Zip(native, (a, b) => Math.Abs(a - b)).Max();
        Assert.InRange(largest, 0, 1e-4);
    }

    [Fact]
    public void An_adapter_in_a_portable_session_keeps_its_promises_and_changes_the_logits_as_natively()
    {
        var model = LlamaModel.CreateRandom(Odd.Config, seed: 11);
        var adapter = model.AddAdapter("probe", new LoraSettings(Rank: 4, Alpha: 8));
        var random = new Random(12);
        foreach (var parameter in adapter.Parameters)
            foreach (ref float value in parameter.Value.Span)
                value = 0.05f * (float)(random.NextDouble() * 2 - 1);
        var reference = StepAll(model, portable: true, threads: 1, adapter: adapter);
        AssertSameBits(reference, StepAll(model, portable: true, threads: 2, prefill: 70, adapter: adapter), "two threads and a prefill");
        var native = StepAll(model, portable: false, threads: 1, adapter: adapter);
        Assert.InRange(reference.Zip(native, (a, b) => Math.Abs(a - b)).Max(), 0, 1e-4);
        var without = StepAll(model, portable: true, threads: 1);
        Assert.True(reference.Zip(without, (a, b) => Math.Abs(a - b)).Max() > 1e-3, "the adapter changed nothing");
    }

    [Fact]
    public void The_shipped_model_predicts_the_same_with_either_arithmetic_to_within_a_ten_thousandth()
    {
        var model = Terse.Models.ModelResolver.Load("terse1M");
        var portable = model.CreatePortableSession();
        var native = model.CreateSession();
        double largest = 0;
        for (int i = 0; i < 300; i++)
        {
            int token = 1 + i * 37 % 500;
            var a = portable.Step(token);
            var b = native.Step(token);
            for (int j = 0; j < a.Length; j++)
                largest = Math.Max(largest, Math.Abs(a[j] - b[j]));
        }
        Assert.InRange(largest, 0, 1e-4);
    }
}
