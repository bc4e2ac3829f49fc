using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace FerEngine.Backends.Cpu.Fast;

/// <summary>
/// Lowers one image's stride-1 convolution to a matrix product. For x [Cin, H, W] and a K x K
/// kernel with padding p, the column matrix is col [Cin*K*K, Ho*Wo] with
///   col[(ci*K + ky)*K + kx, oy*Wo + ox] = x[ci, oy + ky - p, ox + kx - p]   (0 outside the image)
/// so that y [Cout, Ho*Wo] = w [Cout, Cin*K*K] x col. No pass stores col: the forward reads its rows
/// in place from the zero-padded image (<see cref="FastConvolution.Forward"/>), the data gradient is
/// itself a forward convolution (<see cref="FastConvolution.BackwardData"/>), and the filter
/// gradient's GEMM packs its A panels straight from the image (<see cref="PackRowPanel"/>).
/// </summary>
public static class Im2Col
{
    /// <summary>
    /// One packed GEMM panel of col as the A operand (the filter gradient's dw^T = col x dy^T),
    /// read straight from the image: rows [i0, i0 + rows) (filter taps) and columns [pc, pc + kc)
    /// (output pixels) of col into panel[p * MR + r]. The panel arrives zeroed, so the padding is
    /// left as it is; each tap row is a few contiguous runs of the image, one per output row
    /// (<see cref="OutputRun"/>), stored MR floats apart.
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

    /// <summary>Columns [Column, Column + Length) of a panel: output pixels (Oy, Ox ..) of one output row.</summary>
    private readonly record struct OutputRun(int Column, int Length, int Oy, int Ox);

    /// <summary>Splits columns [j0, j0 + cols) of col into runs within one output row; returns how many.</summary>
    private static int SplitIntoOutputRows(ConvShape s, int j0, int cols, Span<OutputRun> runs)
    {
        int count = 0;
        for (int q = 0; q < cols;)
        {
            int j = j0 + q, oy = j / s.Wo, ox = j - oy * s.Wo;
            int length = Math.Min(cols - q, s.Wo - ox);
            runs[count++] = new OutputRun(q, length, oy, ox);
            q += length;
        }
        return count;
    }

    /// <summary>
    /// Where a run reads for one tap: pixel t of the run is x[ci, oy + ky - p, ox + t + kx - p] at
    /// image[source + t] for t in [start, end); the rest of the run is zero padding (all of it when
    /// the input row iy is a padding row).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (int Source, int Start, int End) Clip(ConvShape s, Tap tap, in OutputRun run)
    {
        int iy = run.Oy + tap.Ky - s.Padding, first = run.Ox + tap.Kx - s.Padding;
        if (iy < 0 || iy >= s.H) return (0, run.Length, run.Length);
        int start = Math.Clamp(-first, 0, run.Length), end = Math.Clamp(s.W - first, start, run.Length);
        return ((tap.Ci * s.H + iy) * s.W + first, start, end);
    }
}
