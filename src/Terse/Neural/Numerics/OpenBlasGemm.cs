using System.Runtime.InteropServices;

namespace Terse.Neural.Numerics;

/// <summary>
/// <c>cblas_sgemm</c> from a BLAS library found at run time, so the engine builds and runs without
/// one (falling back to <see cref="ManagedGemm"/>). OpenBLAS runs single-threaded and large products
/// are split into row (or column) blocks over the engine's own workers: OpenBLAS's idle threads
/// busy-wait with sched_yield, which starved the engine's other parallel loops when both pools ran.
/// </summary>
internal sealed unsafe class OpenBlasGemm : Gemm
{
    private static readonly string[] Candidates = ["libopenblas.so.0", "libopenblas.so", "libblas.so.3", "libopenblas.dylib", "libopenblas.dll"];

    private const int RowMajor = 101, NoTrans = 111, Trans = 112;

    private readonly delegate* unmanaged<int, int, int, int, int, int, float, float*, int, float*, int, float, float*, int, void> _sgemm;
    private readonly delegate* unmanaged<int, void> _setNumThreads;
    private readonly string _library;

    private OpenBlasGemm(string library, nint sgemm, nint setNumThreads)
    {
        _library = library;
        _sgemm = (delegate* unmanaged<int, int, int, int, int, int, float, float*, int, float*, int, float, float*, int, void>)sgemm;
        _setNumThreads = (delegate* unmanaged<int, void>)setNumThreads;
        if (_setNumThreads != null)
            _setNumThreads(1);
    }

    public override string Name => $"openblas ({_library})";

    internal static OpenBlasGemm? TryLoad()
    {
        foreach (var candidate in Candidates)
        {
            if (!NativeLibrary.TryLoad(candidate, typeof(OpenBlasGemm).Assembly, null, out var handle))
                continue;
            if (NativeLibrary.TryGetExport(handle, "cblas_sgemm", out var sgemm))
            {
                NativeLibrary.TryGetExport(handle, "openblas_set_num_threads", out var setThreads);
                return new OpenBlasGemm(candidate, sgemm, setThreads);
            }
            NativeLibrary.Free(handle);
        }
        return null;
    }

    private protected override void MultiplyCore(bool transposeA, bool transposeB, int m, int n, int k,
        float alpha, ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb,
        float beta, Span<float> c, int ldc)
    {
        fixed (float* pa = a)
        fixed (float* pb = b)
        fixed (float* pc = c)
        {
            // Split the larger of m and n into blocks of 64 rows/columns; each block is an independent sgemm.
            bool splitRows = m >= n;
            var job = new Blocks(_sgemm, splitRows, transposeA, transposeB, m, n, k, alpha, pa, lda, pb, ldb, beta, pc, ldc);
            Compute.For(((splitRows ? m : n) + 63) / 64, 64L * (splitRows ? n : m) * k, job);
        }
    }

    private readonly struct Blocks(
        delegate* unmanaged<int, int, int, int, int, int, float, float*, int, float*, int, float, float*, int, void> Sgemm, bool SplitRows,
        bool TransposeA, bool TransposeB, int M, int N, int K, float Alpha, float* A, int Lda, float* B, int Ldb, float Beta, float* C, int Ldc) : IRangeJob
    {
        public void Run(int start, int end)
        {
            if (SplitRows)
            {
                int i0 = start * 64, rows = Math.Min(M, end * 64) - i0;
                float* a = TransposeA ? A + i0 : A + (long)i0 * Lda;
                Sgemm(RowMajor, TransposeA ? Trans : NoTrans, TransposeB ? Trans : NoTrans, rows, N, K, Alpha, a, Lda, B, Ldb, Beta, C + (long)i0 * Ldc, Ldc);
            }
            else
            {
                int j0 = start * 64, columns = Math.Min(N, end * 64) - j0;
                float* b = TransposeB ? B + (long)j0 * Ldb : B + j0;
                Sgemm(RowMajor, TransposeA ? Trans : NoTrans, TransposeB ? Trans : NoTrans, M, columns, K, Alpha, A, Lda, b, Ldb, Beta, C + j0, Ldc);
            }
        }
    }
}
