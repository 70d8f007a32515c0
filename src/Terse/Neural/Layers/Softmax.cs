using System.Numerics.Tensors;
using Terse.Neural.Numerics;

namespace Terse.Neural.Layers;

internal static class Softmax
{
    /// <summary>In place: x ← exp(x − max x) / Σ exp(x − max x), summed in the canonical order.</summary>
    public static void Forward(Span<float> x)
    {
        float max = TensorPrimitives.Max(x);
        TensorPrimitives.Subtract(x, max, x);
        TensorPrimitives.Exp(x, x);
        TensorPrimitives.Divide(x, FixedOrder.Sum(x), x);
    }
}
