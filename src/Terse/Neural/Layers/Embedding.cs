using System.Numerics.Tensors;

namespace Terse.Neural.Layers;

/// <summary>Rows of a [vocab, dim] table looked up by token id.</summary>
internal static class Embedding
{
    public static void Forward(ReadOnlySpan<int> tokens, ReadOnlySpan<float> table, Span<float> output, int dim)
    {
        int vocab = table.Length / dim;
        for (int r = 0; r < tokens.Length; r++)
        {
            if ((uint)tokens[r] >= (uint)vocab)
                throw new ArgumentOutOfRangeException(nameof(tokens), tokens[r], $"token id outside the vocabulary (0..{vocab - 1})");
            table.Slice(tokens[r] * dim, dim).CopyTo(output.Slice(r * dim, dim));
        }
    }

    /// <summary>dTable[token] += dOutput row, for every row.</summary>
    public static void Backward(ReadOnlySpan<int> tokens, ReadOnlySpan<float> dOutput, Span<float> dTable, int dim)
    {
        for (int r = 0; r < tokens.Length; r++)
        {
            var row = dTable.Slice(tokens[r] * dim, dim);
            TensorPrimitives.Add(row, dOutput.Slice(r * dim, dim), row);
        }
    }
}
