using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace FerEngine.Backends.Cpu.Fast;

/// <summary>
/// 3x3 stride-1 convolutions by Winograd's minimal filtering F(4x4, 3x3) (Lavin and Gray, 2015): each
/// 4x4 block of outputs comes from a 6x6 tile of input (tiles 4 apart, overlapping by 2) with 36
/// multiplies per channel pair instead of the direct 144:
///   y_tile = A^T [ sum over ci of (G g G^T) .* (B^T d B) ] A
/// where g is the 3x3 kernel of (co, ci), d the 6x6 input tile of channel ci, .* elementwise, and
///   B^T = [4  0 -5  0 1 0]     G = [ 1/4     0    0 ]     A^T = [1 1  1 1  1 0]
///         [0 -4 -4  1 1 0]         [-1/6 -1/6 -1/6 ]           [0 1 -1 2 -2 0]
///         [0  4 -4 -1 1 0]         [-1/6  1/6 -1/6 ]           [0 1  1 4  4 0]
///         [0 -2 -1  2 1 0]         [1/24 1/12  1/6 ]           [0 1 -1 8 -8 1]
///         [0  2 -1 -2 1 0]         [1/24 -1/12 1/6 ]
///         [0  4  0 -5 0 1]         [   0    0    1 ]
/// (built on the points 0, 1, -1, 2, -2 and infinity). For each of the 36 points xi of a transformed
/// tile, the sum over input channels is a matrix product:
///   M_xi [Cout, tiles] = U_xi [Cout, Cin] x V_xi [Cin, tiles],   U = G g G^T,  V = B^T d B,
/// so a convolution is: transform the weights (once per call), transform every input tile, run 36
/// GEMMs on <see cref="Sgemm"/>, and transform the products back into 4x4 outputs
/// (<see cref="WinogradConvolution"/> runs these steps; this class holds F(4x4, 3x3)'s transforms).
/// Per output that is 36/16 = 2.25 multiply-adds per channel pair (direct: 9; the smaller F(2x2, 3x3), 4x4 tiles for
/// 2x2 outputs, which this engine ran before: 4) and 2.25 transformed values per output and channel
/// to write and read back (F(2x2, 3x3): 4). The transforms are additions and multiplies by small constants.
///
/// The price is rounding: the transforms scale by up to 5 (B), 8 (A) and 1/24 (G), and add values of
/// both signs, so float32 results carry several times the rounding error of F(2x2, 3x3): measured on
/// the paper's layers, about 2e-6 to 3e-6 relative (norm-wise) against 3e-7 to 5e-7, far inside the
/// fast path's 1e-4. The weights are transformed in float64 and rounded once.
///
/// The input transform works on a tile row at a time with one vector lane per tile: the row transform
/// (B^T over the tile's 6 rows) is elementwise on whole padded rows, and the column transform picks
/// every fourth column of a row with AVX-512 permutes (tiles start 4 columns apart). Eight tiles per
/// row fit in one 256-bit vector: output width up to 32 (<see cref="WinogradConvolution.Supports{T}"/>);
/// the output transform is the same in reverse. The filter gradient uses the same tiles:
/// dg = G^T [ sum over tiles of (A dy A^T) .* (B^T d B) ] G (<see cref="WinogradConvolution.BackwardFilter{T}"/>).
/// </summary>
internal sealed class FastWinograd4x4 : IWinogradTiling
{
    private FastWinograd4x4() { }

    private const int Lanes = 8;         // tiles per vector (Vector256)
    private const int RowStride = 48;    // floats per padded row: the 36 columns the permutes read (4 x 8 tiles + 4), rounded up to whole 512-bit vectors
    private const int Points = 36;       // values per transformed tile, and GEMMs per group

    static int IWinogradTiling.KernelSize => 3;
    static int IWinogradTiling.Lanes => Lanes;
    static int IWinogradTiling.RowStride => RowStride;

    /// <summary>
    /// E = A dy_tile A^T [6, 6] of one tile, 16 output channels per vector: dy_tile [4, 4] row-major
    /// in, point xi out to e[xi pointStride ..] (<see cref="WinogradConvolution"/> walks the tiles).
    /// </summary>
    [SkipLocalsInit]   // t is written before it is read: no zeroing per tile
    public static void TransformGradientTile(ReadOnlySpan<Vector512<float>> d, ref float e, int pointStride)
    {
        Span<Vector512<float>> t = stackalloc Vector512<float>[24];   // A dy_tile [6, 4]
        for (int j = 0; j < 4; j++)   // A over each column of dy_tile
            (t[j], t[4 + j], t[8 + j], t[12 + j], t[16 + j], t[20 + j]) = GradientCombinations(d[j], d[4 + j], d[8 + j], d[12 + j]);
        for (int a = 0; a < 6; a++)   // (A dy_tile) A^T: A over each row, points 6a .. 6a + 5
        {
            var (e0, e1, e2, e3, e4, e5) = GradientCombinations(t[4 * a], t[4 * a + 1], t[4 * a + 2], t[4 * a + 3]);
            ref float row = ref Unsafe.Add(ref e, 6 * a * pointStride);
            e0.StoreUnsafe(ref row);
            e1.StoreUnsafe(ref row, (nuint)pointStride);
            e2.StoreUnsafe(ref row, (nuint)(2 * pointStride));
            e3.StoreUnsafe(ref row, (nuint)(3 * pointStride));
            e4.StoreUnsafe(ref row, (nuint)(4 * pointStride));
            e5.StoreUnsafe(ref row, (nuint)(5 * pointStride));
        }
    }

    /// <summary>
    /// A [d0 .. d3], lane by lane (A is the transpose of A^T, rows for the points 0, 1, -1, 2, -2, infinity):
    ///   d0,  (d0 + d2) + (d1 + d3),  (d0 + d2) - (d1 + d3),  (d0 + 4 d2) + 2 (d1 + 4 d3),  (d0 + 4 d2) - 2 (d1 + 4 d3),  d3.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (Vector512<float>, Vector512<float>, Vector512<float>, Vector512<float>, Vector512<float>, Vector512<float>) GradientCombinations(
        Vector512<float> d0, Vector512<float> d1, Vector512<float> d2, Vector512<float> d3)
    {
        Vector512<float> four = Vector512.Create(4f), two = Vector512.Create(2f);
        Vector512<float> even = d0 + d2, odd = d1 + d3, evenFour = d0 + four * d2, oddFour = two * (d1 + four * d3);
        return (d0, even + odd, even - odd, evenFour + oddFour, evenFour - oddFour, d3);
    }

    /// <summary>
    /// dw^T [(ci 9 + 3 ky + kx), co] = (G^T P G)[ky, kx] for input channel ci and each co, 16 output channels per
    /// vector: P's 36 values of (ci, co) are products[(ci 36 + xi) width + co].
    /// </summary>
    public static void TransformProducts(ConvShape s, float[] products, int width, int ci, float[] partial)
    {
        Span<Vector512<float>> r = stackalloc Vector512<float>[18];   // G^T P: [3, 6]
        Span<float> last = stackalloc float[16];
        ref float pStart = ref products[0];
        for (int c0 = 0; c0 < width; c0 += 16)
        {
            ref float p = ref Unsafe.Add(ref pStart, ci * Points * width + c0);
            for (int b = 0; b < 6; b++)   // G^T over each column of P
                (r[b], r[6 + b], r[12 + b]) = KernelGradientCombinations(
                    Vector512.LoadUnsafe(ref p, (nuint)(b * width)), Vector512.LoadUnsafe(ref p, (nuint)((6 + b) * width)),
                    Vector512.LoadUnsafe(ref p, (nuint)((12 + b) * width)), Vector512.LoadUnsafe(ref p, (nuint)((18 + b) * width)),
                    Vector512.LoadUnsafe(ref p, (nuint)((24 + b) * width)), Vector512.LoadUnsafe(ref p, (nuint)((30 + b) * width)));
            for (int ky = 0; ky < 3; ky++)   // (G^T P) G: G^T over each row
            {
                var (g0, g1, g2) = KernelGradientCombinations(r[6 * ky], r[6 * ky + 1], r[6 * ky + 2], r[6 * ky + 3], r[6 * ky + 4], r[6 * ky + 5]);
                Store(g0, partial, (ci * 9 + 3 * ky) * s.Cout + c0, s.Cout - c0, last);
                Store(g1, partial, (ci * 9 + 3 * ky + 1) * s.Cout + c0, s.Cout - c0, last);
                Store(g2, partial, (ci * 9 + 3 * ky + 2) * s.Cout + c0, s.Cout - c0, last);
            }
        }

        static void Store(Vector512<float> value, float[] destination, int start, int lanes, Span<float> last)
        {
            if (lanes >= 16) { value.CopyTo(destination.AsSpan(start)); return; }
            value.CopyTo(last);   // the output channels past Cout are not stored
            last[..lanes].CopyTo(destination.AsSpan(start));
        }
    }

    /// <summary>
    /// G^T [p0 .. p5], lane by lane (the rows of G^T: (1/4, -1/6, -1/6, 1/24, 1/24, 0),
    /// (0, -1/6, 1/6, 1/12, -1/12, 0), (0, -1/6, -1/6, 1/6, 1/6, 1)):
    ///   p0 / 4 - (p1 + p2) / 6 + (p3 + p4) / 24,  -(p1 - p2) / 6 + (p3 - p4) / 12,  ((p3 + p4) - (p1 + p2)) / 6 + p5.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (Vector512<float>, Vector512<float>, Vector512<float>) KernelGradientCombinations(
        Vector512<float> p0, Vector512<float> p1, Vector512<float> p2, Vector512<float> p3, Vector512<float> p4, Vector512<float> p5)
    {
        const float Quarter = 1f / 4, Sixth = 1f / 6, Twelfth = 1f / 12, TwentyFourth = 1f / 24;   // multiplies: a division is slow
        Vector512<float> sum12 = p1 + p2, difference12 = p1 - p2, sum34 = p3 + p4, difference34 = p3 - p4;
        return (Quarter * p0 - Sixth * sum12 + TwentyFourth * sum34,
                Twelfth * difference34 - Sixth * difference12,
                Sixth * (sum34 - sum12) + p5);
    }

    /// <summary>
    /// U_xi = (G g G^T)[xi] for every (co, ci): 36 matrices [Cout, Cin], written straight into the
    /// packed form the GEMM reads (<see cref="Sgemm.PackedMatrix"/>: row panels of MR = 8 output
    /// channels, each input channel's 8 values side by side). Eight kernels at a time, one per vector
    /// lane: the 8 output channels of a panel, so each result vector is one packed column. Computed in
    /// float64 and rounded once, as G's sixths and twenty-fourths are not exact in float32.
    /// </summary>
    public static Sgemm.PackedMatrix[] TransformWeights(ConvShape s, ReadOnlyMemory<float> w)
    {
        const int Kernels = 8;   // doubles per Vector512, and rows per packed panel (Sgemm.MR)
        if (Sgemm.MR != Kernels) throw new InvalidOperationException("A packed column must be one vector of kernels.");
        var packed = new Sgemm.PackedMatrix[Points];
        for (int xi = 0; xi < Points; xi++) packed[xi] = new Sgemm.PackedMatrix(s.Cout, s.Cin);
        float[][] destinations = packed.Select(matrix => matrix.Panels).ToArray();   // the same layout: one offset for all
        int panels = (s.Cout + Kernels - 1) / Kernels;
        Parallel1D.For(panels, (firstPanel, count) =>
        {
            Span<Vector512<double>> g = stackalloc Vector512<double>[9];    // the kernels' 9 taps (row-major), lane k: output channel co0 + k
            Span<Vector512<double>> gg = stackalloc Vector512<double>[18];  // G g: [6, 3]
            using var kernels = WinogradConvolution.KernelPanels(s, w, firstPanel * Kernels, count * Kernels);
            for (int panel = firstPanel; panel < firstPanel + count; panel++)
            {
                int co0 = panel * Kernels;
                for (int ci = 0; ci < s.Cin; ci++)
                {
                    int at = packed[0].PanelColumnOffset(co0, ci);
                    for (int t = 0; t < 9; t++)
                        g[t] = Avx512F.ConvertToVector512Double(Vector256.Create<float>(kernels.PanelColumn(co0 - firstPanel * Kernels, ci * 9 + t)));
                    for (int c = 0; c < 3; c++)   // G over each column of g
                        (gg[c], gg[3 + c], gg[6 + c], gg[9 + c], gg[12 + c], gg[15 + c]) = KernelTransform(g[c], g[3 + c], g[6 + c]);
                    for (int r = 0; r < 6; r++)   // (G g) G^T: G over each row of G g
                    {
                        var (u0, u1, u2, u3, u4, u5) = KernelTransform(gg[3 * r], gg[3 * r + 1], gg[3 * r + 2]);
                        Avx512F.ConvertToVector256Single(u0).CopyTo(destinations[6 * r + 0].AsSpan(at, Kernels));
                        Avx512F.ConvertToVector256Single(u1).CopyTo(destinations[6 * r + 1].AsSpan(at, Kernels));
                        Avx512F.ConvertToVector256Single(u2).CopyTo(destinations[6 * r + 2].AsSpan(at, Kernels));
                        Avx512F.ConvertToVector256Single(u3).CopyTo(destinations[6 * r + 3].AsSpan(at, Kernels));
                        Avx512F.ConvertToVector256Single(u4).CopyTo(destinations[6 * r + 4].AsSpan(at, Kernels));
                        Avx512F.ConvertToVector256Single(u5).CopyTo(destinations[6 * r + 5].AsSpan(at, Kernels));
                    }
                }
            }
        }, itemSize: Kernels * s.Cin * Points);
        return packed;
    }

    /// <summary>G [g0; g1; g2], lane by lane: g0 / 4, -(g0 + g1 + g2) / 6, -(g0 - g1 + g2) / 6, g0 / 24 + g1 / 12 + g2 / 6, g0 / 24 - g1 / 12 + g2 / 6, g2.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (Vector512<double>, Vector512<double>, Vector512<double>, Vector512<double>, Vector512<double>, Vector512<double>) KernelTransform(
        Vector512<double> g0, Vector512<double> g1, Vector512<double> g2)
    {
        const double Quarter = 1.0 / 4, Sixth = 1.0 / 6, Twelfth = 1.0 / 12, TwentyFourth = 1.0 / 24;   // multiplies: a division is slow
        return (Quarter * g0,
                -Sixth * (g0 + g1 + g2),
                -Sixth * (g0 - g1 + g2),
                TwentyFourth * g0 + Twelfth * g1 + Sixth * g2,
                TwentyFourth * g0 - Twelfth * g1 + Sixth * g2,
                g2);
    }

    /// <summary>
    /// V = B^T d B for every tile of one channel plane [H, W]: V_xi's tiles of tile row ty go to
    /// v[xi * xiStride + ty * tw ..] (8 lanes written; those past the row's tiles are overwritten next,
    /// or land in the columns past the group's tiles).
    /// </summary>
    public static void TransformInput(ConvShape s, ReadOnlySpan<float> plane, float[] padded, int th, int tw, Span<float> v, int xiStride)
    {
        if ((Points - 1) * xiStride + (th - 1) * tw + Lanes > v.Length) throw new ArgumentException("V is too short for the tiles.");
        for (int iy = 0; iy < s.H; iy++)   // padded row iy + p holds input row iy from column p on
            plane.Slice(iy * s.W, s.W).CopyTo(padded.AsSpan((iy + s.Padding) * RowStride + s.Padding, s.W));
        Span<float> t = stackalloc float[6 * RowStride];
        ref float tStart = ref MemoryMarshal.GetReference(t);
        ref float vStart = ref MemoryMarshal.GetReference(v);
        for (int ty = 0; ty < th; ty++)
        {
            // B^T over the tile's 6 rows, elementwise on whole padded rows.
            ref float rows = ref padded[4 * ty * RowStride];   // rows 4ty .. 4ty + 5 lie inside padded (4 th + 2 rows)
            for (int c = 0; c < RowStride; c += 16)
            {
                var (t0, t1, t2, t3, t4, t5) = InputCombinations(
                    Vector512.LoadUnsafe(ref rows, (nuint)c),
                    Vector512.LoadUnsafe(ref rows, (nuint)(RowStride + c)),
                    Vector512.LoadUnsafe(ref rows, (nuint)(2 * RowStride + c)),
                    Vector512.LoadUnsafe(ref rows, (nuint)(3 * RowStride + c)),
                    Vector512.LoadUnsafe(ref rows, (nuint)(4 * RowStride + c)),
                    Vector512.LoadUnsafe(ref rows, (nuint)(5 * RowStride + c)));
                t0.StoreUnsafe(ref tStart, (nuint)c);
                t1.StoreUnsafe(ref tStart, (nuint)(RowStride + c));
                t2.StoreUnsafe(ref tStart, (nuint)(2 * RowStride + c));
                t3.StoreUnsafe(ref tStart, (nuint)(3 * RowStride + c));
                t4.StoreUnsafe(ref tStart, (nuint)(4 * RowStride + c));
                t5.StoreUnsafe(ref tStart, (nuint)(5 * RowStride + c));
            }
            // B over each row's tiles: tile tx reads columns 4tx .. 4tx + 5, picked with permutes as
            // six vectors of 8 tiles: column 4tx + k for k = 0 .. 3 from the 32 floats at the row's
            // start, and k = 4, 5 (the next tile's 0 and 1) from the 32 floats 4 columns on. Lanes 8-15
            // are not tiles: they are computed alongside (as cheap as 8 lanes) and never stored.
            int at = ty * tw;
            for (int i = 0; i < 6; i++)
            {
                ref float row = ref Unsafe.Add(ref tStart, i * RowStride);
                var (low, high, third) = (Vector512.LoadUnsafe(ref row), Vector512.LoadUnsafe(ref row, 16), Vector512.LoadUnsafe(ref row, 32));
                // Columns 4 .. 35 by shifting in registers (valignd): loading them from row + 4 would
                // straddle the whole-vector stores just made, which the CPU cannot forward to a load.
                var nextLow = Permutes.ShiftByFour(low, high);
                var nextHigh = Permutes.ShiftByFour(high, third);
                var (v0, v1, v2, v3, v4, v5) = InputCombinations(
                    Avx512F.PermuteVar16x32x2(low, Permutes.EveryFourthColumn0, high),
                    Avx512F.PermuteVar16x32x2(low, Permutes.EveryFourthColumn1, high),
                    Avx512F.PermuteVar16x32x2(low, Permutes.EveryFourthColumn2, high),
                    Avx512F.PermuteVar16x32x2(low, Permutes.EveryFourthColumn3, high),
                    Avx512F.PermuteVar16x32x2(nextLow, Permutes.EveryFourthColumn0, nextHigh),
                    Avx512F.PermuteVar16x32x2(nextLow, Permutes.EveryFourthColumn1, nextHigh));
                v0.GetLower().StoreUnsafe(ref vStart, (nuint)((6 * i + 0) * xiStride + at));
                v1.GetLower().StoreUnsafe(ref vStart, (nuint)((6 * i + 1) * xiStride + at));
                v2.GetLower().StoreUnsafe(ref vStart, (nuint)((6 * i + 2) * xiStride + at));
                v3.GetLower().StoreUnsafe(ref vStart, (nuint)((6 * i + 3) * xiStride + at));
                v4.GetLower().StoreUnsafe(ref vStart, (nuint)((6 * i + 4) * xiStride + at));
                v5.GetLower().StoreUnsafe(ref vStart, (nuint)((6 * i + 5) * xiStride + at));
            }
        }
    }

    /// <summary>
    /// B^T [d0 .. d5], lane by lane (the rows of B^T, with their shared sums):
    ///   4 d0 - 5 d2 + d4,  -4 (d1 + d2) + (d3 + d4),  4 (d1 - d2) + (d4 - d3),
    ///   -2 (d1 - d3) + (d4 - d2),  2 (d1 - d3) + (d4 - d2),  4 d1 - 5 d3 + d5.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (Vector512<float>, Vector512<float>, Vector512<float>, Vector512<float>, Vector512<float>, Vector512<float>) InputCombinations(
        Vector512<float> d0, Vector512<float> d1, Vector512<float> d2, Vector512<float> d3, Vector512<float> d4, Vector512<float> d5)
    {
        Vector512<float> four = Vector512.Create(4f), five = Vector512.Create(5f), two = Vector512.Create(2f);
        Vector512<float> sum12 = d1 + d2, sum34 = d3 + d4, difference12 = d1 - d2, difference43 = d4 - d3;
        Vector512<float> difference13 = d1 - d3, difference42 = d4 - d2;
        return (four * d0 - five * d2 + d4,
                sum34 - four * sum12,
                four * difference12 + difference43,
                difference42 - two * difference13,
                difference42 + two * difference13,
                four * d1 - five * d3 + d5);
    }

    /// <summary>
    /// y = A^T M A + bias for output channel co of one image: M_xi's tiles of tile row ty are at
    /// m[xi * xiStride + at + ty * tw ..]; each tile row gives output rows 4ty .. 4ty + 3.
    /// </summary>
    public static void TransformOutput(ConvShape s, float[] m, int at, int xiStride, int th, int tw, float bias, Span<float> output)
    {
        if ((Points - 1) * xiStride + at + (th - 1) * tw + Lanes > m.Length) throw new ArgumentException("M is too short for the tiles.");
        ref float mStart = ref m[0];
        Span<float> line = stackalloc float[4 * Lanes];
        // A^T over the tile's rows, [4 rows r, 6 columns j]: through memory, as 24 vectors do not all fit in registers.
        Span<Vector256<float>> sums = stackalloc Vector256<float>[24];
        var b = Vector256.Create(bias);
        for (int ty = 0; ty < th; ty++)
        {
            // s_rj = (A^T)_r . (m_0j .. m_5j): A^T over the rows, column by column.
            ref float tile = ref Unsafe.Add(ref mStart, at + ty * tw);
            for (int j = 0; j < 6; j++)
                (sums[j], sums[6 + j], sums[12 + j], sums[18 + j]) = ColumnSums(ref tile, xiStride, j);
            // A over the columns: output row 4ty + r is A^T (s_r0 .. s_r5), its 4 values per tile side by side.
            for (int r = 0; r < 4 && 4 * ty + r < s.Ho; r++)
                Store(s, 4 * ty + r, OutputCombinations(sums[6 * r], sums[6 * r + 1], sums[6 * r + 2], sums[6 * r + 3], sums[6 * r + 4], sums[6 * r + 5]),
                    b, output, line);
        }
    }

    /// <summary>A^T (m_0j .. m_5j) for column j of the 6x6 products, 8 tiles at a time.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (Vector256<float>, Vector256<float>, Vector256<float>, Vector256<float>) ColumnSums(ref float tile, int xiStride, int j) =>
        OutputCombinations(
            Vector256.LoadUnsafe(ref tile, (nuint)(j * xiStride)),
            Vector256.LoadUnsafe(ref tile, (nuint)((6 + j) * xiStride)),
            Vector256.LoadUnsafe(ref tile, (nuint)((12 + j) * xiStride)),
            Vector256.LoadUnsafe(ref tile, (nuint)((18 + j) * xiStride)),
            Vector256.LoadUnsafe(ref tile, (nuint)((24 + j) * xiStride)),
            Vector256.LoadUnsafe(ref tile, (nuint)((30 + j) * xiStride)));

    /// <summary>
    /// A^T [m0 .. m5], lane by lane: m0 + (m1 + m2) + (m3 + m4),  (m1 - m2) + 2 (m3 - m4),
    /// (m1 + m2) + 4 (m3 + m4),  (m1 - m2) + 8 (m3 - m4) + m5.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (Vector256<float>, Vector256<float>, Vector256<float>, Vector256<float>) OutputCombinations(
        Vector256<float> m0, Vector256<float> m1, Vector256<float> m2, Vector256<float> m3, Vector256<float> m4, Vector256<float> m5)
    {
        Vector256<float> sum12 = m1 + m2, difference12 = m1 - m2, sum34 = m3 + m4, difference34 = m3 - m4;
        return (m0 + sum12 + sum34,
                difference12 + Vector256.Create(2f) * difference34,
                sum12 + Vector256.Create(4f) * sum34,
                difference12 + Vector256.Create(8f) * difference34 + m5);
    }

    /// <summary>
    /// Output row oy from the tiles' 4 outputs each (+ bias), interleaved: 4 tx + c comes from lane tx
    /// of vector c. Whole vectors when they fit in the plane: lanes past the row's end land on the next
    /// rows, which are written after this one. Otherwise through a scratch line.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store(ConvShape s, int oy, (Vector256<float> C0, Vector256<float> C1, Vector256<float> C2, Vector256<float> C3) outputs,
        Vector256<float> bias, Span<float> output, Span<float> line)
    {
        var first = Vector512.Create(outputs.C0 + bias, outputs.C1 + bias);    // lanes 0-7: c = 0, 8-15: c = 1
        var second = Vector512.Create(outputs.C2 + bias, outputs.C3 + bias);   // c = 2 and 3
        var low = Avx512F.PermuteVar16x32x2(first, Permutes.InterleaveFourLow, second);     // tiles 0 .. 3
        var high = Avx512F.PermuteVar16x32x2(first, Permutes.InterleaveFourHigh, second);   // tiles 4 .. 7
        int start = oy * s.Wo, extent = s.Wo <= 16 ? 16 : 32;
        var row = start + extent <= output.Length ? output.Slice(start, extent) : line;
        low.CopyTo(row);
        if (extent > 16) high.CopyTo(row[16..]);
        if (row == line) line[..s.Wo].CopyTo(output.Slice(start, s.Wo));
    }
}
