using System.Numerics.Tensors;
using Terse.Neural.Numerics;

namespace Terse.Neural.Training;

/// <summary>
/// Gradient buffers of the trainable parameters, added to by every backward pass until
/// <see cref="Clear"/> (so several passes accumulate).
/// </summary>
public sealed class Gradients
{
    private readonly Dictionary<Parameter, FloatBuffer> _buffers = [];

    /// <summary>Buffers for the parameters that are not frozen now; one that is frozen later is skipped.</summary>
    public Gradients(IEnumerable<Parameter> parameters)
    {
        foreach (var parameter in parameters)
            if (!parameter.Frozen)
                _buffers[parameter] = new FloatBuffer(parameter.Length);
    }

    /// <summary>The gradient of <paramref name="parameter"/>, or empty when it is frozen or not tracked.</summary>
    public Span<float> Of(Parameter parameter) =>
        !parameter.Frozen && _buffers.TryGetValue(parameter, out var buffer) && buffer.Length == parameter.Length ? buffer.Span : default;

    public IEnumerable<Parameter> Parameters => _buffers.Keys;

    public void Clear()
    {
        foreach (var buffer in _buffers.Values)
            buffer.Clear();
    }

    /// <summary>Euclidean norm over every tracked, trainable gradient.</summary>
    public double Norm()
    {
        double sum = 0;
        foreach (var parameter in _buffers.Keys)
        {
            var g = Of(parameter);
            sum += TensorPrimitives.Dot(g, g);
        }
        return Math.Sqrt(sum);
    }

    public void Scale(float factor)
    {
        foreach (var parameter in _buffers.Keys)
        {
            var g = Of(parameter);
            TensorPrimitives.Multiply(g, factor, g);
        }
    }
}
