using Terse.Neural.Layers;
using Terse.Neural.Numerics;

namespace Terse.Neural;

/// <summary>
/// The kernels an <see cref="InferenceSession"/> computes with. The session owns the structure of
/// the forward pass (embedding, KV cache, layers, residuals, classifier); this decides the float
/// arithmetic of the steps whose bits could depend on the machine: products, RMSNorm's sum of
/// squares, attention, the SwiGLU activation and the rotary tables.
/// </summary>
internal abstract class ForwardArithmetic
{
    /// <summary>
    /// The engine's fast kernels (fixed-order fused multiply-adds at the widest vector width,
    /// TensorPrimitives' exp and sigmoid): bit-identical for any thread count, backend and prefill
    /// size on one kind of machine, not across machines.
    /// </summary>
    public static ForwardArithmetic Native { get; } = new NativeArithmetic();

    /// <summary>
    /// <see cref="Numerics.Portable"/>'s kernels: the same bits on every machine, whatever its vector
    /// width, intrinsics or fused multiply-add, at some speed cost. What the entropy coder uses.
    /// </summary>
    public static ForwardArithmetic Portable { get; } = new PortableArithmetic();

    public abstract bool IsPortable { get; }

    /// <summary>y = x·wᵀ + bias: x [rows, k] (row stride ldx), w [outputs, k], y [rows, outputs] (row stride ldy).</summary>
    public abstract void MultiplyTransposed(ReadOnlySpan<float> x, int ldx, ReadOnlySpan<float> w, ReadOnlySpan<float> bias,
        Span<float> y, int ldy, int rows, int outputs, int k);

    public void RmsNorm(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, Span<float> y, int rows, int dim, float epsilon) =>
        Layers.RmsNorm.Forward(x, weight, y, default, rows, dim, epsilon, IsPortable);

    /// <summary>One query head against <paramref name="count"/> cached positions (<see cref="Attention.AttendOne"/>).</summary>
    public abstract unsafe void AttendOne(float* query, int headSize, float* keysTransposed, int keyStride,
        float* values, int valueStride, int count, float* probabilities, float* output);

    /// <summary>h = silu(gate) ⊙ up.</summary>
    public abstract void SwiGlu(ReadOnlySpan<float> gate, ReadOnlySpan<float> up, Span<float> h);

    /// <summary>The rotary tables of <paramref name="model"/> in this arithmetic.</summary>
    public abstract Rope Rope(LlamaModel model);

    private sealed class NativeArithmetic : ForwardArithmetic
    {
        public override bool IsPortable => false;

        public override void MultiplyTransposed(ReadOnlySpan<float> x, int ldx, ReadOnlySpan<float> w, ReadOnlySpan<float> bias,
            Span<float> y, int ldy, int rows, int outputs, int k) =>
            FixedOrder.MultiplyTransposed(x, ldx, w, bias, y, ldy, rows, outputs, k);

        public override unsafe void AttendOne(float* query, int headSize, float* keysTransposed, int keyStride,
            float* values, int valueStride, int count, float* probabilities, float* output) =>
            Attention.AttendOne(query, headSize, keysTransposed, keyStride, values, valueStride, count, probabilities, output);

        public override void SwiGlu(ReadOnlySpan<float> gate, ReadOnlySpan<float> up, Span<float> h) => Layers.SwiGlu.Forward(gate, up, h);

        public override Rope Rope(LlamaModel model) => model.Rope;
    }

    private sealed class PortableArithmetic : ForwardArithmetic
    {
        public override bool IsPortable => true;

        public override void MultiplyTransposed(ReadOnlySpan<float> x, int ldx, ReadOnlySpan<float> w, ReadOnlySpan<float> bias,
            Span<float> y, int ldy, int rows, int outputs, int k) =>
            Numerics.Portable.MultiplyTransposed(x, ldx, w, bias, y, ldy, rows, outputs, k);

        public override unsafe void AttendOne(float* query, int headSize, float* keysTransposed, int keyStride,
            float* values, int valueStride, int count, float* probabilities, float* output) =>
            Attention.AttendOnePortable(query, headSize, keysTransposed, keyStride, values, valueStride, count, probabilities, output);

        public override void SwiGlu(ReadOnlySpan<float> gate, ReadOnlySpan<float> up, Span<float> h) => Numerics.Portable.SwiGlu(gate, up, h);

        public override Rope Rope(LlamaModel model) => model.PortableRope;
    }
}
