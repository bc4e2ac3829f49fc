using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

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
    /// row is a few contiguous copies, one per <see cref="OutputRun"/>.
    /// </summary>
    public static void PackPanel(ConvShape s, ReadOnlySpan<float> images, int pc, int kc, int j0, int cols, Span<float> panel, int nr)
    {
        Span<OutputRun> runs = stackalloc OutputRun[cols];
        runs = runs[..SplitIntoOutputRows(s, j0, cols, runs)];
        var tap = Tap.At(s, pc);
        for (int p = 0; p < kc; p++, tap = tap.Next(s))
        {
            var row = panel.Slice(p * nr, nr);
            if (cols < nr) row[cols..].Clear();
            foreach (ref readonly var run in runs)
            {
                var destination = row.Slice(run.Column, run.Length);
                var (source, start, end) = Clip(s, tap, run);
                for (int t = 0; t < start; t++) destination[t] = 0f;
                CopyShort(images.Slice(source + start, end - start), destination[start..end]);
                for (int t = end; t < destination.Length; t++) destination[t] = 0f;
            }
        }
    }

    /// <summary>
    /// One packed GEMM panel of col as the A operand (the filter gradient's dw^T = col x dy^T),
    /// read straight from the image: rows [i0, i0 + rows) (filter taps) and columns [pc, pc + kc)
    /// (output pixels) of col into panel[p * MR + r]. The panel arrives zeroed, so the padding is
    /// left as it is; each tap row is a few contiguous runs of the image, one per output row,
    /// stored MR floats apart.
    /// </summary>
    public static void PackRowPanel(ConvShape s, ReadOnlySpan<float> image, int i0, int rows, int pc, int kc, Span<float> panel)
    {
        const int mr = Sgemm.MR;
        Span<OutputRun> runs = stackalloc OutputRun[kc];
        runs = runs[..SplitIntoOutputRows(s, pc, kc, runs)];
        if (panel.Length < kc * mr) throw new ArgumentException($"A panel of {kc} x {mr} floats needs {kc * mr}, got {panel.Length}.");
        ref float panelStart = ref MemoryMarshal.GetReference(panel);
        var tap = Tap.At(s, i0);
        for (int r = 0; r < rows; r++, tap = tap.Next(s))
            foreach (ref readonly var run in runs)
            {
                var (source, start, end) = Clip(s, tap, run);
                var line = image.Slice(source + start, end - start);
                // panel[(run.Column + start + t) * MR + r] = line[t], within the panel checked above
                ref float target = ref Unsafe.Add(ref panelStart, (run.Column + start) * mr + r);
                for (int t = 0; t < line.Length; t++) Unsafe.Add(ref target, t * mr) = line[t];
            }
    }

    /// <summary>One row of col: input channel ci and kernel offset (ky, kx); the row index is (ci*K + ky)*K + kx.</summary>
    private readonly record struct Tap(int Ci, int Ky, int Kx)
    {
        public static Tap At(ConvShape s, int row) => new(row / (s.K * s.K), row / s.K % s.K, row % s.K);

        public Tap Next(ConvShape s) => Kx + 1 < s.K ? new(Ci, Ky, Kx + 1) : Ky + 1 < s.K ? new(Ci, Ky + 1, 0) : new(Ci + 1, 0, 0);
    }

    /// <summary>Columns [Column, Column + Length) of a panel: output pixels (Oy, Ox ..) of one output row of the image at ImageOffset.</summary>
    private readonly record struct OutputRun(int Column, int Length, int ImageOffset, int Oy, int Ox);

    /// <summary>Splits columns [j0, j0 + cols) of col (images side by side) into runs within one output row; returns how many.</summary>
    private static int SplitIntoOutputRows(ConvShape s, int j0, int cols, Span<OutputRun> runs)
    {
        int hw = s.Ho * s.Wo, imageSize = s.Cin * s.H * s.W, count = 0;
        for (int q = 0; q < cols;)
        {
            int column = j0 + q, i = column / hw, j = column - i * hw, oy = j / s.Wo, ox = j - oy * s.Wo;
            int length = Math.Min(cols - q, s.Wo - ox);
            runs[count++] = new OutputRun(q, length, i * imageSize, oy, ox);
            q += length;
        }
        return count;
    }

    /// <summary>
    /// Where a run reads for one tap: pixel t of the run is x[ci, oy + ky - p, ox + t + kx - p] at
    /// images[source + t] for t in [start, end); the rest of the run is zero padding (all of it when
    /// the input row iy is a padding row).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (int Source, int Start, int End) Clip(ConvShape s, Tap tap, in OutputRun run)
    {
        int iy = run.Oy + tap.Ky - s.Padding, first = run.Ox + tap.Kx - s.Padding;
        if (iy < 0 || iy >= s.H) return (0, run.Length, run.Length);
        int start = Math.Clamp(-first, 0, run.Length), end = Math.Clamp(s.W - first, start, run.Length);
        return (run.ImageOffset + (tap.Ci * s.H + iy) * s.W + first, start, end);
    }

    /// <summary>to[..from.Length] = from, for the short runs of a panel row: 16 and 8 floats at a time.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void CopyShort(ReadOnlySpan<float> from, Span<float> to)
    {
        if (to.Length < from.Length) throw new ArgumentException($"Cannot copy {from.Length} floats into {to.Length}.");
        ref float source = ref MemoryMarshal.GetReference(from);
        ref float target = ref MemoryMarshal.GetReference(to);
        int count = from.Length, t = 0;
        for (; t + 16 <= count; t += 16) Vector512.LoadUnsafe(ref source, (nuint)t).StoreUnsafe(ref target, (nuint)t);
        for (; t + 8 <= count; t += 8) Vector256.LoadUnsafe(ref source, (nuint)t).StoreUnsafe(ref target, (nuint)t);
        for (; t < count; t++) Unsafe.Add(ref target, t) = Unsafe.Add(ref source, t);
    }
}
