using System.Numerics.Tensors;

namespace Terse.Pretraining;

/// <summary>
/// Cross-entropy against a mixture of the observed next token and a teacher's distribution:
/// target = (1 − w)·onehot(y) + w·softmax(teacher), loss = −Σ target · log softmax(student), whose
/// gradient w.r.t. the student's logits is softmax(student) − target. With w = 0 it is the usual
/// next-token loss; distillation (Hinton et al.) at temperature 1 with w = 1.
/// </summary>
internal static class SoftTargetLoss
{
    /// <summary>
    /// Writes the mean-loss gradient into <paramref name="dLogits"/> [rows·vocab] (may alias
    /// <paramref name="logits"/>) and the plain next-token loss −log q(y) of each row into
    /// <paramref name="observedLosses"/> (0 where ignored). Rows whose target is negative are ignored.
    /// </summary>
    /// <param name="teacherWeights">w per row; rows with w &gt; 0 read <paramref name="teacherLogits"/> [rows·vocab].</param>
    /// <param name="scratch">Two rows of vocab floats.</param>
    /// <returns>The summed mixture loss and the number of counted rows.</returns>
    public static (double Loss, int Counted) ForwardBackward(ReadOnlySpan<float> logits, ReadOnlySpan<int> targets, ReadOnlySpan<float> teacherLogits,
        ReadOnlySpan<float> teacherWeights, Span<float> dLogits, Span<float> observedLosses, Span<float> scratch, int rows, int vocab)
    {
        int counted = 0;
        for (int r = 0; r < rows; r++)
            if (targets[r] >= 0)
                counted++;
        float scale = counted == 0 ? 0f : 1f / counted;
        var student = scratch[..vocab];
        var teacher = scratch.Slice(vocab, vocab);
        double total = 0;
        for (int r = 0; r < rows; r++)
        {
            var dRow = dLogits.Slice(r * vocab, vocab);
            int y = targets[r];
            if (y < 0)
            {
                observedLosses[r] = 0;
                dRow.Clear();
                continue;
            }
            if (y >= vocab)
                throw new ArgumentOutOfRangeException(nameof(targets), y, $"target id outside the vocabulary (0..{vocab - 1})");
            LogSoftmax(logits.Slice(r * vocab, vocab), student);
            float w = teacherWeights[r];
            observedLosses[r] = -student[y];
            double loss = (1 - w) * -(double)student[y];
            if (w > 0)
            {
                LogSoftmax(teacherLogits.Slice(r * vocab, vocab), teacher);
                TensorPrimitives.Exp(teacher, teacher);                         // p
                loss -= w * TensorPrimitives.Dot(teacher, student);            // −w Σ p log q
                TensorPrimitives.Exp(student, student);                         // q
                TensorPrimitives.MultiplyAdd(teacher, -w, student, student);    // q − w p
            }
            else
                TensorPrimitives.Exp(student, student);
            student[y] -= 1 - w;
            TensorPrimitives.Multiply(student, scale, dRow);
            total += loss;
        }
        return (total, counted);
    }

    /// <summary>log softmax of <paramref name="logits"/> into <paramref name="output"/>.</summary>
    private static void LogSoftmax(ReadOnlySpan<float> logits, Span<float> output)
    {
        float max = TensorPrimitives.Max(logits);
        TensorPrimitives.Subtract(logits, max, output);
        float sum = 0;
        foreach (float value in output)
            sum += MathF.Exp(value);
        float log = MathF.Log(sum);
        TensorPrimitives.Subtract(output, log, output);
    }
}
