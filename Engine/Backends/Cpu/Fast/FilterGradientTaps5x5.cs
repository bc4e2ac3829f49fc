using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace FerEngine.Backends.Cpu.Fast;

/// <summary>
/// One image's share of a 5x5 filter gradient with all 25 taps of a kernel in registers, 16 output
/// channels per vector:
///   sums[tap, co] += sum over j of dyT[j, co] image[ky Wp + kx + j],   tap = 5 ky + kx,
/// over the positions j = oy Wp + ox of one zero-padded input plane (rows of Wp floats, as
/// <see cref="FastConvolution.BackwardFilter"/> lays it out; dyT is zero where ox >= Wo). Per j it
/// loads one vector of dyT (16 output channels) and broadcasts the 25 input values the taps see, from
/// five row pointers: 25 fused multiply-adds for 26 loads, where the GEMM form of this product, with
/// only 16 output channels as its columns, issues 8 for 9 and keeps eight row pointers. Measured in
/// alternation with that GEMM (8 rounds, batch 32, 2 threads), conv2's filter gradient at width 0.25
/// (16 -> 16 channels) takes 0.62x the time, 3.0 ms instead of 4.8. conv1's (one input channel) stays
/// with <see cref="FastFilterGradientFewChannels"/>: this kernel took 1.27x its time there.
/// </summary>
internal static class FilterGradientTaps5x5
{
    private const int K = 5, Taps = K * K, Lanes = 16;

    /// <param name="plane">the padded plane of one input channel, from its row 0; reads run to (4 Wp + 4) + positions floats</param>
    /// <param name="dyT">dy of the image, [positions, cout], from output channel co0 on</param>
    /// <param name="sums">[25, cout] from output channel co0 on: 16 channels per tap are added to</param>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Add(ReadOnlySpan<float> plane, int wp, int positions, ReadOnlySpan<float> dyT, int cout, Span<float> sums)
    {
        if (plane.Length < 4 * wp + 4 + positions || dyT.Length < (positions - 1) * cout + Lanes || sums.Length < (Taps - 1) * cout + Lanes)
            throw new ArgumentException("A plane, dyT or sums too short for the positions.");
        ref float s = ref MemoryMarshal.GetReference(sums);
        var a00 = Load(ref s, 0 * cout); var a01 = Load(ref s, 1 * cout); var a02 = Load(ref s, 2 * cout); var a03 = Load(ref s, 3 * cout); var a04 = Load(ref s, 4 * cout);
        var a10 = Load(ref s, 5 * cout); var a11 = Load(ref s, 6 * cout); var a12 = Load(ref s, 7 * cout); var a13 = Load(ref s, 8 * cout); var a14 = Load(ref s, 9 * cout);
        var a20 = Load(ref s, 10 * cout); var a21 = Load(ref s, 11 * cout); var a22 = Load(ref s, 12 * cout); var a23 = Load(ref s, 13 * cout); var a24 = Load(ref s, 14 * cout);
        var a30 = Load(ref s, 15 * cout); var a31 = Load(ref s, 16 * cout); var a32 = Load(ref s, 17 * cout); var a33 = Load(ref s, 18 * cout); var a34 = Load(ref s, 19 * cout);
        var a40 = Load(ref s, 20 * cout); var a41 = Load(ref s, 21 * cout); var a42 = Load(ref s, 22 * cout); var a43 = Load(ref s, 23 * cout); var a44 = Load(ref s, 24 * cout);
        ref float r0 = ref MemoryMarshal.GetReference(plane);   // input row oy + ky from column ox is r_ky[j ..]
        ref float r1 = ref Unsafe.Add(ref r0, wp);
        ref float r2 = ref Unsafe.Add(ref r0, 2 * wp);
        ref float r3 = ref Unsafe.Add(ref r0, 3 * wp);
        ref float r4 = ref Unsafe.Add(ref r0, 4 * wp);
        ref float g = ref MemoryMarshal.GetReference(dyT);
        for (int j = 0; j < positions; j++)
        {
            var d = Vector512.LoadUnsafe(ref g, (nuint)(j * cout));
            a00 = Fma(ref r0, j, d, a00); a01 = Fma(ref r0, j + 1, d, a01); a02 = Fma(ref r0, j + 2, d, a02); a03 = Fma(ref r0, j + 3, d, a03); a04 = Fma(ref r0, j + 4, d, a04);
            a10 = Fma(ref r1, j, d, a10); a11 = Fma(ref r1, j + 1, d, a11); a12 = Fma(ref r1, j + 2, d, a12); a13 = Fma(ref r1, j + 3, d, a13); a14 = Fma(ref r1, j + 4, d, a14);
            a20 = Fma(ref r2, j, d, a20); a21 = Fma(ref r2, j + 1, d, a21); a22 = Fma(ref r2, j + 2, d, a22); a23 = Fma(ref r2, j + 3, d, a23); a24 = Fma(ref r2, j + 4, d, a24);
            a30 = Fma(ref r3, j, d, a30); a31 = Fma(ref r3, j + 1, d, a31); a32 = Fma(ref r3, j + 2, d, a32); a33 = Fma(ref r3, j + 3, d, a33); a34 = Fma(ref r3, j + 4, d, a34);
            a40 = Fma(ref r4, j, d, a40); a41 = Fma(ref r4, j + 1, d, a41); a42 = Fma(ref r4, j + 2, d, a42); a43 = Fma(ref r4, j + 3, d, a43); a44 = Fma(ref r4, j + 4, d, a44);
        }
        Store(a00, ref s, 0 * cout); Store(a01, ref s, 1 * cout); Store(a02, ref s, 2 * cout); Store(a03, ref s, 3 * cout); Store(a04, ref s, 4 * cout);
        Store(a10, ref s, 5 * cout); Store(a11, ref s, 6 * cout); Store(a12, ref s, 7 * cout); Store(a13, ref s, 8 * cout); Store(a14, ref s, 9 * cout);
        Store(a20, ref s, 10 * cout); Store(a21, ref s, 11 * cout); Store(a22, ref s, 12 * cout); Store(a23, ref s, 13 * cout); Store(a24, ref s, 14 * cout);
        Store(a30, ref s, 15 * cout); Store(a31, ref s, 16 * cout); Store(a32, ref s, 17 * cout); Store(a33, ref s, 18 * cout); Store(a34, ref s, 19 * cout);
        Store(a40, ref s, 20 * cout); Store(a41, ref s, 21 * cout); Store(a42, ref s, 22 * cout); Store(a43, ref s, 23 * cout); Store(a44, ref s, 24 * cout);
    }

    /// <summary>sum + broadcast(row[at]) x d.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Fma(ref float row, int at, Vector512<float> d, Vector512<float> sum) =>
        Vector512.FusedMultiplyAdd(Vector512.Create(Unsafe.Add(ref row, at)), d, sum);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Load(ref float start, int offset) => Vector512.LoadUnsafe(ref start, (nuint)offset);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store(Vector512<float> value, ref float start, int offset) => value.StoreUnsafe(ref start, (nuint)offset);
}
