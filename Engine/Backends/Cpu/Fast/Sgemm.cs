using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace FerEngine.Backends.Cpu.Fast;

/// <summary>
/// Single-threaded float32 GEMM, row-major: C[M, N] = alpha * op(A)[M, K] * op(B)[K, N] + beta * C.
/// The classic Goto/BLIS structure:
///   for each KC-deep slice of K:  pack op(B)[kc, N] into column panels of NR (zero padded)
///     for each MC-tall block of M: pack op(A)[mc, kc] into row panels of MR (zero padded)
///       for every (MR x NR) tile: the micro-kernel keeps the whole tile in registers
///       (MR x NR/16 = 16 AVX-512 accumulators) and streams both operands once: per k it loads
///       NR values of B, broadcasts MR values of A and issues MR * NR/16 fused multiply-adds.
/// Packing makes every inner load contiguous whatever the transposes, and the KC slice of B
/// stays in L2 while blocks of A cycle through L1. Callers parallelise across independent GEMMs.
///
/// A convolution's im2col matrix is never packed: on the zero-padded image, each of its rows is
/// the image itself read from another offset. So the micro-kernel finds its operands' rows through
/// offsets: A's eight rows at aRows[r] + p * aStep (a packed panel: r and MR; an im2col matrix as A:
/// the rows' offsets in the image and 1), and B's row p at bRows[p] (a packed panel: p * NR; an
/// im2col matrix as B: the row's offset in the image).
/// </summary>
public static class Sgemm
{
    public const int MR = 8;                       // rows of A per micro-tile
    private const int KC = 256;                    // depth of one packed slice
    private const int MC = 128;                    // rows of A per packed block
    public static int NR => Vector512.IsHardwareAccelerated ? 32 : 16;   // two vectors per row
    /// <summary>What <see cref="Multiply(PackedMatrix, int, ReadOnlySpan{float}, ReadOnlySpan{int}, Span{float}, int, bool)"/>'s n must be a multiple of: whole column panels and, with AVX-512, a last half panel.</summary>
    public const int ColumnStep = 16;

    /// <param name="lda">row stride of A as stored (K if not transposed, M if transposed)</param>
    public static void Multiply(bool transposeA, bool transposeB, int m, int n, int k, float alpha,
        ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, float beta, Span<float> c, int ldc)
    {
        for (int i = 0; i < m; i++)
        {
            var row = c.Slice(i * ldc, n);
            if (beta == 0) row.Clear();                 // BLAS convention: beta 0 ignores what C held
            else if (beta != 1) for (int j = 0; j < n; j++) row[j] *= beta;
        }
        if (k == 0 || alpha == 0 || m == 0 || n == 0) return;
        MultiplyPackedB(m, n, k, transposeA, alpha, a, lda, aRowOffsets: default, transposeB, b, ldb, c, ldc);
    }

    /// <summary>
    /// C [a.Rows, n] += A x B where A was packed once (<see cref="Pack"/>) and B is read in place,
    /// unpacked: row p of B is source[rowOffsets[p] ..], n contiguous floats. That is a stride-1
    /// convolution's im2col matrix read straight from the zero-padded image (<see cref="FastConvolution.Forward"/>).
    /// n must be a multiple of <see cref="ColumnStep"/>, and every row must have its n floats in source. A
    /// last half panel (16 columns) goes through the narrow micro-kernel: nine tiles of a 12 x 12 map need
    /// 16 columns, not 32.
    /// With <paramref name="overwrite"/>, C = A x B: what C held is never read (no need to clear it).
    /// </summary>
    public static void Multiply(PackedMatrix a, int n, ReadOnlySpan<float> source, ReadOnlySpan<int> rowOffsets, Span<float> c, int ldc, bool overwrite = false)
    {
        if (n % ColumnStep != 0) throw new ArgumentException($"n = {n} must be a multiple of {ColumnStep}.");
        if (rowOffsets.Length != a.Depth) throw new ArgumentException($"{rowOffsets.Length} row offsets for a depth of {a.Depth}.");
        RequireRowsInside(source, rowOffsets, n);
        Span<int> aRows = stackalloc int[MC];
        for (int pc = 0; pc < a.Depth; pc += KC)
        {
            int kc = Math.Min(KC, a.Depth - pc);
            for (int ic = 0; ic < a.Rows; ic += MC)
            {
                int mc = Math.Min(MC, a.Rows - ic);
                MultiplyBlock(kc, mc, n, a.Block(pc, ic), PackedRows(mc, kc, aRows), MR, source, rowOffsets.Slice(pc, kc), NR, c.Slice(ic * ldc), ldc,
                    overwrite && pc == 0);
            }
        }
    }

    /// <summary>
    /// C [rowOffsets.Length, n] += A x op(B) where A is read in place, unpacked: row i of A is
    /// source[rowOffsets[i] ..], k contiguous floats. That is a convolution's im2col matrix as the
    /// filter gradient's A (<see cref="FastConvolution.BackwardFilter"/>).
    /// </summary>
    public static void Multiply(ReadOnlySpan<float> source, ReadOnlySpan<int> rowOffsets, bool transposeB, int n, int k,
        ReadOnlySpan<float> b, int ldb, Span<float> c, int ldc)
    {
        if (rowOffsets.IsEmpty) return;
        RequireRowsInside(source, rowOffsets, k);
        MultiplyPackedB(rowOffsets.Length, n, k, false, 1f, source, 0, rowOffsets, transposeB, b, ldb, c, ldc);
    }

    /// <summary>
    /// C += alpha op(A) x op(B) with B packed slice by slice. A is packed block by block from a
    /// (aRowOffsets empty), or read in place: row i of A is a[aRowOffsets[i] ..].
    /// </summary>
    private static void MultiplyPackedB(int m, int n, int k, bool transposeA, float alpha, ReadOnlySpan<float> a, int lda,
        ReadOnlySpan<int> aRowOffsets, bool transposeB, ReadOnlySpan<float> b, int ldb, Span<float> c, int ldc)
    {
        int nr = NR, panels = (n + nr - 1) / nr;
        float[] packedB = ArrayPool<float>.Shared.Rent(panels * nr * KC);
        float[]? packedA = aRowOffsets.IsEmpty ? ArrayPool<float>.Shared.Rent(((MC + MR - 1) / MR) * MR * KC) : null;
        Span<int> aRows = stackalloc int[MC];
        try
        {
            for (int pc = 0; pc < k; pc += KC)
            {
                int kc = Math.Min(KC, k - pc);
                PackB(transposeB, b, ldb, pc, kc, n, nr, packedB);
                for (int ic = 0; ic < m; ic += MC)
                {
                    int mc = Math.Min(MC, m - ic);
                    if (packedA is not null)
                    {
                        PackA(transposeA, a, lda, ic, mc, pc, kc, alpha, packedA);
                        MultiplyBlock(kc, mc, n, packedA, PackedRows(mc, kc, aRows), MR, packedB, PanelRows(kc), nr * kc, c.Slice(ic * ldc), ldc, false);
                    }
                    else
                    {
                        for (int i = 0; i < mc; i++) aRows[i] = aRowOffsets[ic + i] + pc;
                        MultiplyBlock(kc, mc, n, a, aRows[..mc], 1, packedB, PanelRows(kc), nr * kc, c.Slice(ic * ldc), ldc, false);
                    }
                }
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(packedB);
            if (packedA is not null) ArrayPool<float>.Shared.Return(packedA);
        }
    }

    private static void RequireRowsInside(ReadOnlySpan<float> source, ReadOnlySpan<int> rowOffsets, int length)
    {
        foreach (int offset in rowOffsets)
            if (offset < 0 || offset + length > source.Length)
                throw new ArgumentException($"Row offset {offset} + {length} is outside a source of {source.Length}.");
    }

    /// <summary>
    /// alpha * op(A) [m, k] packed into the panels the micro-kernel reads, once, for many products
    /// with the same A (a convolution's weights, used by every image). Give it back with Dispose.
    /// </summary>
    public static PackedMatrix Pack(bool transposeA, int m, int k, float alpha, ReadOnlySpan<float> a, int lda)
    {
        var packed = new PackedMatrix(m, k);
        for (int pc = 0; pc < k; pc += KC)
            PackA(transposeA, a, lda, 0, m, pc, Math.Min(KC, k - pc), alpha, packed.Slice(pc));
        return packed;
    }

    /// <summary>
    /// A packed by <see cref="Pack"/>: for each KC-deep slice pc, all row panels of MR rows
    /// ([panel][k][MR], zero padded), so the block of rows ic.. of slice pc starts at
    /// <see cref="Block"/>(pc, ic) exactly as the GEMM would have packed it. The buffer is pooled.
    /// </summary>
    public sealed class PackedMatrix : IDisposable
    {
        private readonly float[] _panels;
        private readonly int _rowPanels;

        internal PackedMatrix(int rows, int depth)
        {
            (Rows, Depth, _rowPanels) = (rows, depth, (rows + MR - 1) / MR);
            _panels = ArrayPool<float>.Shared.Rent(_rowPanels * MR * depth);
        }

        public int Rows { get; }
        public int Depth { get; }

        /// <summary>Slice pc: row panels of depth min(KC, K - pc), after the slices before it.</summary>
        internal Span<float> Slice(int pc) => _panels.AsSpan(_rowPanels * MR * pc, _rowPanels * MR * Math.Min(KC, Depth - pc));

        /// <summary>
        /// Column p of the row panel that starts at row (a multiple of MR): its MR floats, one per row, for
        /// callers that write A straight into its packed form (rows past the last one are never read).
        /// </summary>
        internal Span<float> PanelColumn(int row, int p) => _panels.AsSpan(PanelColumnOffset(row, p), MR);

        /// <summary>
        /// Where <see cref="PanelColumn"/>(row, p) starts in <see cref="Panels"/>: the same in every matrix of the same
        /// rows and depth, so a writer of many such matrices (Winograd's t x t transformed weights) finds it once.
        /// </summary>
        internal int PanelColumnOffset(int row, int p)
        {
            int pc = p / KC * KC;
            return _rowPanels * MR * pc + row * Math.Min(KC, Depth - pc) + (p - pc) * MR;
        }

        /// <summary>The whole packed buffer (slices one after another), for writers that use <see cref="PanelColumnOffset"/>.</summary>
        internal float[] Panels => _panels;

        /// <summary>The panels of rows ic.. (a multiple of MR) in slice pc.</summary>
        internal ReadOnlySpan<float> Block(int pc, int ic) => Slice(pc)[(ic * Math.Min(KC, Depth - pc))..];

        public void Dispose() => ArrayPool<float>.Shared.Return(_panels);
    }

    /// <summary>Where row i of a packed A block [mc, kc] starts: panel i / MR, lane i % MR (then MR apart).</summary>
    private static ReadOnlySpan<int> PackedRows(int mc, int kc, Span<int> rows)
    {
        for (int i = 0; i < mc; i++) rows[i] = i / MR * MR * kc + i % MR;
        return rows[..mc];
    }

    /// <summary>Where row p of a packed B panel starts: p * NR.</summary>
    private static ReadOnlySpan<int> PanelRows(int kc) => PanelRowOffsets.AsSpan(0, kc);

    private static readonly int[] PanelRowOffsets = Enumerable.Range(0, KC).Select(p => p * NR).ToArray();

    /// <summary>
    /// C[mc, n] (row stride ldc) += A [mc, kc] x B [kc, n]: every (MR x NR) tile by the micro-kernel;
    /// a partial tile at the edges goes through a scratch tile. Row i of A is a[aRows[i] + p * aStep];
    /// B's column panel jr starts at b[jr * panelStride] and its row p at bRows[p] from there.
    /// With <paramref name="overwrite"/>, C = A x B.
    /// </summary>
    private static void MultiplyBlock(int kc, int mc, int n, ReadOnlySpan<float> a, ReadOnlySpan<int> aRows, int aStep,
        ReadOnlySpan<float> b, ReadOnlySpan<int> bRows, int panelStride, Span<float> c, int ldc, bool overwrite)
    {
        int nr = NR, panels = (n + nr - 1) / nr;
        Span<float> edge = stackalloc float[MR * 32];
        Span<int> tileRows = stackalloc int[MR];
        for (int jr = 0; jr < panels; jr++)
            for (int ir = 0; ir < mc; ir += MR)
            {
                int rows = Math.Min(MR, mc - ir), cols = Math.Min(nr, n - jr * nr);
                // A partial tile repeats its last row: the kernel reads eight rows, the extra ones are discarded.
                for (int r = 0; r < MR; r++) tileRows[r] = aRows[ir + Math.Min(r, rows - 1)];
                var bPanel = b[(jr * panelStride)..];
                if (rows == MR && cols == nr)
                {
                    if (aStep == MR && Vector512.IsHardwareAccelerated)   // a packed panel: its MR rows side by side, MR floats per k
                        MicroKernel512PackedA(kc, a[tileRows[0]..], bPanel, bRows, c.Slice(ir * ldc + jr * nr), ldc, overwrite);
                    else MicroKernel(kc, a, tileRows, aStep, bPanel, bRows, c.Slice(ir * ldc + jr * nr), ldc, overwrite);
                }
                else
                {
                    var tile = edge[..(MR * nr)];
                    tile.Clear();
                    if (cols <= 16 && Vector512.IsHardwareAccelerated) MicroKernel512Narrow(kc, a, tileRows, aStep, bPanel, bRows, tile, nr);   // half the work
                    else MicroKernel(kc, a, tileRows, aStep, bPanel, bRows, tile, nr, false);
                    for (int r = 0; r < rows; r++)
                        for (int q = 0; q < cols; q++)
                            c[(ir + r) * ldc + jr * nr + q] = overwrite ? tile[r * nr + q] : c[(ir + r) * ldc + jr * nr + q] + tile[r * nr + q];
                }
            }
    }

    /// <summary>op(B)[pc .. pc+kc, 0 .. n] -> panels of nr columns: packed[panel][k][nr], zero padded.</summary>
    private static void PackB(bool transposeB, ReadOnlySpan<float> b, int ldb, int pc, int kc, int n, int nr, float[] packed)
    {
        int panels = (n + nr - 1) / nr;
        if (!transposeB)
        {
            // Row by row, so that each row of B is read once, front to back; whole panel rows copy as vectors.
            for (int p = 0; p < kc; p++)
            {
                var row = b.Slice((pc + p) * ldb, n);
                for (int panel = 0; panel < panels; panel++)
                {
                    int j0 = panel * nr, cols = Math.Min(nr, n - j0);
                    var destination = packed.AsSpan(panel * nr * kc + p * nr, nr);
                    if (cols < nr)
                    {
                        row.Slice(j0, cols).CopyTo(destination);
                        destination[cols..].Clear();
                    }
                    else
                        for (int q = 0; q < nr; q += Vector512<float>.Count)
                            Vector512.Create<float>(row.Slice(j0 + q, Vector512<float>.Count)).CopyTo(destination[q..]);
                }
            }
            return;
        }
        for (int panel = 0; panel < panels; panel++)
        {
            int j0 = panel * nr, cols = Math.Min(nr, n - j0);
            var destination = packed.AsSpan(panel * nr * kc, nr * kc);
            // op(B) column q is row j0 + q of B as stored: the panel is B's rows j0 .. j0 + cols, columns pc .. pc + kc, transposed.
            if (cols < nr) destination.Clear();
            FastTranspose.Transpose(b[(j0 * ldb + pc)..], cols, kc, ldb, destination, nr);
        }
    }

    /// <summary>alpha * op(A)[ic .. ic+mc, pc .. pc+kc] -> panels of MR rows: packed[panel][k][MR], zero padded.</summary>
    private static void PackA(bool transposeA, ReadOnlySpan<float> a, int lda, int ic, int mc, int pc, int kc, float alpha, Span<float> packed)
    {
        for (int panel = 0; panel * MR < mc; panel++)
        {
            int i0 = ic + panel * MR, rows = Math.Min(MR, mc - panel * MR);
            var destination = packed.Slice(panel * MR * kc, MR * kc);
            if (rows == MR && Avx.IsSupported)
            {
                if (transposeA) PackTransposedPanel(a, lda, i0, pc, kc, alpha, destination);
                else PackPanel(a, lda, i0, pc, kc, alpha, destination);
                continue;
            }
            for (int r = 0; r < MR; r++)   // one row of the panel at a time: its kc floats go MR apart
            {
                if (r >= rows) { for (int p = 0; p < kc; p++) destination[p * MR + r] = 0f; continue; }
                if (transposeA) { for (int p = 0; p < kc; p++) destination[p * MR + r] = alpha * a[(pc + p) * lda + i0 + r]; continue; }
                var row = a.Slice((i0 + r) * lda + pc, kc);
                for (int p = 0; p < row.Length; p++) destination[p * MR + r] = alpha * row[p];
            }
        }
    }

    /// <summary>
    /// alpha * A[i0 .. i0+8, pc .. pc+kc] -> one panel [kc][8]: eight rows in, their columns out, eight
    /// floats of each row at a time through an 8 x 8 transpose in AVX registers. 128 rows of conv6's weights
    /// (128 x 2304) take 0.04 ms this way, 0.25 ms a float at a time. The last kc % 8 columns go one by one.
    /// </summary>
    private static void PackPanel(ReadOnlySpan<float> a, int lda, int i0, int pc, int kc, float alpha, Span<float> panel)
    {
        if ((long)(i0 + MR - 1) * lda + pc + kc > a.Length || panel.Length < kc * MR)
            throw new ArgumentException("The panel's rows do not fit A, or its columns the destination.");
        ref float rows = ref Unsafe.Add(ref MemoryMarshal.GetReference(a), i0 * lda + pc);
        ref float columns = ref MemoryMarshal.GetReference(panel);
        var scale = Vector256.Create(alpha);
        int whole = kc / 8 * 8;
        for (int p = 0; p < whole; p += 8)
        {
            var r0 = scale * Vector256.LoadUnsafe(ref rows, (nuint)p); var r1 = scale * Vector256.LoadUnsafe(ref rows, (nuint)(lda + p));
            var r2 = scale * Vector256.LoadUnsafe(ref rows, (nuint)(2 * lda + p)); var r3 = scale * Vector256.LoadUnsafe(ref rows, (nuint)(3 * lda + p));
            var r4 = scale * Vector256.LoadUnsafe(ref rows, (nuint)(4 * lda + p)); var r5 = scale * Vector256.LoadUnsafe(ref rows, (nuint)(5 * lda + p));
            var r6 = scale * Vector256.LoadUnsafe(ref rows, (nuint)(6 * lda + p)); var r7 = scale * Vector256.LoadUnsafe(ref rows, (nuint)(7 * lda + p));
            // 1. Interleave row pairs, per 128-bit half: t0 = (r0[0], r1[0], r0[1], r1[1] | r0[4], r1[4], r0[5], r1[5]), ...
            Vector256<float> t0 = Avx.UnpackLow(r0, r1), t1 = Avx.UnpackHigh(r0, r1), t2 = Avx.UnpackLow(r2, r3), t3 = Avx.UnpackHigh(r2, r3);
            Vector256<float> t4 = Avx.UnpackLow(r4, r5), t5 = Avx.UnpackHigh(r4, r5), t6 = Avx.UnpackLow(r6, r7), t7 = Avx.UnpackHigh(r6, r7);
            // 2. Pairs of pairs: u0 = (rows 0-3 of column 0 | of column 4), u1 = column 1 | 5, u2 = 2 | 6, u3 = 3 | 7; u4 .. u7 for rows 4-7.
            Vector256<float> u0 = Avx.Shuffle(t0, t2, 0x44), u1 = Avx.Shuffle(t0, t2, 0xEE), u2 = Avx.Shuffle(t1, t3, 0x44), u3 = Avx.Shuffle(t1, t3, 0xEE);
            Vector256<float> u4 = Avx.Shuffle(t4, t6, 0x44), u5 = Avx.Shuffle(t4, t6, 0xEE), u6 = Avx.Shuffle(t5, t7, 0x44), u7 = Avx.Shuffle(t5, t7, 0xEE);
            // 3. Join the halves: column j = (rows 0-3, rows 4-7).
            ref float column = ref Unsafe.Add(ref columns, p * MR);
            Avx.Permute2x128(u0, u4, 0x20).StoreUnsafe(ref column, 0 * MR); Avx.Permute2x128(u1, u5, 0x20).StoreUnsafe(ref column, 1 * MR);
            Avx.Permute2x128(u2, u6, 0x20).StoreUnsafe(ref column, 2 * MR); Avx.Permute2x128(u3, u7, 0x20).StoreUnsafe(ref column, 3 * MR);
            Avx.Permute2x128(u0, u4, 0x31).StoreUnsafe(ref column, 4 * MR); Avx.Permute2x128(u1, u5, 0x31).StoreUnsafe(ref column, 5 * MR);
            Avx.Permute2x128(u2, u6, 0x31).StoreUnsafe(ref column, 6 * MR); Avx.Permute2x128(u3, u7, 0x31).StoreUnsafe(ref column, 7 * MR);
        }
        for (int p = whole; p < kc; p++)
            for (int r = 0; r < MR; r++)
                panel[p * MR + r] = alpha * a[(i0 + r) * lda + pc + p];
    }

    /// <summary>alpha * op(A) for a transposed A: the panel's column p is A's stored row pc + p, eight floats from i0, one vector.</summary>
    private static void PackTransposedPanel(ReadOnlySpan<float> a, int lda, int i0, int pc, int kc, float alpha, Span<float> panel)
    {
        for (int p = 0; p < kc; p++)
            (alpha * Vector256.Create<float>(a.Slice((pc + p) * lda + i0, MR))).CopyTo(panel.Slice(p * MR, MR));
    }

    /// <summary>
    /// C[MR, NR] (row stride ldc) += A[MR, kc] x B[kc, NR], where element p of A's row r is
    /// a[aRows[r] + p * aStep] and row p of B is the NR floats at b[bRows[p]]. The callers check that
    /// every row lies inside its span.
    /// </summary>
    private static void MicroKernel(int kc, ReadOnlySpan<float> a, ReadOnlySpan<int> aRows, int aStep,
        ReadOnlySpan<float> b, ReadOnlySpan<int> bRows, Span<float> c, int ldc, bool overwrite)
    {
        if (Vector512.IsHardwareAccelerated) MicroKernel512(kc, a, aRows, aStep, b, bRows, c, ldc, overwrite);
        else MicroKernel256(kc, a, aRows, aStep, b, bRows, c, ldc, overwrite);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void MicroKernel512(int kc, ReadOnlySpan<float> a, ReadOnlySpan<int> aRows, int aStep,
        ReadOnlySpan<float> b, ReadOnlySpan<int> bRows, Span<float> c, int ldc, bool overwrite)
    {
        ref float aStart = ref MemoryMarshal.GetReference(a);
        ref float a0 = ref Unsafe.Add(ref aStart, aRows[0]); ref float a1 = ref Unsafe.Add(ref aStart, aRows[1]);
        ref float a2 = ref Unsafe.Add(ref aStart, aRows[2]); ref float a3 = ref Unsafe.Add(ref aStart, aRows[3]);
        ref float a4 = ref Unsafe.Add(ref aStart, aRows[4]); ref float a5 = ref Unsafe.Add(ref aStart, aRows[5]);
        ref float a6 = ref Unsafe.Add(ref aStart, aRows[6]); ref float a7 = ref Unsafe.Add(ref aStart, aRows[7]);
        ref float bStart = ref MemoryMarshal.GetReference(b);
        ref int bRow = ref MemoryMarshal.GetReference(bRows);
        Vector512<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default, c30 = default, c31 = default;
        Vector512<float> c40 = default, c41 = default, c50 = default, c51 = default, c60 = default, c61 = default, c70 = default, c71 = default;
        for (int p = 0; p < kc; p++)
        {
            ref float row = ref Unsafe.Add(ref bStart, Unsafe.Add(ref bRow, p));
            var b0 = Vector512.LoadUnsafe(ref row);
            var b1 = Vector512.LoadUnsafe(ref row, 16);
            int at = p * aStep;
            var x0 = Vector512.Create(Unsafe.Add(ref a0, at)); c00 = Vector512.FusedMultiplyAdd(x0, b0, c00); c01 = Vector512.FusedMultiplyAdd(x0, b1, c01);
            var x1 = Vector512.Create(Unsafe.Add(ref a1, at)); c10 = Vector512.FusedMultiplyAdd(x1, b0, c10); c11 = Vector512.FusedMultiplyAdd(x1, b1, c11);
            var x2 = Vector512.Create(Unsafe.Add(ref a2, at)); c20 = Vector512.FusedMultiplyAdd(x2, b0, c20); c21 = Vector512.FusedMultiplyAdd(x2, b1, c21);
            var x3 = Vector512.Create(Unsafe.Add(ref a3, at)); c30 = Vector512.FusedMultiplyAdd(x3, b0, c30); c31 = Vector512.FusedMultiplyAdd(x3, b1, c31);
            var x4 = Vector512.Create(Unsafe.Add(ref a4, at)); c40 = Vector512.FusedMultiplyAdd(x4, b0, c40); c41 = Vector512.FusedMultiplyAdd(x4, b1, c41);
            var x5 = Vector512.Create(Unsafe.Add(ref a5, at)); c50 = Vector512.FusedMultiplyAdd(x5, b0, c50); c51 = Vector512.FusedMultiplyAdd(x5, b1, c51);
            var x6 = Vector512.Create(Unsafe.Add(ref a6, at)); c60 = Vector512.FusedMultiplyAdd(x6, b0, c60); c61 = Vector512.FusedMultiplyAdd(x6, b1, c61);
            var x7 = Vector512.Create(Unsafe.Add(ref a7, at)); c70 = Vector512.FusedMultiplyAdd(x7, b0, c70); c71 = Vector512.FusedMultiplyAdd(x7, b1, c71);
        }
        Accumulate512(c, 0 * ldc, c00, c01, overwrite); Accumulate512(c, 1 * ldc, c10, c11, overwrite);
        Accumulate512(c, 2 * ldc, c20, c21, overwrite); Accumulate512(c, 3 * ldc, c30, c31, overwrite);
        Accumulate512(c, 4 * ldc, c40, c41, overwrite); Accumulate512(c, 5 * ldc, c50, c51, overwrite);
        Accumulate512(c, 6 * ldc, c60, c61, overwrite); Accumulate512(c, 7 * ldc, c70, c71, overwrite);
    }

    /// <summary>
    /// <see cref="MicroKernel512"/> for A as a packed panel (<see cref="PackA"/>): element p of row r
    /// is panel[p * MR + r], so one pointer walks all eight rows. With eight row pointers and a
    /// multiply per k, the JIT runs out of registers and keeps two pointers on the stack, storing and
    /// reloading them on every k. Measured in alternation with that kernel (10 rounds, batch 32, 2 threads),
    /// the paper's Winograd forward convolutions take 0.92x (conv2, K = 64) to 0.99x (conv4) the time.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void MicroKernel512PackedA(int kc, ReadOnlySpan<float> panel, ReadOnlySpan<float> b, ReadOnlySpan<int> bRows,
        Span<float> c, int ldc, bool overwrite)
    {
        if (panel.Length < kc * MR) throw new ArgumentException("The panel is shorter than kc x MR.");
        ref float a = ref MemoryMarshal.GetReference(panel);
        ref float bStart = ref MemoryMarshal.GetReference(b);
        ref int bRow = ref MemoryMarshal.GetReference(bRows);
        Vector512<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default, c30 = default, c31 = default;
        Vector512<float> c40 = default, c41 = default, c50 = default, c51 = default, c60 = default, c61 = default, c70 = default, c71 = default;
        for (int p = 0; p < kc; p++)
        {
            ref float row = ref Unsafe.Add(ref bStart, Unsafe.Add(ref bRow, p));
            var b0 = Vector512.LoadUnsafe(ref row);
            var b1 = Vector512.LoadUnsafe(ref row, 16);
            var x0 = Vector512.Create(a); c00 = Vector512.FusedMultiplyAdd(x0, b0, c00); c01 = Vector512.FusedMultiplyAdd(x0, b1, c01);
            var x1 = Vector512.Create(Unsafe.Add(ref a, 1)); c10 = Vector512.FusedMultiplyAdd(x1, b0, c10); c11 = Vector512.FusedMultiplyAdd(x1, b1, c11);
            var x2 = Vector512.Create(Unsafe.Add(ref a, 2)); c20 = Vector512.FusedMultiplyAdd(x2, b0, c20); c21 = Vector512.FusedMultiplyAdd(x2, b1, c21);
            var x3 = Vector512.Create(Unsafe.Add(ref a, 3)); c30 = Vector512.FusedMultiplyAdd(x3, b0, c30); c31 = Vector512.FusedMultiplyAdd(x3, b1, c31);
            var x4 = Vector512.Create(Unsafe.Add(ref a, 4)); c40 = Vector512.FusedMultiplyAdd(x4, b0, c40); c41 = Vector512.FusedMultiplyAdd(x4, b1, c41);
            var x5 = Vector512.Create(Unsafe.Add(ref a, 5)); c50 = Vector512.FusedMultiplyAdd(x5, b0, c50); c51 = Vector512.FusedMultiplyAdd(x5, b1, c51);
            var x6 = Vector512.Create(Unsafe.Add(ref a, 6)); c60 = Vector512.FusedMultiplyAdd(x6, b0, c60); c61 = Vector512.FusedMultiplyAdd(x6, b1, c61);
            var x7 = Vector512.Create(Unsafe.Add(ref a, 7)); c70 = Vector512.FusedMultiplyAdd(x7, b0, c70); c71 = Vector512.FusedMultiplyAdd(x7, b1, c71);
            a = ref Unsafe.Add(ref a, MR);
        }
        Accumulate512(c, 0 * ldc, c00, c01, overwrite); Accumulate512(c, 1 * ldc, c10, c11, overwrite);
        Accumulate512(c, 2 * ldc, c20, c21, overwrite); Accumulate512(c, 3 * ldc, c30, c31, overwrite);
        Accumulate512(c, 4 * ldc, c40, c41, overwrite); Accumulate512(c, 5 * ldc, c50, c51, overwrite);
        Accumulate512(c, 6 * ldc, c60, c61, overwrite); Accumulate512(c, 7 * ldc, c70, c71, overwrite);
    }

    /// <summary>
    /// C[MR, 16] = A[MR, kc] x B[kc, 16]: <see cref="MicroKernel512"/> for a panel whose last 16 columns
    /// are padding (n of 16 or less: a filter gradient into 16 output channels), so that it does not
    /// multiply them. Eight accumulators and one B vector per k: it runs near the load ports' limit
    /// rather than the FMA units', but does half the multiplies.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void MicroKernel512Narrow(int kc, ReadOnlySpan<float> a, ReadOnlySpan<int> aRows, int aStep,
        ReadOnlySpan<float> b, ReadOnlySpan<int> bRows, Span<float> c, int ldc)
    {
        ref float aStart = ref MemoryMarshal.GetReference(a);
        ref float a0 = ref Unsafe.Add(ref aStart, aRows[0]); ref float a1 = ref Unsafe.Add(ref aStart, aRows[1]);
        ref float a2 = ref Unsafe.Add(ref aStart, aRows[2]); ref float a3 = ref Unsafe.Add(ref aStart, aRows[3]);
        ref float a4 = ref Unsafe.Add(ref aStart, aRows[4]); ref float a5 = ref Unsafe.Add(ref aStart, aRows[5]);
        ref float a6 = ref Unsafe.Add(ref aStart, aRows[6]); ref float a7 = ref Unsafe.Add(ref aStart, aRows[7]);
        ref float bStart = ref MemoryMarshal.GetReference(b);
        ref int bRow = ref MemoryMarshal.GetReference(bRows);
        Vector512<float> c0 = default, c1 = default, c2 = default, c3 = default, c4 = default, c5 = default, c6 = default, c7 = default;
        for (int p = 0; p < kc; p++)
        {
            var b0 = Vector512.LoadUnsafe(ref Unsafe.Add(ref bStart, Unsafe.Add(ref bRow, p)));
            int at = p * aStep;
            c0 = Vector512.FusedMultiplyAdd(Vector512.Create(Unsafe.Add(ref a0, at)), b0, c0);
            c1 = Vector512.FusedMultiplyAdd(Vector512.Create(Unsafe.Add(ref a1, at)), b0, c1);
            c2 = Vector512.FusedMultiplyAdd(Vector512.Create(Unsafe.Add(ref a2, at)), b0, c2);
            c3 = Vector512.FusedMultiplyAdd(Vector512.Create(Unsafe.Add(ref a3, at)), b0, c3);
            c4 = Vector512.FusedMultiplyAdd(Vector512.Create(Unsafe.Add(ref a4, at)), b0, c4);
            c5 = Vector512.FusedMultiplyAdd(Vector512.Create(Unsafe.Add(ref a5, at)), b0, c5);
            c6 = Vector512.FusedMultiplyAdd(Vector512.Create(Unsafe.Add(ref a6, at)), b0, c6);
            c7 = Vector512.FusedMultiplyAdd(Vector512.Create(Unsafe.Add(ref a7, at)), b0, c7);
        }
        c0.CopyTo(c); c1.CopyTo(c[ldc..]); c2.CopyTo(c[(2 * ldc)..]); c3.CopyTo(c[(3 * ldc)..]);
        c4.CopyTo(c[(4 * ldc)..]); c5.CopyTo(c[(5 * ldc)..]); c6.CopyTo(c[(6 * ldc)..]); c7.CopyTo(c[(7 * ldc)..]);
    }

    /// <summary>A row of the tile: C (+)= the two accumulators.</summary>
    private static void Accumulate512(Span<float> c, int offset, Vector512<float> left, Vector512<float> right, bool overwrite)
    {
        var row = c.Slice(offset, 32);
        if (!overwrite)
        {
            left += Vector512.Create<float>(row);
            right += Vector512.Create<float>(row[16..]);
        }
        left.CopyTo(row);
        right.CopyTo(row[16..]);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void MicroKernel256(int kc, ReadOnlySpan<float> a, ReadOnlySpan<int> aRows, int aStep,
        ReadOnlySpan<float> b, ReadOnlySpan<int> bRows, Span<float> c, int ldc, bool overwrite)
    {
        // Same tile shape with 8-wide vectors: NR = 16 columns as two Vector256 per row.
        Span<Vector256<float>> acc = stackalloc Vector256<float>[2 * MR];
        acc.Clear();
        for (int p = 0; p < kc; p++)
        {
            var b0 = Vector256.Create<float>(b.Slice(bRows[p], 8));
            var b1 = Vector256.Create<float>(b.Slice(bRows[p] + 8, 8));
            for (int r = 0; r < MR; r++)
            {
                var ar = Vector256.Create(a[aRows[r] + p * aStep]);
                acc[2 * r] = Vector256.FusedMultiplyAdd(ar, b0, acc[2 * r]);
                acc[2 * r + 1] = Vector256.FusedMultiplyAdd(ar, b1, acc[2 * r + 1]);
            }
        }
        for (int r = 0; r < MR; r++)
        {
            var row = c.Slice(r * ldc, 16);
            (overwrite ? acc[2 * r] : Vector256.Create<float>(row) + acc[2 * r]).CopyTo(row);
            (overwrite ? acc[2 * r + 1] : Vector256.Create<float>(row[8..]) + acc[2 * r + 1]).CopyTo(row[8..]);
        }
    }
}
