namespace FerEngine.Backends.Cpu.Fast;

/// <summary>
/// Lowers one image's stride-1 convolution to a matrix product. For x [Cin, H, W] and a K x K
/// kernel with padding p, the column matrix is col [Cin*K*K, Ho*Wo] with
///   col[(ci*K + ky)*K + kx, oy*Wo + ox] = x[ci, oy + ky - p, ox + kx - p]   (0 outside the image)
/// so that y [Cout, Ho*Wo] = w [Cout, Cin*K*K] x col. Col2Im is the adjoint: it adds every column
/// entry back to the pixel it came from (the backward pass of Im2Col).
/// </summary>
public static class Im2Col
{
    public static void Lower(ConvShape s, ReadOnlySpan<float> image, Span<float> col)
    {
        int hw = s.Ho * s.Wo;
        for (int ci = 0; ci < s.Cin; ci++)
            for (int ky = 0; ky < s.K; ky++)
                for (int kx = 0; kx < s.K; kx++)
                {
                    var row = col.Slice(((ci * s.K + ky) * s.K + kx) * hw, hw);
                    // Output columns ox whose input column ox + kx - p lies inside [0, W).
                    int oxStart = Math.Max(0, s.Padding - kx), oxEnd = Math.Min(s.Wo, s.W + s.Padding - kx);
                    for (int oy = 0; oy < s.Ho; oy++)
                    {
                        var line = row.Slice(oy * s.Wo, s.Wo);
                        int iy = oy + ky - s.Padding;
                        if (iy < 0 || iy >= s.H || oxStart >= oxEnd) { line.Clear(); continue; }
                        line[..oxStart].Clear();
                        image.Slice((ci * s.H + iy) * s.W + oxStart + kx - s.Padding, oxEnd - oxStart).CopyTo(line[oxStart..oxEnd]);
                        line[oxEnd..].Clear();
                    }
                }
    }

    /// <summary>
    /// The transpose of <see cref="Lower"/>: colT [Ho*Wo, Cin*K*K], one row per output pixel. The
    /// filter gradient dw = dy [Cout, HoWo] x colT then reads both operands row by row (GEMM
    /// packing copies rows instead of gathering columns).
    /// </summary>
    public static void LowerTransposed(ConvShape s, ReadOnlySpan<float> image, Span<float> colT)
    {
        int cinkk = s.Cin * s.K * s.K;
        for (int oy = 0; oy < s.Ho; oy++)
            for (int ox = 0; ox < s.Wo; ox++)
            {
                var row = colT.Slice((oy * s.Wo + ox) * cinkk, cinkk);
                int at = 0;
                for (int ci = 0; ci < s.Cin; ci++)
                    for (int ky = 0; ky < s.K; ky++)
                    {
                        int iy = oy + ky - s.Padding;
                        if (iy < 0 || iy >= s.H) { row.Slice(at, s.K).Clear(); at += s.K; continue; }
                        var line = image.Slice((ci * s.H + iy) * s.W, s.W);
                        for (int kx = 0; kx < s.K; kx++, at++)
                        {
                            int ix = ox + kx - s.Padding;
                            row[at] = ix >= 0 && ix < s.W ? line[ix] : 0f;
                        }
                    }
            }
    }

    /// <summary>image [Cin, H, W] = sum of the col entries that read each pixel (image is overwritten).</summary>
    public static void Raise(ConvShape s, ReadOnlySpan<float> col, Span<float> image)
    {
        image.Clear();
        int hw = s.Ho * s.Wo;
        for (int ci = 0; ci < s.Cin; ci++)
            for (int ky = 0; ky < s.K; ky++)
                for (int kx = 0; kx < s.K; kx++)
                {
                    var row = col.Slice(((ci * s.K + ky) * s.K + kx) * hw, hw);
                    int oxStart = Math.Max(0, s.Padding - kx), oxEnd = Math.Min(s.Wo, s.W + s.Padding - kx);
                    if (oxStart >= oxEnd) continue;
                    for (int oy = 0; oy < s.Ho; oy++)
                    {
                        int iy = oy + ky - s.Padding;
                        if (iy < 0 || iy >= s.H) continue;
                        var source = row.Slice(oy * s.Wo + oxStart, oxEnd - oxStart);
                        var destination = image.Slice((ci * s.H + iy) * s.W + oxStart + kx - s.Padding, oxEnd - oxStart);
                        System.Numerics.Tensors.TensorPrimitives.Add(destination, source, destination);
                    }
                }
    }
}
