using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace FerEngine.Backends.Cpu.Fast;

/// <summary>
/// The filter gradient of a 5x5 stride-1 convolution on few input channels: the network's first layer,
/// which sees the grey (1 channel) or colour (3 channels) image. Each weight's gradient is the dot
/// product it is,
///   dw[co, ci, ky, kx] = sum over n, oy, ox of dy[n, co, oy, ox] x_padded[n, ci, oy + ky, ox + kx],
/// taken 16 output columns at a time: for one (co, ci) the 25 taps' sums stay in 25 vector registers
/// while vectors of dy (16 outputs of a row) meet the vectors of padded input those outputs see through
/// each tap (input rows oy .. oy + 4, from columns ox + kx). Nothing is packed or transposed. The GEMM
/// form (<see cref="FastConvolution.BackwardFilter"/>) has only Cin x 25 rows here, too few to pay for
/// packing dy transposed for every image: conv1's filter gradient ran 2.2x slower that way.
/// Output channels run in parallel and each sums its images in order, so results do not depend on
/// the thread count.
/// </summary>
internal static class FastFilterGradientFewChannels
{
    private const int K = 5, Taps = K * K, Lanes = 16;

    /// <summary>5x5 kernels on at most 3 input channels, with AVX-512.</summary>
    public static bool Supports(ConvShape s) => s.K == K && s.Cin <= 3 && s.Ho > 0 && s.Wo > 0 && Vector512.IsHardwareAccelerated;

    public static void BackwardFilter(ConvShape s, ReadOnlyMemory<float> x, ReadOnlyMemory<float> dy, Memory<float> dw, bool accumulate)
    {
        int rowWidth = (s.Wo + Lanes - 1) / Lanes * Lanes;   // dy rows in whole vectors (zeros past Wo)
        int height = (s.Ho + 1) / 2 * 2;                      // and in pairs of rows (a zero row after an odd Ho)
        int hp = height + K - 1, wp = rowWidth + K - 1;       // padded input plane: the taps read up to row height + 3, column rowWidth + 3
        int plane = hp * wp, dyPlane = s.Ho * s.Wo;
        if (x.Length < s.N * s.Cin * s.H * s.W || dy.Length < s.N * s.Cout * dyPlane || dw.Length < s.Cout * s.Cin * Taps)
            throw new ArgumentException($"Tensors too small for the convolution {s}.");
        float[] padded = RentPaddedPlanes(s, x.Span, hp, wp);
        try
        {
            Parallel1D.ForEach(s.Cout, co =>
            {
                // dy[n, co] read in place when its rows are whole vectors and come in pairs; otherwise copied into
                // [height, rowWidth] planes, zero past the real rows and columns.
                float[]? rows = rowWidth == s.Wo && height == s.Ho ? null : ArrayPool<float>.Shared.Rent(s.N * height * rowWidth);
                try
                {
                    if (rows is not null)
                    {
                        Array.Clear(rows, 0, s.N * height * rowWidth);
                        for (int n = 0; n < s.N; n++)
                            for (int oy = 0; oy < s.Ho; oy++)
                                dy.Span.Slice(((n * s.Cout + co) * s.Ho + oy) * s.Wo, s.Wo).CopyTo(rows.AsSpan((n * height + oy) * rowWidth));
                    }
                    ref float dyFirst = ref rows is null ? ref MemoryMarshal.GetReference(dy.Span[(co * dyPlane)..]) : ref rows[0];
                    int dyImageStride = rows is null ? s.Cout * dyPlane : height * rowWidth;
                    var gradients = dw.Span.Slice(co * s.Cin * Taps, s.Cin * Taps);
                    Span<float> sums = stackalloc float[Taps];
                    for (int ci = 0; ci < s.Cin; ci++)
                    {
                        SumOverImages(s.N, height, rowWidth, ref dyFirst, dyImageStride, ref padded[ci * plane], s.Cin * plane, wp, sums);
                        var kernel = gradients.Slice(ci * Taps, Taps);
                        for (int t = 0; t < Taps; t++) kernel[t] = accumulate ? kernel[t] + sums[t] : sums[t];
                    }
                }
                finally
                {
                    if (rows is not null) ArrayPool<float>.Shared.Return(rows);
                }
            });
        }
        finally
        {
            ArrayPool<float>.Shared.Return(padded);
        }
    }

    /// <summary>
    /// x [N, Cin, H, W] copied into planes [N, Cin, hp, wp] from the pool, the image at (padding, padding) and
    /// zeros around it (hp and wp as large as the caller's taps read). Give it back to the pool.
    /// </summary>
    internal static float[] RentPaddedPlanes(ConvShape s, ReadOnlySpan<float> x, int hp, int wp)
    {
        int plane = hp * wp;
        float[] padded = ArrayPool<float>.Shared.Rent(s.N * s.Cin * plane);
        Array.Clear(padded, 0, s.N * s.Cin * plane);
        for (int image = 0; image < s.N * s.Cin; image++)
            for (int iy = 0; iy < s.H; iy++)
                x.Slice((image * s.H + iy) * s.W, s.W).CopyTo(padded.AsSpan(image * plane + (iy + s.Padding) * wp + s.Padding));
        return padded;
    }

    /// <summary>
    /// sums[ky 5 + kx] = the gradient of tap (ky, kx) of one kernel, over n images: dy's planes
    /// [height, rowWidth] (an even height, whole vectors) from dy, dyImageStride apart; the padded
    /// input planes [height + 4, wp] from input, inputImageStride apart. Two output rows at a time:
    /// each input vector loaded then serves two taps (kernel rows ky and ky - 1, the same kx). The loop
    /// calls nothing, so that the sums stay in registers: around a call the JIT would keep them in
    /// memory, as no vector register survives a call on Linux.
    /// </summary>
    private static void SumOverImages(int n, int height, int rowWidth, ref float dy, int dyImageStride, ref float input, int inputImageStride, int wp, Span<float> sums)
    {
        Vector512<float> a00 = default, a01 = default, a02 = default, a03 = default, a04 = default;
        Vector512<float> a10 = default, a11 = default, a12 = default, a13 = default, a14 = default;
        Vector512<float> a20 = default, a21 = default, a22 = default, a23 = default, a24 = default;
        Vector512<float> a30 = default, a31 = default, a32 = default, a33 = default, a34 = default;
        Vector512<float> a40 = default, a41 = default, a42 = default, a43 = default, a44 = default;
        for (int image = 0; image < n; image++)
        {
            ref float dyStart = ref Unsafe.Add(ref dy, image * dyImageStride);
            ref float xStart = ref Unsafe.Add(ref input, image * inputImageStride);
            for (int oy = 0; oy < height; oy += 2)
                for (int ox = 0; ox < rowWidth; ox += Lanes)
                {
                    var d0 = Load(ref dyStart, oy * rowWidth + ox);         // 16 outputs of row oy
                    var d1 = Load(ref dyStart, (oy + 1) * rowWidth + ox);   // and the 16 below them
                    ref float r = ref Unsafe.Add(ref xStart, oy * wp + ox);  // input row oy + j from column ox + kx is r[j wp + kx ..]
                    Vector512<float> x;
                    // Input row oy meets kernel row 0 of output row oy.
                    x = Load(ref r, 0); a00 = Fma(d0, x, a00);
                    x = Load(ref r, 1); a01 = Fma(d0, x, a01);
                    x = Load(ref r, 2); a02 = Fma(d0, x, a02);
                    x = Load(ref r, 3); a03 = Fma(d0, x, a03);
                    x = Load(ref r, 4); a04 = Fma(d0, x, a04);
                    // Input rows oy + 1 .. oy + 4 meet kernel row j of output row oy and kernel row j - 1 of output row oy + 1.
                    x = Load(ref r, wp); a10 = Fma(d0, x, a10); a00 = Fma(d1, x, a00);
                    x = Load(ref r, wp + 1); a11 = Fma(d0, x, a11); a01 = Fma(d1, x, a01);
                    x = Load(ref r, wp + 2); a12 = Fma(d0, x, a12); a02 = Fma(d1, x, a02);
                    x = Load(ref r, wp + 3); a13 = Fma(d0, x, a13); a03 = Fma(d1, x, a03);
                    x = Load(ref r, wp + 4); a14 = Fma(d0, x, a14); a04 = Fma(d1, x, a04);
                    x = Load(ref r, 2 * wp); a20 = Fma(d0, x, a20); a10 = Fma(d1, x, a10);
                    x = Load(ref r, 2 * wp + 1); a21 = Fma(d0, x, a21); a11 = Fma(d1, x, a11);
                    x = Load(ref r, 2 * wp + 2); a22 = Fma(d0, x, a22); a12 = Fma(d1, x, a12);
                    x = Load(ref r, 2 * wp + 3); a23 = Fma(d0, x, a23); a13 = Fma(d1, x, a13);
                    x = Load(ref r, 2 * wp + 4); a24 = Fma(d0, x, a24); a14 = Fma(d1, x, a14);
                    x = Load(ref r, 3 * wp); a30 = Fma(d0, x, a30); a20 = Fma(d1, x, a20);
                    x = Load(ref r, 3 * wp + 1); a31 = Fma(d0, x, a31); a21 = Fma(d1, x, a21);
                    x = Load(ref r, 3 * wp + 2); a32 = Fma(d0, x, a32); a22 = Fma(d1, x, a22);
                    x = Load(ref r, 3 * wp + 3); a33 = Fma(d0, x, a33); a23 = Fma(d1, x, a23);
                    x = Load(ref r, 3 * wp + 4); a34 = Fma(d0, x, a34); a24 = Fma(d1, x, a24);
                    x = Load(ref r, 4 * wp); a40 = Fma(d0, x, a40); a30 = Fma(d1, x, a30);
                    x = Load(ref r, 4 * wp + 1); a41 = Fma(d0, x, a41); a31 = Fma(d1, x, a31);
                    x = Load(ref r, 4 * wp + 2); a42 = Fma(d0, x, a42); a32 = Fma(d1, x, a32);
                    x = Load(ref r, 4 * wp + 3); a43 = Fma(d0, x, a43); a33 = Fma(d1, x, a33);
                    x = Load(ref r, 4 * wp + 4); a44 = Fma(d0, x, a44); a34 = Fma(d1, x, a34);
                    // Input row oy + 5 meets kernel row 4 of output row oy + 1.
                    x = Load(ref r, 5 * wp); a40 = Fma(d1, x, a40);
                    x = Load(ref r, 5 * wp + 1); a41 = Fma(d1, x, a41);
                    x = Load(ref r, 5 * wp + 2); a42 = Fma(d1, x, a42);
                    x = Load(ref r, 5 * wp + 3); a43 = Fma(d1, x, a43);
                    x = Load(ref r, 5 * wp + 4); a44 = Fma(d1, x, a44);
                }
        }
        sums[0] = Vector512.Sum(a00); sums[1] = Vector512.Sum(a01); sums[2] = Vector512.Sum(a02); sums[3] = Vector512.Sum(a03); sums[4] = Vector512.Sum(a04);
        sums[5] = Vector512.Sum(a10); sums[6] = Vector512.Sum(a11); sums[7] = Vector512.Sum(a12); sums[8] = Vector512.Sum(a13); sums[9] = Vector512.Sum(a14);
        sums[10] = Vector512.Sum(a20); sums[11] = Vector512.Sum(a21); sums[12] = Vector512.Sum(a22); sums[13] = Vector512.Sum(a23); sums[14] = Vector512.Sum(a24);
        sums[15] = Vector512.Sum(a30); sums[16] = Vector512.Sum(a31); sums[17] = Vector512.Sum(a32); sums[18] = Vector512.Sum(a33); sums[19] = Vector512.Sum(a34);
        sums[20] = Vector512.Sum(a40); sums[21] = Vector512.Sum(a41); sums[22] = Vector512.Sum(a42); sums[23] = Vector512.Sum(a43); sums[24] = Vector512.Sum(a44);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Load(ref float start, int offset) => Vector512.LoadUnsafe(ref start, (nuint)offset);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Fma(Vector512<float> a, Vector512<float> b, Vector512<float> sum) => Vector512.FusedMultiplyAdd(a, b, sum);
}
