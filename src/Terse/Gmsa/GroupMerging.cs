namespace Terse.Gmsa;

/// <summary>How the encoder's last hidden states become soft tokens.</summary>
public enum MergeMode
{
    /// <summary>GMSA's group merging: the mean of each group of r consecutive rows.</summary>
    Mean,
    /// <summary>Ablation: the last row of each group only (what a causal encoder "summarises" there).</summary>
    Last,
    /// <summary>
    /// The "traditional" paradigm (ICAE-style) used as a baseline: learned memory embeddings are
    /// appended after the text and their last hidden states are the soft tokens.
    /// </summary>
    Memory,
}

/// <summary>
/// Group merging (GMSA §3): the hidden states of a text of length n are cut into ⌈n/r⌉ groups of r
/// consecutive rows (the last group holds the n mod r rows that remain, when r does not divide n)
/// and each group becomes one vector. Forward and backward over [rows, dim] row-major spans.
/// </summary>
internal static class GroupMerging
{
    public static int GroupCount(int length, int rate)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(length, 0);
        ArgumentOutOfRangeException.ThrowIfLessThan(rate, 1);
        return length / rate + (length % rate == 0 ? 0 : 1); // (length + rate − 1) / rate would overflow near int.MaxValue
    }

    /// <summary>merged[g] = mean (or last) of rows[g·r … min((g+1)·r, length) − 1].</summary>
    public static void Forward(ReadOnlySpan<float> rows, int length, int dim, int rate, MergeMode mode, Span<float> merged)
    {
        int groups = Check(rows.Length, merged.Length, length, dim, rate, mode);
        for (int g = 0; g < groups; g++)
        {
            int start = g * rate, end = Math.Min(start + rate, length);
            var output = merged.Slice(g * dim, dim);
            if (mode == MergeMode.Last)
            {
                rows.Slice((end - 1) * dim, dim).CopyTo(output);
                continue;
            }
            output.Clear();
            for (int r = start; r < end; r++)
                System.Numerics.Tensors.TensorPrimitives.Add(output, rows.Slice(r * dim, dim), output);
            System.Numerics.Tensors.TensorPrimitives.Multiply(output, 1f / (end - start), output);
        }
    }

    /// <summary>Adds the gradient w.r.t. the rows to <paramref name="dRows"/> (rows of ragged groups get 1/|group|).</summary>
    public static void Backward(ReadOnlySpan<float> dMerged, int length, int dim, int rate, MergeMode mode, Span<float> dRows)
    {
        int groups = Check(dRows.Length, dMerged.Length, length, dim, rate, mode);
        for (int g = 0; g < groups; g++)
        {
            int start = g * rate, end = Math.Min(start + rate, length);
            var upstream = dMerged.Slice(g * dim, dim);
            if (mode == MergeMode.Last)
            {
                var row = dRows.Slice((end - 1) * dim, dim);
                System.Numerics.Tensors.TensorPrimitives.Add(row, upstream, row);
                continue;
            }
            float share = 1f / (end - start);
            for (int r = start; r < end; r++)
            {
                var row = dRows.Slice(r * dim, dim);
                System.Numerics.Tensors.TensorPrimitives.MultiplyAdd(upstream, share, row, row);
            }
        }
    }

    private static int Check(int rowFloats, int mergedFloats, int length, int dim, int rate, MergeMode mode)
    {
        if (mode == MergeMode.Memory)
            throw new ArgumentException("memory tokens are not a merge of the text rows", nameof(mode));
        int groups = GroupCount(length, rate);
        if (rowFloats < length * dim)
            throw new ArgumentException($"{length} rows of width {dim} need {length * dim} floats, got {rowFloats}");
        if (mergedFloats < groups * dim)
            throw new ArgumentException($"{groups} groups of width {dim} need {groups * dim} floats, got {mergedFloats}");
        return groups;
    }
}
