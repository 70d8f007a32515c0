using System.Numerics.Tensors;

namespace Terse.Neural.Layers;

/// <summary>Softmax cross-entropy per row against a target id; rows whose target is negative are ignored.</summary>
internal static class CrossEntropy
{
    /// <summary>
    /// Writes −log softmax(logits)[target] per row (0 for ignored rows); returns the number of counted
    /// rows. <paramref name="scratch"/> holds one row.
    /// </summary>
    public static int Forward(ReadOnlySpan<float> logits, ReadOnlySpan<int> targets, Span<float> losses, Span<float> scratch, int rows, int vocab)
    {
        int counted = 0;
        for (int r = 0; r < rows; r++)
        {
            int target = CheckTarget(targets[r], vocab);
            if (target < 0)
            {
                losses[r] = 0;
                continue;
            }
            var row = logits.Slice(r * vocab, vocab);
            float max = TensorPrimitives.Max(row);
            TensorPrimitives.Subtract(row, max, scratch);
            TensorPrimitives.Exp(scratch, scratch);
            losses[r] = MathF.Log(TensorPrimitives.Sum(scratch)) + max - row[target];
            counted++;
        }
        return counted;
    }

    /// <summary>dlogits = scale · (softmax(logits) − onehot(target)), zero rows for ignored targets. May alias the logits.</summary>
    public static void Backward(ReadOnlySpan<float> logits, ReadOnlySpan<int> targets, Span<float> dLogits, int rows, int vocab, float scale)
    {
        for (int r = 0; r < rows; r++)
        {
            var dRow = dLogits.Slice(r * vocab, vocab);
            int target = CheckTarget(targets[r], vocab);
            if (target < 0)
            {
                dRow.Clear();
                continue;
            }
            var row = logits.Slice(r * vocab, vocab);
            TensorPrimitives.Subtract(row, TensorPrimitives.Max(row), dRow);
            TensorPrimitives.Exp(dRow, dRow);
            TensorPrimitives.Multiply(dRow, scale / TensorPrimitives.Sum(dRow), dRow);
            dRow[target] -= scale;
        }
    }

    private static int CheckTarget(int target, int vocab) => target < vocab
        ? target
        : throw new ArgumentOutOfRangeException(nameof(target), target, $"target id outside the vocabulary (0..{vocab - 1})");
}
