using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Terse.Neural.Numerics;

/// <summary>
/// Portable sgemm: the classic blocked scheme (pack a k-slice of op(B) into column panels and a block
/// of op(A) into row panels, then a register-tiled micro-kernel of broadcast FMAs), with tiles shared
/// out over <see cref="Compute.Threads"/>. The micro-kernel is 6×32 with Vector512 (12 accumulator
/// registers) or 6×16 with Vector256 where AVX-512 is absent.
/// </summary>
internal sealed unsafe class ManagedGemm : Gemm
{
    private const int MR = 6;
    private const int KC = 256;
    private const int NC = 2048;
    private const int MC = 96 * MR;
    private const int RowsPerTask = 8 * MR;
    private const int ColumnsPerTask = 256;

    private static readonly int NR = Vector512.IsHardwareAccelerated ? 32 : 16;

    public override string Name => Vector512.IsHardwareAccelerated ? "managed (Vector512)" : "managed (Vector256)";

    [ThreadStatic] private static FloatBuffer? _packedA, _packedB;

    private protected override void MultiplyCore(bool transposeA, bool transposeB, int m, int n, int k,
        float alpha, ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb,
        float beta, Span<float> c, int ldc)
    {
        ScaleRows(c, m, n, ldc, beta);
        var packedB = Rent(ref _packedB, KC * RoundUp(Math.Min(n, NC), NR));
        var packedA = Rent(ref _packedA, KC * RoundUp(Math.Min(m, MC), MR));
        fixed (float* pa = a)
        fixed (float* pb = b)
        fixed (float* pc = c)
        {
            var operands = new Operands(pa, lda, transposeA, pb, ldb, transposeB, pc, ldc, alpha, packedA.Pointer, packedB.Pointer);
            for (int jc = 0; jc < n; jc += NC)
            {
                int nc = Math.Min(NC, n - jc);
                for (int pcol = 0; pcol < k; pcol += KC)
                {
                    int kc = Math.Min(KC, k - pcol);
                    int panels = (nc + NR - 1) / NR;
                    Compute.For(panels, (long)kc * NR, (start, end) =>
                    {
                        for (int p = start; p < end; p++)
                            operands.PackB(pcol, kc, jc + p * NR, Math.Min(NR, nc - p * NR), p);
                    });
                    for (int ic = 0; ic < m; ic += MC)
                    {
                        int mc = Math.Min(MC, m - ic);
                        int microPanels = (mc + MR - 1) / MR;
                        Compute.For(microPanels, (long)kc * MR, (start, end) =>
                        {
                            for (int p = start; p < end; p++)
                                operands.PackA(ic + p * MR, Math.Min(MR, mc - p * MR), pcol, kc, p);
                        });
                        int rowTasks = (mc + RowsPerTask - 1) / RowsPerTask;
                        int columnTasks = (nc + ColumnsPerTask - 1) / ColumnsPerTask;
                        Compute.For(rowTasks * columnTasks, (long)RowsPerTask * ColumnsPerTask * kc, (start, end) =>
                        {
                            for (int task = start; task < end; task++)
                            {
                                int r0 = task / columnTasks * RowsPerTask, c0 = task % columnTasks * ColumnsPerTask;
                                for (int jr = c0; jr < Math.Min(nc, c0 + ColumnsPerTask); jr += NR)
                                    for (int ir = r0; ir < Math.Min(mc, r0 + RowsPerTask); ir += MR)
                                        operands.MicroTile(ic + ir, Math.Min(MR, mc - ir), jc + jr, Math.Min(NR, nc - jr), kc, ir / MR, jr / NR);
                            }
                        });
                    }
                }
            }
        }
    }

    private static FloatBuffer Rent(ref FloatBuffer? slot, int length)
    {
        if (slot is null || slot.Length < length)
            slot = new FloatBuffer(length);
        return slot;
    }

    private static int RoundUp(int value, int multiple) => (value + multiple - 1) / multiple * multiple;

    /// <summary>Raw views of the operands for one call, captured by the parallel loops.</summary>
    private readonly struct Operands(float* a, int lda, bool transposeA, float* b, int ldb, bool transposeB,
        float* c, int ldc, float alpha, float* packedA, float* packedB)
    {
        private float A(int row, int col) => transposeA ? a[(long)col * lda + row] : a[(long)row * lda + col];
        private float B(int row, int col) => transposeB ? b[(long)col * ldb + row] : b[(long)row * ldb + col];

        /// <summary>Panel p of op(B)[k0..k0+kc, j0..j0+width] as [kc][NR], zero-padded on the right.</summary>
        public void PackB(int k0, int kc, int j0, int width, int panel)
        {
            float* dst = packedB + (long)panel * kc * NR;
            for (int kk = 0; kk < kc; kk++, dst += NR)
            {
                if (!transposeB && width == NR)
                {
                    new ReadOnlySpan<float>(b + (long)(k0 + kk) * ldb + j0, NR).CopyTo(new Span<float>(dst, NR));
                    continue;
                }
                int j = 0;
                for (; j < width; j++)
                    dst[j] = B(k0 + kk, j0 + j);
                for (; j < NR; j++)
                    dst[j] = 0;
            }
        }

        /// <summary>Micro-panel p of op(A)[i0..i0+height, k0..k0+kc] as [kc][MR], zero-padded below.</summary>
        public void PackA(int i0, int height, int k0, int kc, int panel)
        {
            float* dst = packedA + (long)panel * kc * MR;
            for (int kk = 0; kk < kc; kk++, dst += MR)
            {
                int r = 0;
                for (; r < height; r++)
                    dst[r] = A(i0 + r, k0 + kk);
                for (; r < MR; r++)
                    dst[r] = 0;
            }
        }

        /// <summary>C[i0.., j0..] += alpha · (A micro-panel × B panel), clipped to height×width.</summary>
        public void MicroTile(int i0, int height, int j0, int width, int kc, int aPanel, int bPanel)
        {
            float* pa = packedA + (long)aPanel * kc * MR;
            float* pb = packedB + (long)bPanel * kc * NR;
            float* tile = stackalloc float[MR * 32];
            if (NR == 32)
                Kernel512(pa, pb, kc, tile);
            else
                Kernel256(pa, pb, kc, tile);
            for (int r = 0; r < height; r++)
            {
                float* row = c + (long)(i0 + r) * ldc + j0;
                for (int j = 0; j < width; j++)
                    row[j] += alpha * tile[r * NR + j];
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Kernel512(float* a, float* b, int kc, float* tile)
    {
        Vector512<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default;
        Vector512<float> c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        for (int kk = 0; kk < kc; kk++, a += MR, b += 32)
        {
            var b0 = Vector512.Load(b);
            var b1 = Vector512.Load(b + 16);
            var x = Vector512.Create(a[0]); c00 = Vector512.FusedMultiplyAdd(x, b0, c00); c01 = Vector512.FusedMultiplyAdd(x, b1, c01);
            x = Vector512.Create(a[1]); c10 = Vector512.FusedMultiplyAdd(x, b0, c10); c11 = Vector512.FusedMultiplyAdd(x, b1, c11);
            x = Vector512.Create(a[2]); c20 = Vector512.FusedMultiplyAdd(x, b0, c20); c21 = Vector512.FusedMultiplyAdd(x, b1, c21);
            x = Vector512.Create(a[3]); c30 = Vector512.FusedMultiplyAdd(x, b0, c30); c31 = Vector512.FusedMultiplyAdd(x, b1, c31);
            x = Vector512.Create(a[4]); c40 = Vector512.FusedMultiplyAdd(x, b0, c40); c41 = Vector512.FusedMultiplyAdd(x, b1, c41);
            x = Vector512.Create(a[5]); c50 = Vector512.FusedMultiplyAdd(x, b0, c50); c51 = Vector512.FusedMultiplyAdd(x, b1, c51);
        }
        c00.Store(tile); c01.Store(tile + 16); c10.Store(tile + 32); c11.Store(tile + 48);
        c20.Store(tile + 64); c21.Store(tile + 80); c30.Store(tile + 96); c31.Store(tile + 112);
        c40.Store(tile + 128); c41.Store(tile + 144); c50.Store(tile + 160); c51.Store(tile + 176);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Kernel256(float* a, float* b, int kc, float* tile)
    {
        Vector256<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default;
        Vector256<float> c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        for (int kk = 0; kk < kc; kk++, a += MR, b += 16)
        {
            var b0 = Vector256.Load(b);
            var b1 = Vector256.Load(b + 8);
            var x = Vector256.Create(a[0]); c00 = Vector256.FusedMultiplyAdd(x, b0, c00); c01 = Vector256.FusedMultiplyAdd(x, b1, c01);
            x = Vector256.Create(a[1]); c10 = Vector256.FusedMultiplyAdd(x, b0, c10); c11 = Vector256.FusedMultiplyAdd(x, b1, c11);
            x = Vector256.Create(a[2]); c20 = Vector256.FusedMultiplyAdd(x, b0, c20); c21 = Vector256.FusedMultiplyAdd(x, b1, c21);
            x = Vector256.Create(a[3]); c30 = Vector256.FusedMultiplyAdd(x, b0, c30); c31 = Vector256.FusedMultiplyAdd(x, b1, c31);
            x = Vector256.Create(a[4]); c40 = Vector256.FusedMultiplyAdd(x, b0, c40); c41 = Vector256.FusedMultiplyAdd(x, b1, c41);
            x = Vector256.Create(a[5]); c50 = Vector256.FusedMultiplyAdd(x, b0, c50); c51 = Vector256.FusedMultiplyAdd(x, b1, c51);
        }
        c00.Store(tile); c01.Store(tile + 8); c10.Store(tile + 16); c11.Store(tile + 24);
        c20.Store(tile + 32); c21.Store(tile + 40); c30.Store(tile + 48); c31.Store(tile + 56);
        c40.Store(tile + 64); c41.Store(tile + 72); c50.Store(tile + 80); c51.Store(tile + 88);
    }
}
