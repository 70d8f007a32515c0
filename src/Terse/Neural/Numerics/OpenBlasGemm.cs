using System.Runtime.InteropServices;

namespace Terse.Neural.Numerics;

/// <summary>
/// <c>cblas_sgemm</c> from a BLAS library found at run time, so the engine builds and runs without
/// one (falling back to <see cref="ManagedGemm"/>). OpenBLAS's own thread pool is kept at
/// <see cref="Compute.Threads"/>.
/// </summary>
internal sealed unsafe class OpenBlasGemm : Gemm
{
    private static readonly string[] Candidates = ["libopenblas.so.0", "libopenblas.so", "libblas.so.3", "libopenblas.dylib", "libopenblas.dll"];

    private const int RowMajor = 101, NoTrans = 111, Trans = 112;

    private readonly delegate* unmanaged<int, int, int, int, int, int, float, float*, int, float*, int, float, float*, int, void> _sgemm;
    private readonly delegate* unmanaged<int, void> _setNumThreads;
    private readonly string _library;
    private int _threadsSet;

    private OpenBlasGemm(string library, nint sgemm, nint setNumThreads)
    {
        _library = library;
        _sgemm = (delegate* unmanaged<int, int, int, int, int, int, float, float*, int, float*, int, float, float*, int, void>)sgemm;
        _setNumThreads = (delegate* unmanaged<int, void>)setNumThreads;
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
        int threads = Compute.Threads;
        if (_setNumThreads != null && threads != _threadsSet)
        {
            _setNumThreads(threads);
            _threadsSet = threads;
        }
        fixed (float* pa = a)
        fixed (float* pb = b)
        fixed (float* pc = c)
            _sgemm(RowMajor, transposeA ? Trans : NoTrans, transposeB ? Trans : NoTrans, m, n, k,
                alpha, pa, lda, pb, ldb, beta, pc, ldc);
    }
}
