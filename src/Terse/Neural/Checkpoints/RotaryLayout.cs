namespace Terse.Neural.Checkpoints;

/// <summary>
/// The two layouts of rotary position embeddings in q/k projection rows. Meta's original Llama
/// checkpoints and llama2.c rotate interleaved pairs (2i, 2i+1) of each head; Hugging Face's
/// rotate_half rotates (i, i + headDim/2). Hugging Face's convert_llama_weights_to_hf therefore
/// permutes the output rows of q_proj (per attention head) and k_proj (per key/value head) so the
/// same weights give the same attention scores: within a head, interleaved row 2i+p becomes
/// halves row p·headDim/2 + i. These functions apply that permutation and its exact inverse to a
/// flat row-major [heads·headDim, columns] array (columns = 1 for a bias; the rank for LoRA's B).
/// </summary>
public static class RotaryLayout
{
    /// <summary>Interleaved (Meta, llama2.c) rows → rotate-half (Hugging Face) rows: what convert_llama_weights_to_hf does.</summary>
    public static void InterleavedToHalves(ReadOnlySpan<float> source, Span<float> destination, int heads, int headDim, int columns) =>
        Permute(source, destination, heads, headDim, columns, toHalves: true);

    /// <summary>Rotate-half (Hugging Face) rows → interleaved (Meta, llama2.c) rows: the exact inverse.</summary>
    public static void HalvesToInterleaved(ReadOnlySpan<float> source, Span<float> destination, int heads, int headDim, int columns) =>
        Permute(source, destination, heads, headDim, columns, toHalves: false);

    public static float[] InterleavedToHalves(ReadOnlySpan<float> source, int heads, int headDim, int columns)
    {
        var destination = new float[source.Length];
        InterleavedToHalves(source, destination, heads, headDim, columns);
        return destination;
    }

    public static float[] HalvesToInterleaved(ReadOnlySpan<float> source, int heads, int headDim, int columns)
    {
        var destination = new float[source.Length];
        HalvesToInterleaved(source, destination, heads, headDim, columns);
        return destination;
    }

    private static void Permute(ReadOnlySpan<float> source, Span<float> destination, int heads, int headDim, int columns, bool toHalves)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(heads);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(columns);
        if (headDim <= 0 || headDim % 2 != 0)
            throw new ArgumentOutOfRangeException(nameof(headDim), headDim, "the head size must be positive and even");
        long length = (long)heads * headDim * columns;
        if (source.Length != length || destination.Length != length)
            throw new ArgumentException($"expected {heads} heads × {headDim} rows × {columns} columns = {length} values, got {source.Length} in and {destination.Length} out");
        if (source.Overlaps(destination))
            throw new ArgumentException("source and destination must not overlap", nameof(destination));

        int half = headDim / 2;
        for (int head = 0; head < heads; head++)
        {
            int headStart = head * headDim;
            for (int i = 0; i < half; i++)
            {
                for (int p = 0; p < 2; p++)
                {
                    int interleavedRow = headStart + 2 * i + p;
                    int halvesRow = headStart + p * half + i;
                    var (from, to) = toHalves ? (interleavedRow, halvesRow) : (halvesRow, interleavedRow);
                    source.Slice(from * columns, columns).CopyTo(destination.Slice(to * columns, columns));
                }
            }
        }
    }
}
