namespace Terse.Neural.Numerics;

/// <summary>
/// Single-precision general matrix multiply on row-major matrices, as BLAS <c>sgemm</c>:
/// C ← alpha·op(A)·op(B) + beta·C, where op(A) is m×k, op(B) is k×n and C is m×n; op(X) is X or Xᵀ;
/// lda, ldb and ldc are the row strides of the matrices as stored. When beta is 0, C is not read
/// (NaN or garbage in C does not propagate), as in BLAS.
/// </summary>
public abstract class Gemm
{
    private static readonly Lazy<Gemm?> LazyOpenBlas = new(() => OpenBlasGemm.TryLoad());
    private static Gemm? _default;

    /// <summary>Name of the backend, e.g. "openblas (libopenblas.so.0)" or "managed".</summary>
    public abstract string Name { get; }

    /// <summary>The managed SIMD implementation: always available.</summary>
    public static Gemm Managed { get; } = new ManagedGemm();

    /// <summary>OpenBLAS (or another CBLAS) loaded at run time, or null when no library loads.</summary>
    public static Gemm? OpenBlas => LazyOpenBlas.Value;

    /// <summary>The backend used unless a caller chooses one: OpenBLAS when it loads, else managed.</summary>
    public static Gemm Default
    {
        get => _default ??= OpenBlas ?? Managed;
        set => _default = value ?? throw new ArgumentNullException(nameof(value));
    }

    public void Multiply(bool transposeA, bool transposeB, int m, int n, int k,
        float alpha, ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb,
        float beta, Span<float> c, int ldc)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(m);
        ArgumentOutOfRangeException.ThrowIfNegative(n);
        ArgumentOutOfRangeException.ThrowIfNegative(k);
        CheckOperand(nameof(a), a.Length, transposeA ? k : m, transposeA ? m : k, lda);
        CheckOperand(nameof(b), b.Length, transposeB ? n : k, transposeB ? k : n, ldb);
        CheckOperand(nameof(c), c.Length, m, n, ldc);
        if (m == 0 || n == 0)
            return;
        if (k == 0 || alpha == 0)
        {
            ScaleRows(c, m, n, ldc, beta);
            return;
        }
        MultiplyCore(transposeA, transposeB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    }

    /// <summary>Called with validated, non-empty arguments.</summary>
    private protected abstract void MultiplyCore(bool transposeA, bool transposeB, int m, int n, int k,
        float alpha, ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb,
        float beta, Span<float> c, int ldc);

    /// <summary>C ← beta·C over an m×n block with row stride ldc (beta 0 clears without reading).</summary>
    private protected static void ScaleRows(Span<float> c, int m, int n, int ldc, float beta)
    {
        if (beta == 1)
            return;
        for (int i = 0; i < m; i++)
        {
            var row = c.Slice(i * ldc, n);
            if (beta == 0)
                row.Clear();
            else
                System.Numerics.Tensors.TensorPrimitives.Multiply(row, beta, row);
        }
    }

    /// <summary>A stored rows×cols matrix with row stride ld must fit in the span (checked before any native call).</summary>
    private static void CheckOperand(string name, int length, int rows, int cols, int ld)
    {
        if (ld < Math.Max(1, cols))
            throw new ArgumentOutOfRangeException(name, $"leading dimension {ld} of {name} is smaller than its {cols} columns");
        if (rows == 0 || cols == 0)
            return;
        long needed = (long)(rows - 1) * ld + cols;
        if (length < needed)
            throw new ArgumentException($"{name} holds {length} floats but a {rows}×{cols} matrix with row stride {ld} needs {needed}", name);
    }
}
