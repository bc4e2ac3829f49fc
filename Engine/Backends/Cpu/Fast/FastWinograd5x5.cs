using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace FerEngine.Backends.Cpu.Fast;

/// <summary>
/// 5x5 stride-1 convolutions by Winograd's F(4x4, 5x5): each 4x4 block of outputs comes from an 8x8
/// tile of input (tiles 4 apart, overlapping by 4) with 64 multiplies per channel pair instead of the
/// direct 400, 6.25x fewer:
///   y_tile = A^T [ sum over ci of (G g G^T) .* (B^T d B) ] A
/// built, as <see cref="FastWinograd4x4"/> is, by Toom-Cook on the points 0, 1, -1, 1/2, -1/2, 2, -2
/// and infinity (the points of the well-known F(6x6, 3x3), whose B^T this shares):
///   B^T = [1    0 -21/4     0  21/4     0 -1 0]   G = [  1      0     0     0     0 ]   A^T = [1 1  1   1    1   1  1 0]
///         [0    1     1 -17/4 -17/4     1  1 0]       [-2/9   -2/9  -2/9  -2/9  -2/9 ]         [0 1 -1 1/2 -1/2  2 -2 0]
///         [0   -1     1  17/4 -17/4    -1  1 0]       [-2/9    2/9  -2/9   2/9  -2/9 ]         [0 1  1 1/4  1/4  4  4 0]
///         [0    2     4  -5/2    -5   1/2  1 0]       [32/45 16/45  8/45  4/45  2/45 ]         [0 1 -1 1/8 -1/8  8 -8 1]
///         [0   -2     4   5/2    -5  -1/2  1 0]       [32/45 -16/45 8/45 -4/45  2/45 ]
///         [0  1/2   1/4  -5/2  -5/4     2  1 0]       [1/90   1/45  2/45  4/45  8/45 ]
///         [0 -1/2   1/4   5/2  -5/4    -2  1 0]       [1/90  -1/45  2/45 -4/45  8/45 ]
///         [0   -1     0  21/4     0 -21/4  0 1]       [  0      0     0     0     1  ]
/// For each of the 64 points xi of a transformed tile the sum over input channels is a GEMM,
///   M_xi [Cout, tiles] = U_xi [Cout, Cin] x V_xi [Cin, tiles],   U = G g G^T,  V = B^T d B,
/// run by <see cref="WinogradConvolution"/> as F(4x4, 3x3)'s are: 4 multiply-adds per output and
/// channel pair (direct: 25) and 4 transformed values per output and channel.
///
/// Rounding: eight points spread the transforms' scales further (B^T up to 21/4, A^T up to 8, G down
/// to 1/90): measured against float64 on conv2's shape (64 channels, 48 x 48, normal data), 3.1e-6
/// relative (norm-wise) forward and 4.4e-6 for the filter gradient, about 1.5x F(4x4, 3x3)'s and far
/// inside the fast path's 1e-4 (direct float32: about 2e-7). The weights are transformed in float64.
///
/// The input transform works on a tile row at a time with one 512-bit vector lane per tile (16 tiles:
/// output width up to 64, <see cref="WinogradConvolution.Supports{T}"/>): B^T over the tile's 8 rows is elementwise on whole
/// padded rows, then B over each tile's 8 columns picks every fourth column with permutes. The filter
/// gradient is dg = G^T [ sum over tiles of (A dy A^T) .* (B^T d B) ] G (<see cref="WinogradConvolution.BackwardFilter{T}"/>).
/// </summary>
internal sealed class FastWinograd5x5 : IWinogradTiling
{
    private FastWinograd5x5() { }

    private const int Lanes = 16;        // tiles per vector (Vector512)
    private const int RowStride = 80;    // floats per padded row: the 68 columns 16 tiles read (4 x 16 + 4), rounded up to whole vectors
    private const int Tile = 8;          // input tile side
    private const int Points = Tile * Tile;   // values per transformed tile, and GEMMs per group
    private const int Taps = 25;         // a 5x5 kernel's weights

    static int IWinogradTiling.KernelSize => 5;
    static int IWinogradTiling.Lanes => Lanes;
    static int IWinogradTiling.RowStride => RowStride;

    /// <summary>G, [8, 5]: U = G g G^T (row 0 negated against Toom-Cook's, as is B^T's row 0; computed by <see cref="KernelCombinations"/> and <see cref="KernelGradientCombinations"/>; here for the tests).</summary>
    internal static readonly double[,] KernelMatrix =
    {
        { 1, 0, 0, 0, 0 },
        { -2 / 9.0, -2 / 9.0, -2 / 9.0, -2 / 9.0, -2 / 9.0 },
        { -2 / 9.0, 2 / 9.0, -2 / 9.0, 2 / 9.0, -2 / 9.0 },
        { 32 / 45.0, 16 / 45.0, 8 / 45.0, 4 / 45.0, 2 / 45.0 },
        { 32 / 45.0, -16 / 45.0, 8 / 45.0, -4 / 45.0, 2 / 45.0 },
        { 1 / 90.0, 2 / 90.0, 4 / 90.0, 8 / 90.0, 16 / 90.0 },
        { 1 / 90.0, -2 / 90.0, 4 / 90.0, -8 / 90.0, 16 / 90.0 },
        { 0, 0, 0, 0, 1 },
    };

    /// <summary>B^T, [8, 8]: V = B^T d B (computed by <see cref="InputCombinations"/>; here for the tests).</summary>
    internal static readonly double[,] InputMatrix =
    {
        { 1, 0, -21 / 4.0, 0, 21 / 4.0, 0, -1, 0 },
        { 0, 1, 1, -17 / 4.0, -17 / 4.0, 1, 1, 0 },
        { 0, -1, 1, 17 / 4.0, -17 / 4.0, -1, 1, 0 },
        { 0, 2, 4, -5 / 2.0, -5, 1 / 2.0, 1, 0 },
        { 0, -2, 4, 5 / 2.0, -5, -1 / 2.0, 1, 0 },
        { 0, 1 / 2.0, 1 / 4.0, -5 / 2.0, -5 / 4.0, 2, 1, 0 },
        { 0, -1 / 2.0, 1 / 4.0, 5 / 2.0, -5 / 4.0, -2, 1, 0 },
        { 0, -1, 0, 21 / 4.0, 0, -21 / 4.0, 0, 1 },
    };

    /// <summary>A^T, [4, 8]: y = A^T M A (computed by <see cref="OutputCombinations"/> and <see cref="GradientCombinations"/>; here for the tests).</summary>
    internal static readonly double[,] OutputMatrix =
    {
        { 1, 1, 1, 1, 1, 1, 1, 0 },
        { 0, 1, -1, 1 / 2.0, -1 / 2.0, 2, -2, 0 },
        { 0, 1, 1, 1 / 4.0, 1 / 4.0, 4, 4, 0 },
        { 0, 1, -1, 1 / 8.0, -1 / 8.0, 8, -8, 1 },
    };

    /// <summary>
    /// U_xi = (G g G^T)[xi] for every (co, ci): 64 matrices [Cout, Cin], written straight into the
    /// packed form the GEMM reads (<see cref="Sgemm.PackedMatrix"/>), eight kernels at a time, one per
    /// vector lane (the 8 output channels of a packed panel). In float64, rounded once. G is applied
    /// through its even and odd taps (<see cref="KernelCombinations"/>), not as a matrix: this runs on
    /// every forward and data-gradient call, and loops over G's 40 entries made it a third of conv2's
    /// forward pass on one image.
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
            Span<Vector512<double>> g = stackalloc Vector512<double>[Taps];        // the kernels' taps (row-major), lane k: output channel co0 + k
            Span<Vector512<double>> gg = stackalloc Vector512<double>[Tile * 5];   // G g: [8, 5]
            using var kernels = WinogradConvolution.KernelPanels(s, w, firstPanel * Kernels, count * Kernels);
            for (int panel = firstPanel; panel < firstPanel + count; panel++)
            {
                int co0 = panel * Kernels;
                for (int ci = 0; ci < s.Cin; ci++)
                {
                    int at = packed[0].PanelColumnOffset(co0, ci);
                    for (int t = 0; t < Taps; t++)
                        g[t] = Avx512F.ConvertToVector512Double(Vector256.Create<float>(kernels.PanelColumn(co0 - firstPanel * Kernels, ci * Taps + t)));
                    for (int c = 0; c < 5; c++)   // G over each column of g
                        (gg[c], gg[5 + c], gg[10 + c], gg[15 + c], gg[20 + c], gg[25 + c], gg[30 + c], gg[35 + c]) =
                            KernelCombinations(g[c], g[5 + c], g[10 + c], g[15 + c], g[20 + c]);
                    for (int a = 0; a < Tile; a++)   // (G g) G^T: G over each row of G g
                    {
                        var (u0, u1, u2, u3, u4, u5, u6, u7) = KernelCombinations(gg[5 * a], gg[5 * a + 1], gg[5 * a + 2], gg[5 * a + 3], gg[5 * a + 4]);
                        Avx512F.ConvertToVector256Single(u0).CopyTo(destinations[Tile * a + 0].AsSpan(at, Kernels));
                        Avx512F.ConvertToVector256Single(u1).CopyTo(destinations[Tile * a + 1].AsSpan(at, Kernels));
                        Avx512F.ConvertToVector256Single(u2).CopyTo(destinations[Tile * a + 2].AsSpan(at, Kernels));
                        Avx512F.ConvertToVector256Single(u3).CopyTo(destinations[Tile * a + 3].AsSpan(at, Kernels));
                        Avx512F.ConvertToVector256Single(u4).CopyTo(destinations[Tile * a + 4].AsSpan(at, Kernels));
                        Avx512F.ConvertToVector256Single(u5).CopyTo(destinations[Tile * a + 5].AsSpan(at, Kernels));
                        Avx512F.ConvertToVector256Single(u6).CopyTo(destinations[Tile * a + 6].AsSpan(at, Kernels));
                        Avx512F.ConvertToVector256Single(u7).CopyTo(destinations[Tile * a + 7].AsSpan(at, Kernels));
                    }
                }
            }
        }, itemSize: Kernels * s.Cin * Points);
        return packed;
    }

    /// <summary>
    /// G [g0 .. g4], lane by lane (G's rows for the points 0, 1, -1, 1/2, -1/2, 2, -2, infinity):
    ///   g0,  -2/9 (e1 +- o1),  (e2 +- o2) / 45,  (e3 +- o3) / 90,  g4,
    /// with the even and odd taps e1 = g0 + g2 + g4, o1 = g1 + g3, e2 = 32 g0 + 8 g2 + 2 g4, o2 = 16 g1 + 4 g3,
    /// e3 = g0 + 4 g2 + 16 g4, o3 = 2 g1 + 8 g3.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (Vector512<double>, Vector512<double>, Vector512<double>, Vector512<double>, Vector512<double>, Vector512<double>, Vector512<double>, Vector512<double>)
        KernelCombinations(Vector512<double> g0, Vector512<double> g1, Vector512<double> g2, Vector512<double> g3, Vector512<double> g4)
    {
        const double TwoNinths = 2.0 / 9, FortyFifth = 1.0 / 45, Ninetieth = 1.0 / 90;   // multiplies: a division is slow
        Vector512<double> even1 = g0 + g2 + g4, odd1 = g1 + g3;
        Vector512<double> even2 = 32 * g0 + 8 * g2 + 2 * g4, odd2 = 16 * g1 + 4 * g3;
        Vector512<double> even3 = g0 + 4 * g2 + 16 * g4, odd3 = 2 * g1 + 8 * g3;
        return (g0, -TwoNinths * (even1 + odd1), -TwoNinths * (even1 - odd1), FortyFifth * (even2 + odd2), FortyFifth * (even2 - odd2),
                Ninetieth * (even3 + odd3), Ninetieth * (even3 - odd3), g4);
    }

    /// <summary>
    /// V = B^T d B for every tile of one channel plane [H, W]: V_xi's tiles of tile row ty go to
    /// v[xi * xiStride + ty * tw ..] (16 lanes written; those past the row's tiles are overwritten next,
    /// or land in the columns past the group's tiles).
    /// </summary>
    public static void TransformInput(ConvShape s, ReadOnlySpan<float> plane, float[] padded, int th, int tw, Span<float> v, int xiStride)
    {
        if ((Points - 1) * xiStride + (th - 1) * tw + Lanes > v.Length) throw new ArgumentException("V is too short for the tiles.");
        for (int iy = 0; iy < s.H; iy++)   // padded row iy + p holds input row iy from column p on
            plane.Slice(iy * s.W, s.W).CopyTo(padded.AsSpan((iy + s.Padding) * RowStride + s.Padding, s.W));
        Span<float> t = stackalloc float[Tile * RowStride];
        ref float tStart = ref MemoryMarshal.GetReference(t);
        ref float vStart = ref MemoryMarshal.GetReference(v);
        for (int ty = 0; ty < th; ty++)
        {
            // B^T over the tile's 8 rows, elementwise on whole padded rows.
            ref float rows = ref padded[4 * ty * RowStride];   // rows 4ty .. 4ty + 7 lie inside padded (4 th + 4 rows)
            for (int c = 0; c < RowStride; c += 16)
            {
                var (t0, t1, t2, t3, t4, t5, t6, t7) = InputCombinations(
                    Vector512.LoadUnsafe(ref rows, (nuint)c),
                    Vector512.LoadUnsafe(ref rows, (nuint)(RowStride + c)),
                    Vector512.LoadUnsafe(ref rows, (nuint)(2 * RowStride + c)),
                    Vector512.LoadUnsafe(ref rows, (nuint)(3 * RowStride + c)),
                    Vector512.LoadUnsafe(ref rows, (nuint)(4 * RowStride + c)),
                    Vector512.LoadUnsafe(ref rows, (nuint)(5 * RowStride + c)),
                    Vector512.LoadUnsafe(ref rows, (nuint)(6 * RowStride + c)),
                    Vector512.LoadUnsafe(ref rows, (nuint)(7 * RowStride + c)));
                t0.StoreUnsafe(ref tStart, (nuint)c);
                t1.StoreUnsafe(ref tStart, (nuint)(RowStride + c));
                t2.StoreUnsafe(ref tStart, (nuint)(2 * RowStride + c));
                t3.StoreUnsafe(ref tStart, (nuint)(3 * RowStride + c));
                t4.StoreUnsafe(ref tStart, (nuint)(4 * RowStride + c));
                t5.StoreUnsafe(ref tStart, (nuint)(5 * RowStride + c));
                t6.StoreUnsafe(ref tStart, (nuint)(6 * RowStride + c));
                t7.StoreUnsafe(ref tStart, (nuint)(7 * RowStride + c));
            }
            // B over each row's tiles: tile tx reads columns 4tx .. 4tx + 7. Column 4tx + k, k < 4, of
            // 16 tiles comes from the row's first 64 floats, tiles 0-7 from floats 0-31 and tiles 8-15
            // from floats 32-63 (a permute each, joined); k = 4 .. 7 the same from the floats 4 columns on.
            int at = ty * tw;
            for (int i = 0; i < Tile; i++)
            {
                ref float row = ref Unsafe.Add(ref tStart, i * RowStride);
                var f0 = Vector512.LoadUnsafe(ref row);
                var f1 = Vector512.LoadUnsafe(ref row, 16);
                var f2 = Vector512.LoadUnsafe(ref row, 32);
                var f3 = Vector512.LoadUnsafe(ref row, 48);
                var f4 = Vector512.LoadUnsafe(ref row, 64);
                // Columns 4 .. 67 by shifting in registers (valignd): loading them from row + 4 would
                // straddle the whole-vector stores just made, which the CPU cannot forward to a load.
                var (s0, s1, s2, s3) = (Permutes.ShiftByFour(f0, f1), Permutes.ShiftByFour(f1, f2), Permutes.ShiftByFour(f2, f3), Permutes.ShiftByFour(f3, f4));
                var (v0, v1, v2, v3, v4, v5, v6, v7) = InputCombinations(
                    EveryFourthColumn(f0, f1, f2, f3, Permutes.EveryFourthColumn0),
                    EveryFourthColumn(f0, f1, f2, f3, Permutes.EveryFourthColumn1),
                    EveryFourthColumn(f0, f1, f2, f3, Permutes.EveryFourthColumn2),
                    EveryFourthColumn(f0, f1, f2, f3, Permutes.EveryFourthColumn3),
                    EveryFourthColumn(s0, s1, s2, s3, Permutes.EveryFourthColumn0),
                    EveryFourthColumn(s0, s1, s2, s3, Permutes.EveryFourthColumn1),
                    EveryFourthColumn(s0, s1, s2, s3, Permutes.EveryFourthColumn2),
                    EveryFourthColumn(s0, s1, s2, s3, Permutes.EveryFourthColumn3));
                v0.StoreUnsafe(ref vStart, (nuint)((Tile * i + 0) * xiStride + at));
                v1.StoreUnsafe(ref vStart, (nuint)((Tile * i + 1) * xiStride + at));
                v2.StoreUnsafe(ref vStart, (nuint)((Tile * i + 2) * xiStride + at));
                v3.StoreUnsafe(ref vStart, (nuint)((Tile * i + 3) * xiStride + at));
                v4.StoreUnsafe(ref vStart, (nuint)((Tile * i + 4) * xiStride + at));
                v5.StoreUnsafe(ref vStart, (nuint)((Tile * i + 5) * xiStride + at));
                v6.StoreUnsafe(ref vStart, (nuint)((Tile * i + 6) * xiStride + at));
                v7.StoreUnsafe(ref vStart, (nuint)((Tile * i + 7) * xiStride + at));
            }
        }
    }

    /// <summary>
    /// Column 4t + k of the 64 floats (a, b, c, d) in lane t: lanes 0-7 from (a, b), lanes 8-15 from (c, d),
    /// each permute's result kept in its own half by a blend. (Joining the two halves with
    /// Vector512.Create(lower, upper) had the JIT insert them into a vector kept on the stack, a load and a
    /// store per call.)
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> EveryFourthColumn(Vector512<float> a, Vector512<float> b, Vector512<float> c, Vector512<float> d, Vector512<int> columnK) =>
        Vector512.ConditionalSelect(Permutes.UpperHalf, Avx512F.PermuteVar16x32x2(c, columnK, d), Avx512F.PermuteVar16x32x2(a, columnK, b));

    /// <summary>
    /// B^T [d0 .. d7], lane by lane, with the rows' shared sums: the rows for 1 and -1 are a sum and a
    /// difference of the same two parts, and so are those for 1/2 and -1/2, and for 2 and -2.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (Vector512<float>, Vector512<float>, Vector512<float>, Vector512<float>, Vector512<float>, Vector512<float>, Vector512<float>, Vector512<float>)
        InputCombinations(Vector512<float> d0, Vector512<float> d1, Vector512<float> d2, Vector512<float> d3,
            Vector512<float> d4, Vector512<float> d5, Vector512<float> d6, Vector512<float> d7)
    {
        var (quarter, half, two, four, five) = (Vector512.Create(0.25f), Vector512.Create(0.5f), Vector512.Create(2f), Vector512.Create(4f), Vector512.Create(5f));
        var (fiveQuarters, fiveHalves, seventeenQuarters, twentyOneQuarters) = (Vector512.Create(1.25f), Vector512.Create(2.5f), Vector512.Create(4.25f), Vector512.Create(5.25f));
        var evenOne = d2 + d6 - seventeenQuarters * d4;                       // point 1: evenOne + oddOne, point -1: evenOne - oddOne
        var oddOne = d1 + d5 - seventeenQuarters * d3;
        var evenHalf = four * d2 - five * d4 + d6;                                      // point 1/2: 4 d2 - 5 d4 + d6 and 2 d1 - 5/2 d3 + 1/2 d5
        var oddHalf = two * d1 - fiveHalves * d3 + half * d5;
        var evenTwo = quarter * d2 - fiveQuarters * d4 + d6;                  // point 2: 1/4 d2 - 5/4 d4 + d6 and 1/2 d1 - 5/2 d3 + 2 d5
        var oddTwo = half * d1 - fiveHalves * d3 + two * d5;
        return (d0 - d6 + twentyOneQuarters * (d4 - d2),
                evenOne + oddOne, evenOne - oddOne,
                evenHalf + oddHalf, evenHalf - oddHalf,
                evenTwo + oddTwo, evenTwo - oddTwo,
                d7 - d1 + twentyOneQuarters * (d3 - d5));
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
        // A^T over the tile's rows, [4 rows r, 8 columns j]: through memory, as 32 vectors do not all fit in registers.
        Span<Vector512<float>> sums = stackalloc Vector512<float>[4 * Tile];
        var b = Vector512.Create(bias);
        for (int ty = 0; ty < th; ty++)
        {
            ref float tile = ref Unsafe.Add(ref mStart, at + ty * tw);
            for (int j = 0; j < Tile; j++)   // s_rj = (A^T)_r . (m_0j .. m_7j)
                (sums[j], sums[Tile + j], sums[2 * Tile + j], sums[3 * Tile + j]) = OutputCombinations(
                    Vector512.LoadUnsafe(ref tile, (nuint)(j * xiStride)),
                    Vector512.LoadUnsafe(ref tile, (nuint)((Tile + j) * xiStride)),
                    Vector512.LoadUnsafe(ref tile, (nuint)((2 * Tile + j) * xiStride)),
                    Vector512.LoadUnsafe(ref tile, (nuint)((3 * Tile + j) * xiStride)),
                    Vector512.LoadUnsafe(ref tile, (nuint)((4 * Tile + j) * xiStride)),
                    Vector512.LoadUnsafe(ref tile, (nuint)((5 * Tile + j) * xiStride)),
                    Vector512.LoadUnsafe(ref tile, (nuint)((6 * Tile + j) * xiStride)),
                    Vector512.LoadUnsafe(ref tile, (nuint)((7 * Tile + j) * xiStride)));
            for (int r = 0; r < 4 && 4 * ty + r < s.Ho; r++)   // A over the columns: output row 4ty + r
            {
                var (c0, c1, c2, c3) = OutputCombinations(sums[Tile * r], sums[Tile * r + 1], sums[Tile * r + 2], sums[Tile * r + 3],
                    sums[Tile * r + 4], sums[Tile * r + 5], sums[Tile * r + 6], sums[Tile * r + 7]);
                Store(s, 4 * ty + r, c0 + b, c1 + b, c2 + b, c3 + b, output, line);
            }
        }
    }

    /// <summary>
    /// A^T [m0 .. m7], lane by lane: m0 + (m1 + m2) + (m3 + m4) + (m5 + m6),  (m1 - m2) + (m3 - m4) / 2 + 2 (m5 - m6),
    /// (m1 + m2) + (m3 + m4) / 4 + 4 (m5 + m6),  (m1 - m2) + (m3 - m4) / 8 + 8 (m5 - m6) + m7.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (Vector512<float>, Vector512<float>, Vector512<float>, Vector512<float>) OutputCombinations(
        Vector512<float> m0, Vector512<float> m1, Vector512<float> m2, Vector512<float> m3,
        Vector512<float> m4, Vector512<float> m5, Vector512<float> m6, Vector512<float> m7)
    {
        Vector512<float> sum12 = m1 + m2, difference12 = m1 - m2, sum34 = m3 + m4, difference34 = m3 - m4, sum56 = m5 + m6, difference56 = m5 - m6;
        return (m0 + sum12 + sum34 + sum56,
                difference12 + Vector512.Create(0.5f) * difference34 + Vector512.Create(2f) * difference56,
                sum12 + Vector512.Create(0.25f) * sum34 + Vector512.Create(4f) * sum56,
                difference12 + Vector512.Create(0.125f) * difference34 + Vector512.Create(8f) * difference56 + m7);
    }

    /// <summary>
    /// Output row oy from the tiles' 4 outputs each, interleaved: output column 4 tx + c is lane tx of
    /// vector c. Pairs of vectors interleave 32-bit lanes, then the pairs 64-bit lanes: 16 outputs (4
    /// tiles) per result. Whole vectors when they fit in the plane (lanes past the row's end land on
    /// the next rows, which are written after this one); otherwise through a scratch line.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store(ConvShape s, int oy, Vector512<float> c0, Vector512<float> c1, Vector512<float> c2, Vector512<float> c3,
        Span<float> output, Span<float> line)
    {
        var low01 = Avx512F.PermuteVar16x32x2(c0, Permutes.InterleaveLow, c1).AsDouble();    // (c0, c1) of tiles 0 .. 7
        var low23 = Avx512F.PermuteVar16x32x2(c2, Permutes.InterleaveLow, c3).AsDouble();
        var high01 = Avx512F.PermuteVar16x32x2(c0, Permutes.InterleaveHigh, c1).AsDouble();  // tiles 8 .. 15
        var high23 = Avx512F.PermuteVar16x32x2(c2, Permutes.InterleaveHigh, c3).AsDouble();
        int start = oy * s.Wo, extent = (s.Wo + 15) / 16 * 16;
        var row = start + extent <= output.Length ? output.Slice(start, extent) : line;
        Avx512F.PermuteVar8x64x2(low01, Permutes.InterleavePairsLow, low23).AsSingle().CopyTo(row);                        // tiles 0 .. 3
        if (extent > 16) Avx512F.PermuteVar8x64x2(low01, Permutes.InterleavePairsHigh, low23).AsSingle().CopyTo(row[16..]);   // tiles 4 .. 7
        if (extent > 32) Avx512F.PermuteVar8x64x2(high01, Permutes.InterleavePairsLow, high23).AsSingle().CopyTo(row[32..]); // tiles 8 .. 11
        if (extent > 48) Avx512F.PermuteVar8x64x2(high01, Permutes.InterleavePairsHigh, high23).AsSingle().CopyTo(row[48..]);
        if (row == line) line[..s.Wo].CopyTo(output.Slice(start, s.Wo));
    }

    /// <summary>
    /// E = A dy_tile A^T [8, 8] of one tile, 16 output channels per vector: dy_tile [4, 4] row-major
    /// in, point xi out to e[xi pointStride ..] (<see cref="WinogradConvolution"/> walks the tiles).
    /// </summary>
    [SkipLocalsInit]   // t is written before it is read: no zeroing per tile
    public static void TransformGradientTile(ReadOnlySpan<Vector512<float>> d, ref float e, int pointStride)
    {
        Span<Vector512<float>> t = stackalloc Vector512<float>[Tile * 4];   // A dy_tile [8, 4]
        for (int j = 0; j < 4; j++)   // A over each column of dy_tile
            (t[j], t[4 + j], t[8 + j], t[12 + j], t[16 + j], t[20 + j], t[24 + j], t[28 + j]) = GradientCombinations(d[j], d[4 + j], d[8 + j], d[12 + j]);
        for (int a = 0; a < Tile; a++)   // (A dy_tile) A^T: A over each row, points 8a .. 8a + 7
        {
            var (e0, e1, e2, e3, e4, e5, e6, e7) = GradientCombinations(t[4 * a], t[4 * a + 1], t[4 * a + 2], t[4 * a + 3]);
            ref float row = ref Unsafe.Add(ref e, Tile * a * pointStride);
            e0.StoreUnsafe(ref row);
            e1.StoreUnsafe(ref row, (nuint)pointStride);
            e2.StoreUnsafe(ref row, (nuint)(2 * pointStride));
            e3.StoreUnsafe(ref row, (nuint)(3 * pointStride));
            e4.StoreUnsafe(ref row, (nuint)(4 * pointStride));
            e5.StoreUnsafe(ref row, (nuint)(5 * pointStride));
            e6.StoreUnsafe(ref row, (nuint)(6 * pointStride));
            e7.StoreUnsafe(ref row, (nuint)(7 * pointStride));
        }
    }

    /// <summary>
    /// A [d0 .. d3], lane by lane (A is the transpose of A^T, rows for the points 0, 1, -1, 1/2, -1/2, 2, -2, infinity):
    ///   d0,  (d0 + d2) +- (d1 + d3),  (d0 + d2 / 4) +- (d1 / 2 + d3 / 8),  (d0 + 4 d2) +- (2 d1 + 8 d3),  d3.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (Vector512<float>, Vector512<float>, Vector512<float>, Vector512<float>, Vector512<float>, Vector512<float>, Vector512<float>, Vector512<float>)
        GradientCombinations(Vector512<float> d0, Vector512<float> d1, Vector512<float> d2, Vector512<float> d3)
    {
        Vector512<float> evenOne = d0 + d2, oddOne = d1 + d3;
        Vector512<float> evenHalf = d0 + Vector512.Create(0.25f) * d2, oddHalf = Vector512.Create(0.5f) * d1 + Vector512.Create(0.125f) * d3;
        Vector512<float> evenTwo = d0 + Vector512.Create(4f) * d2, oddTwo = Vector512.Create(2f) * d1 + Vector512.Create(8f) * d3;
        return (d0, evenOne + oddOne, evenOne - oddOne, evenHalf + oddHalf, evenHalf - oddHalf, evenTwo + oddTwo, evenTwo - oddTwo, d3);
    }

    /// <summary>
    /// dw^T [(ci 25 + 5 ky + kx), co] = (G^T P G)[ky, kx] for input channel ci and each co, 16 output
    /// channels per vector: P's 64 values of (ci, co) are products[(ci 64 + xi) width + co].
    /// </summary>
    public static void TransformProducts(ConvShape s, float[] products, int width, int ci, float[] partial)
    {
        Span<Vector512<float>> r = stackalloc Vector512<float>[5 * Tile];   // G^T P: [5, 8]
        Span<float> last = stackalloc float[16];
        ref float pStart = ref products[0];
        for (int c0 = 0; c0 < width; c0 += 16)
        {
            ref float p = ref Unsafe.Add(ref pStart, ci * Points * width + c0);
            for (int b = 0; b < Tile; b++)   // G^T over each column of P
                (r[b], r[Tile + b], r[2 * Tile + b], r[3 * Tile + b], r[4 * Tile + b]) = KernelGradientCombinations(
                    Vector512.LoadUnsafe(ref p, (nuint)(b * width)), Vector512.LoadUnsafe(ref p, (nuint)((Tile + b) * width)),
                    Vector512.LoadUnsafe(ref p, (nuint)((2 * Tile + b) * width)), Vector512.LoadUnsafe(ref p, (nuint)((3 * Tile + b) * width)),
                    Vector512.LoadUnsafe(ref p, (nuint)((4 * Tile + b) * width)), Vector512.LoadUnsafe(ref p, (nuint)((5 * Tile + b) * width)),
                    Vector512.LoadUnsafe(ref p, (nuint)((6 * Tile + b) * width)), Vector512.LoadUnsafe(ref p, (nuint)((7 * Tile + b) * width)));
            for (int ky = 0; ky < 5; ky++)   // (G^T P) G: G^T over each row
            {
                var (g0, g1, g2, g3, g4) = KernelGradientCombinations(r[Tile * ky], r[Tile * ky + 1], r[Tile * ky + 2], r[Tile * ky + 3],
                    r[Tile * ky + 4], r[Tile * ky + 5], r[Tile * ky + 6], r[Tile * ky + 7]);
                int start = (ci * Taps + 5 * ky) * s.Cout + c0, lanes = s.Cout - c0;
                Store(g0, partial, start, lanes, last);
                Store(g1, partial, start + s.Cout, lanes, last);
                Store(g2, partial, start + 2 * s.Cout, lanes, last);
                Store(g3, partial, start + 3 * s.Cout, lanes, last);
                Store(g4, partial, start + 4 * s.Cout, lanes, last);
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
    /// G^T [p0 .. p7], lane by lane (G's columns), with the sums and differences of the point pairs
    /// s1, d1 = p1 +- p2 (points 1, -1), s2, d2 = p3 +- p4 (1/2, -1/2), s3, d3 = p5 +- p6 (2, -2):
    ///   p0 - 2/9 s1 + 32/45 s2 + 1/90 s3,   -2/9 d1 + 16/45 d2 + 2/90 d3,   -2/9 s1 + 8/45 s2 + 4/90 s3,
    ///   -2/9 d1 + 4/45 d2 + 8/90 d3,   -2/9 s1 + 2/45 s2 + 16/90 s3 + p7.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (Vector512<float>, Vector512<float>, Vector512<float>, Vector512<float>, Vector512<float>) KernelGradientCombinations(
        Vector512<float> p0, Vector512<float> p1, Vector512<float> p2, Vector512<float> p3,
        Vector512<float> p4, Vector512<float> p5, Vector512<float> p6, Vector512<float> p7)
    {
        const float TwoNinths = 2f / 9, FortyFifth = 1f / 45, Ninetieth = 1f / 90;
        Vector512<float> s1 = -TwoNinths * (p1 + p2), d1 = -TwoNinths * (p1 - p2);
        Vector512<float> s2 = FortyFifth * (p3 + p4), d2 = FortyFifth * (p3 - p4);
        Vector512<float> s3 = Ninetieth * (p5 + p6), d3 = Ninetieth * (p5 - p6);
        return (p0 + s1 + 32 * s2 + s3,
                d1 + 16 * d2 + 2 * d3,
                s1 + 8 * s2 + 4 * s3,
                d1 + 4 * d2 + 8 * d3,
                s1 + 2 * s2 + 16 * s3 + p7);
    }
}
