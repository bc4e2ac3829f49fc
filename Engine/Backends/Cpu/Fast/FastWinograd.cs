using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace FerEngine.Backends.Cpu.Fast;

/// <summary>
/// 3x3 stride-1 convolutions by Winograd's minimal filtering F(2x2, 3x3) (Lavin and Gray, 2015): each
/// 2x2 block of outputs comes from a 4x4 tile of input with 16 multiplies per channel pair instead of 36:
///   y_tile = A^T [ sum over ci of (G g G^T) .* (B^T d B) ] A
/// where g is the 3x3 kernel of (co, ci), d the 4x4 input tile of channel ci, .* elementwise, and
///   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]   G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1]
///   A^T = [1 1 1 0; 0 1 -1 -1].
/// For each of the 16 points xi of a transformed tile, the sum over input channels is a matrix product:
///   M_xi [Cout, tiles] = U_xi [Cout, Cin] x V_xi [Cin, tiles],   U = G g G^T,  V = B^T d B,
/// so a convolution is: transform the weights (once per call), transform every input tile, run 16
/// GEMMs on <see cref="Sgemm"/>, and transform the products back into 2x2 outputs. That is 2.25x fewer
/// multiply-adds than <see cref="FastConvolution"/>'s single GEMM; the transforms are additions only.
///
/// The transforms work on a tile row at a time, one vector lane per tile: the row transform
/// (B^T over the tile's 4 rows) is elementwise on whole padded rows, and the column transform
/// separates a row's even and odd columns with AVX-512 permutes. So this path needs AVX-512 and at
/// most 16 tiles per row (output width up to 32); <see cref="Supports"/> says when it applies.
/// Images go in groups whose tiles form their GEMMs' columns (<see cref="ImagesPerGroup"/>); as each
/// column is summed on its own, results do not depend on the grouping or on the thread count.
/// </summary>
public static class FastWinograd
{
    private const int Lanes = 16;        // tiles per vector
    private const int RowStride = 48;    // floats per padded row: 2 x 16 tiles + 2, rounded up to whole vectors

    /// <summary>True for the convolutions this path computes: 3x3 kernels, output width at most 32, AVX-512.</summary>
    public static bool Supports(ConvShape s) => s.K == 3 && s.Ho > 0 && TilesX(s) <= Lanes && s.W + s.Padding <= RowStride && Avx512F.IsSupported;

    private static int TilesY(ConvShape s) => (s.Ho + 1) / 2;
    private static int TilesX(ConvShape s) => (s.Wo + 1) / 2;

    public static void Forward(ConvShape s, ReadOnlyMemory<float> x, ReadOnlyMemory<float> w, ReadOnlyMemory<float> bias, Memory<float> y)
    {
        int th = TilesY(s), tw = TilesX(s), xSize = s.Cin * s.H * s.W, ySize = s.Cout * s.Ho * s.Wo;
        var u = TransformWeights(s, w);
        try
        {
            int perGroup = ImagesPerGroup(s.N, th * tw), groups = (s.N + perGroup - 1) / perGroup;
            Parallel.For(0, groups, new ParallelOptions { MaxDegreeOfParallelism = CpuFastBackend.Threads }, group =>
            {
                int first = group * perGroup, count = Math.Min(perGroup, s.N - first);
                int tiles = count * th * tw;
                int columns = (tiles + Sgemm.NR - 1) / Sgemm.NR * Sgemm.NR;   // whole GEMM column panels
                int vStride = columns + Lanes;                                // a tile row's 16-lane store may run past the last tile
                float[] v = ArrayPool<float>.Shared.Rent(16 * s.Cin * vStride);   // V_xi [Cin, columns], xi-major
                float[] m = ArrayPool<float>.Shared.Rent(16 * s.Cout * columns + Lanes);   // M_xi [Cout, columns]
                float[] padded = ArrayPool<float>.Shared.Rent((2 * th + 2) * RowStride);
                var rowOffsets = new int[s.Cin];
                try
                {
                    Array.Clear(padded, 0, (2 * th + 2) * RowStride);   // the border stays zero: only the interior is written
                    for (int row = 0; row < 16 * s.Cin; row++)              // columns past the tiles: finite, so the GEMM's discarded columns are too
                        v.AsSpan(row * vStride + tiles, vStride - tiles).Clear();
                    for (int n = first; n < first + count; n++)
                    {
                        int column = (n - first) * th * tw;
                        for (int ci = 0; ci < s.Cin; ci++)
                            TransformInput(s, x.Span.Slice(n * xSize + ci * s.H * s.W, s.H * s.W), padded, th, tw, v.AsSpan(ci * vStride + column), s.Cin * vStride);
                    }
                    for (int ci = 0; ci < s.Cin; ci++) rowOffsets[ci] = ci * vStride;
                    for (int xi = 0; xi < 16; xi++)
                        Sgemm.Multiply(u[xi], columns, v.AsSpan(xi * s.Cin * vStride, s.Cin * vStride), rowOffsets,
                            m.AsSpan(xi * s.Cout * columns, s.Cout * columns), columns, overwrite: true);
                    for (int n = first; n < first + count; n++)
                        for (int co = 0; co < s.Cout; co++)
                            TransformOutput(s, m, co * columns + (n - first) * th * tw, s.Cout * columns, th, tw,
                                bias.IsEmpty ? 0f : bias.Span[co], y.Span.Slice(n * ySize + co * s.Ho * s.Wo, s.Ho * s.Wo));
                }
                finally
                {
                    ArrayPool<float>.Shared.Return(v);
                    ArrayPool<float>.Shared.Return(m);
                    ArrayPool<float>.Shared.Return(padded);
                }
            });
        }
        finally
        {
            foreach (var matrix in u) matrix.Dispose();
        }
    }

    /// <summary>
    /// Images whose tiles share one set of GEMMs: the fewest (up to 8) whose tiles fill whole column
    /// panels, so that no GEMM column is computed for nothing (12 x 12 maps, 36 tiles an image: 8 images,
    /// 288 tiles), but never so many that a thread would get no group. Each output column of a GEMM is
    /// summed alone, in the same order whatever the grouping, so the grouping never changes a result.
    /// </summary>
    private static int ImagesPerGroup(int n, int tilesPerImage)
    {
        int most = Math.Clamp((n + CpuFastBackend.Threads - 1) / CpuFastBackend.Threads, 1, 8);
        for (int images = 1; images <= most; images++)
            if (images * tilesPerImage % Sgemm.NR == 0) return images;
        return most;
    }

    /// <summary>U_xi = (G g G^T)[xi] for every (co, ci), packed for the GEMM: 16 matrices [Cout, Cin].</summary>
    private static Sgemm.PackedMatrix[] TransformWeights(ConvShape s, ReadOnlyMemory<float> w)
    {
        int pairs = s.Cout * s.Cin;
        float[] transformed = ArrayPool<float>.Shared.Rent(16 * pairs);   // [xi][co, ci]
        try
        {
            Parallel1D.For(pairs, (first, count) =>
            {
                Span<float> gg = stackalloc float[12];   // G g: [4, 3]
                for (int pair = first; pair < first + count; pair++)
                {
                    var g = w.Span.Slice(pair * 9, 9);
                    for (int c = 0; c < 3; c++)
                    {
                        float g0 = g[c], g1 = g[3 + c], g2 = g[6 + c];
                        gg[c] = g0;
                        gg[3 + c] = 0.5f * (g0 + g1 + g2);
                        gg[6 + c] = 0.5f * (g0 - g1 + g2);
                        gg[9 + c] = g2;
                    }
                    for (int r = 0; r < 4; r++)   // (G g) G^T: the same combination along each row
                    {
                        float q0 = gg[3 * r], q1 = gg[3 * r + 1], q2 = gg[3 * r + 2];
                        transformed[(4 * r + 0) * pairs + pair] = q0;
                        transformed[(4 * r + 1) * pairs + pair] = 0.5f * (q0 + q1 + q2);
                        transformed[(4 * r + 2) * pairs + pair] = 0.5f * (q0 - q1 + q2);
                        transformed[(4 * r + 3) * pairs + pair] = q2;
                    }
                }
            }, itemSize: 16);
            var packed = new Sgemm.PackedMatrix[16];
            Parallel1D.ForEach(16, xi => packed[xi] = Sgemm.Pack(false, s.Cout, s.Cin, 1f, transformed.AsSpan(xi * pairs, pairs), s.Cin));
            return packed;
        }
        finally { ArrayPool<float>.Shared.Return(transformed); }
    }

    /// <summary>
    /// V = B^T d B for every tile of one channel plane [H, W]: V_xi's tiles of tile row ty go to
    /// v[xi * xiStride + ty * tw ..] (16 lanes written; those past the row's tiles are overwritten next).
    /// </summary>
    private static void TransformInput(ConvShape s, ReadOnlySpan<float> plane, float[] padded, int th, int tw, Span<float> v, int xiStride)
    {
        if (15 * xiStride + (th - 1) * tw + Lanes > v.Length) throw new ArgumentException("V is too short for the tiles.");
        for (int iy = 0; iy < s.H; iy++)   // padded row iy + p holds input row iy from column p on
            plane.Slice(iy * s.W, s.W).CopyTo(padded.AsSpan((iy + s.Padding) * RowStride + s.Padding, s.W));
        Span<float> t = stackalloc float[4 * RowStride];
        ref float tStart = ref MemoryMarshal.GetReference(t);
        ref float vStart = ref MemoryMarshal.GetReference(v);
        for (int ty = 0; ty < th; ty++)
        {
            // B^T over the tile's 4 rows, elementwise on whole padded rows.
            ref float rows = ref padded[2 * ty * RowStride];   // rows 2ty .. 2ty + 3 lie inside padded (2 th + 2 rows)
            for (int c = 0; c < RowStride; c += Lanes)
            {
                var d0 = Vector512.LoadUnsafe(ref rows, (nuint)c);
                var d1 = Vector512.LoadUnsafe(ref rows, (nuint)(RowStride + c));
                var d2 = Vector512.LoadUnsafe(ref rows, (nuint)(2 * RowStride + c));
                var d3 = Vector512.LoadUnsafe(ref rows, (nuint)(3 * RowStride + c));
                (d0 - d2).StoreUnsafe(ref tStart, (nuint)c);
                (d1 + d2).StoreUnsafe(ref tStart, (nuint)(RowStride + c));
                (d2 - d1).StoreUnsafe(ref tStart, (nuint)(2 * RowStride + c));
                (d1 - d3).StoreUnsafe(ref tStart, (nuint)(3 * RowStride + c));
            }
            // B over each row's tiles: tile tx reads columns 2tx .. 2tx + 3, the even and odd columns from 2tx and from 2tx + 2.
            int at = ty * tw;
            for (int i = 0; i < 4; i++)
            {
                ref float row = ref Unsafe.Add(ref tStart, i * RowStride);
                var (even, odd) = Split(ref row);
                var (nextEven, nextOdd) = Split(ref Unsafe.Add(ref row, 2));
                (even - nextEven).StoreUnsafe(ref vStart, (nuint)((4 * i + 0) * xiStride + at));
                (odd + nextEven).StoreUnsafe(ref vStart, (nuint)((4 * i + 1) * xiStride + at));
                (nextEven - odd).StoreUnsafe(ref vStart, (nuint)((4 * i + 2) * xiStride + at));
                (odd - nextOdd).StoreUnsafe(ref vStart, (nuint)((4 * i + 3) * xiStride + at));
            }
        }
    }

    /// <summary>The 32 floats from <paramref name="values"/> on -> their 16 even-indexed and 16 odd-indexed ones.</summary>
    private static (Vector512<float> Even, Vector512<float> Odd) Split(ref float values)
    {
        var low = Vector512.LoadUnsafe(ref values);
        var high = Vector512.LoadUnsafe(ref values, Lanes);
        return (Avx512F.PermuteVar16x32x2(low, Permutes.EvenColumns, high), Avx512F.PermuteVar16x32x2(low, Permutes.OddColumns, high));
    }

    /// <summary>
    /// y = A^T M A + bias for output channel co of one image: M_xi's tiles of tile row ty are at
    /// m[xi * xiStride + at + ty * tw ..]; each tile row gives output rows 2ty and 2ty + 1.
    /// </summary>
    private static void TransformOutput(ConvShape s, float[] m, int at, int xiStride, int th, int tw, float bias, Span<float> output)
    {
        if (15 * xiStride + at + (th - 1) * tw + Lanes > m.Length) throw new ArgumentException("M is too short for the tiles.");
        ref float mStart = ref m[0];
        Span<float> line = stackalloc float[2 * Lanes];
        var b = Vector512.Create(bias);
        for (int ty = 0; ty < th; ty++)
        {
            // A^T over the tile's rows i, for each column j: top_j = m_0j + m_1j + m_2j, bottom_j = m_1j - m_2j - m_3j.
            ref float tile = ref Unsafe.Add(ref mStart, at + ty * tw);
            var (top0, bottom0) = ColumnSums(ref tile, xiStride, 0);
            var (top1, bottom1) = ColumnSums(ref tile, xiStride, 1);
            var (top2, bottom2) = ColumnSums(ref tile, xiStride, 2);
            var (top3, bottom3) = ColumnSums(ref tile, xiStride, 3);
            // A over the columns: the two outputs of each tile, side by side.
            Store(s, 2 * ty, top0 + top1 + top2 + b, top1 - top2 - top3 + b, output, line);
            if (2 * ty + 1 < s.Ho) Store(s, 2 * ty + 1, bottom0 + bottom1 + bottom2 + b, bottom1 - bottom2 - bottom3 + b, output, line);
        }
    }

    /// <summary>(m_0j + m_1j + m_2j, m_1j - m_2j - m_3j) for column j of the 4x4 products, 16 tiles at a time.</summary>
    private static (Vector512<float> Top, Vector512<float> Bottom) ColumnSums(ref float tile, int xiStride, int j)
    {
        var m0 = Vector512.LoadUnsafe(ref tile, (nuint)(j * xiStride));
        var m1 = Vector512.LoadUnsafe(ref tile, (nuint)((4 + j) * xiStride));
        var m2 = Vector512.LoadUnsafe(ref tile, (nuint)((8 + j) * xiStride));
        var m3 = Vector512.LoadUnsafe(ref tile, (nuint)((12 + j) * xiStride));
        return (m0 + m1 + m2, m1 - m2 - m3);
    }

    /// <summary>
    /// Output row oy from the tiles' left and right outputs, interleaved. Whole vectors when they fit in
    /// the plane: lanes past the row's end land on the next rows, which are written after this one.
    /// Otherwise through a scratch line.
    /// </summary>
    private static void Store(ConvShape s, int oy, Vector512<float> left, Vector512<float> right, Span<float> output, Span<float> line)
    {
        var low = Avx512F.PermuteVar16x32x2(left, Permutes.InterleaveLow, right);
        var high = Avx512F.PermuteVar16x32x2(left, Permutes.InterleaveHigh, right);
        int start = oy * s.Wo, extent = s.Wo <= Lanes ? Lanes : 2 * Lanes;
        var row = start + extent <= output.Length ? output.Slice(start, extent) : line;
        low.CopyTo(row);
        if (extent > Lanes) high.CopyTo(row[Lanes..]);
        if (row == line) line[..s.Wo].CopyTo(output.Slice(start, s.Wo));
    }
}
