namespace FerEngine.Backends.Cpu.Fast;

/// <summary>
/// Lowers one image's stride-1 convolution to a matrix product. For x [Cin, H, W] and a K x K
/// kernel with padding p, the column matrix is col [Cin*K*K, Ho*Wo] with
///   col[(ci*K + ky)*K + kx, oy*Wo + ox] = x[ci, oy + ky - p, ox + kx - p]   (0 outside the image)
/// so that y [Cout, Ho*Wo] = w [Cout, Cin*K*K] x col. The forward pass and the filter gradient
/// never store col: the GEMM packs its panels straight from the image (<see cref="PackPanel"/> for
/// col as the B operand, <see cref="PackRowPanel"/> as the A operand). The data gradient needs no
/// col2im: it is itself a forward convolution (<see cref="FastConvolution.BackwardData"/>).
/// </summary>
public static class Im2Col
{
    /// <summary>
    /// One packed GEMM panel of col, read straight from the images (implicit im2col): rows
    /// [pc, pc + kc) and columns [j0, j0 + cols) of col into panel[p * nr + q]. Several images
    /// side by side (<paramref name="images"/> holds them one after another) are one col matrix with
    /// Ho*Wo columns per image. The columns of a panel span at most a few output rows, so each panel
    /// row is a few contiguous copies.
    /// </summary>
    public static void PackPanel(ConvShape s, ReadOnlySpan<float> images, int pc, int kc, int j0, int cols, Span<float> panel, int nr)
    {
        int hw = s.Ho * s.Wo, imageSize = s.Cin * s.H * s.W;
        for (int p = 0; p < kc; p++)
        {
            int r = pc + p, ci = r / (s.K * s.K), ky = r / s.K % s.K, kx = r % s.K;
            var row = panel.Slice(p * nr, nr);
            row[cols..].Clear();
            for (int q = 0; q < cols;)
            {
                int column = j0 + q, i = column / hw, j = column - i * hw, oy = j / s.Wo, ox = j - oy * s.Wo;
                var image = images.Slice(i * imageSize, imageSize);
                int run = Math.Min(cols - q, s.Wo - ox);           // stay within one output row
                var destination = row.Slice(q, run);
                int iy = oy + ky - s.Padding;
                if (iy < 0 || iy >= s.H) destination.Clear();
                else
                {
                    // Input columns ox + kx - p .. ; the part outside [0, W) is zero padding.
                    int first = ox + kx - s.Padding, start = Math.Max(0, -first), end = Math.Min(run, s.W - first);
                    destination[..Math.Max(0, Math.Min(start, run))].Clear();
                    if (end > start) image.Slice((ci * s.H + iy) * s.W + first + start, end - start).CopyTo(destination[start..end]);
                    if (end < run) destination[Math.Max(end, 0)..].Clear();
                }
                q += run;
            }
        }
    }

    /// <summary>
    /// One packed GEMM panel of col as the A operand (the filter gradient's dw^T = col x dy^T),
    /// read straight from the image: rows [i0, i0 + rows) (filter taps) and columns [pc, pc + kc)
    /// (output pixels) of col into panel[p * MR + r]. The panel arrives zeroed, so the padding is
    /// left as it is; each tap row is a few contiguous runs of the image, one per output row.
    /// </summary>
    public static void PackRowPanel(ConvShape s, ReadOnlySpan<float> image, int i0, int rows, int pc, int kc, Span<float> panel)
    {
        const int mr = Sgemm.MR;
        for (int r = 0; r < rows; r++)
        {
            int tap = i0 + r, ci = tap / (s.K * s.K), ky = tap / s.K % s.K, kx = tap % s.K;
            for (int p = 0; p < kc;)
            {
                int j = pc + p, oy = j / s.Wo, ox = j - oy * s.Wo;
                int run = Math.Min(kc - p, s.Wo - ox);             // stay within one output row
                int iy = oy + ky - s.Padding;
                if (iy >= 0 && iy < s.H)
                {
                    // Input columns ox + kx - pad ..; the part outside [0, W) stays zero (padding).
                    int first = ox + kx - s.Padding, start = Math.Max(0, -first), end = Math.Min(run, s.W - first);
                    var line = image.Slice((ci * s.H + iy) * s.W, s.W);
                    for (int t = start; t < end; t++) panel[(p + t) * mr + r] = line[first + t];
                }
                p += run;
            }
        }
    }
}
