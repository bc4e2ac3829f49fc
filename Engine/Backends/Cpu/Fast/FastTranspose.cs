using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace FerEngine.Backends.Cpu.Fast;

/// <summary>
/// Matrix transposes: destination [columns, width] = source [rows, columns] transposed, the source's rows
/// sourceStride floats apart (width >= rows; the floats of a destination row past rows are left alone). Blocks of 16 x 16 go through AVX-512
/// registers, 64 shuffles per block; the edges that do not fill a block are copied one float at a time.
/// A float at a time throughout, the Winograd filter gradients' transposes of dy took 7 cycles per
/// float: 8-10 of conv2's 58-64 ms on one thread.
/// </summary>
internal static class FastTranspose
{
    private const int Block = 16;

    public static void Transpose(ReadOnlySpan<float> source, int rows, int columns, Span<float> destination, int width) =>
        Transpose(source, rows, columns, columns, destination, width);

    public static void Transpose(ReadOnlySpan<float> source, int rows, int columns, int sourceStride, Span<float> destination, int width)
    {
        if (rows == 0 || columns == 0) return;
        if (rows > width || columns > sourceStride || (rows - 1L) * sourceStride + columns > source.Length || (columns - 1L) * width + rows > destination.Length)
            throw new ArgumentException($"A [{rows}, {columns}] transpose does not fit a source of {source.Length} floats in rows of {sourceStride} or a destination of {destination.Length} in rows of {width}.");
        int wholeRows = Avx512F.IsSupported ? rows / Block * Block : 0, wholeColumns = Avx512F.IsSupported ? columns / Block * Block : 0;
        for (int r0 = 0; r0 < wholeRows; r0 += Block)
            for (int c0 = 0; c0 < wholeColumns; c0 += Block)
                TransposeBlock(ref Unsafe.AsRef(in source[r0 * sourceStride + c0]), sourceStride, ref destination[c0 * width + r0], width);
        for (int r = 0; r < rows; r++)   // the right edge (columns past the last whole block), and the bottom edge
            for (int c = r < wholeRows ? wholeColumns : 0; c < columns; c++)
                destination[c * width + r] = source[r * sourceStride + c];
    }

    /// <summary>
    /// One 16 x 16 block: rows a_i (16 floats each) in, columns out. Shuffles per 128-bit lane make 4 x 4
    /// blocks (columns of 4 rows), then whole lanes are moved into place:
    ///   1. interleave the floats of row pairs:  t_2p, t_2p+1 = unpack low / high (a_2p, a_2p+1)
    ///   2. interleave their pairs of floats:    u_4q+m, lane L = column 4L + m of rows 4q .. 4q + 3
    ///   3, 4. gather the lanes of one column:   column 4L + m = (u_m, u_4+m, u_8+m, u_12+m), lane L of each
    /// </summary>
    [SkipLocalsInit]
    private static void TransposeBlock(ref float source, int sourceStride, ref float destination, int destinationStride)
    {
        Span<Vector512<float>> a = stackalloc Vector512<float>[Block];
        Span<Vector512<float>> t = stackalloc Vector512<float>[Block];
        for (int i = 0; i < Block; i++) a[i] = Vector512.LoadUnsafe(ref source, (nuint)(i * sourceStride));
        for (int p = 0; p < Block / 2; p++)
        {
            t[2 * p] = Avx512F.UnpackLow(a[2 * p], a[2 * p + 1]);
            t[2 * p + 1] = Avx512F.UnpackHigh(a[2 * p], a[2 * p + 1]);
        }
        for (int q = 0; q < Block / 4; q++)   // a now holds u
        {
            Vector512<double> even = t[4 * q].AsDouble(), odd = t[4 * q + 1].AsDouble(), evenNext = t[4 * q + 2].AsDouble(), oddNext = t[4 * q + 3].AsDouble();
            a[4 * q] = Avx512F.UnpackLow(even, evenNext).AsSingle();
            a[4 * q + 1] = Avx512F.UnpackHigh(even, evenNext).AsSingle();
            a[4 * q + 2] = Avx512F.UnpackLow(odd, oddNext).AsSingle();
            a[4 * q + 3] = Avx512F.UnpackHigh(odd, oddNext).AsSingle();
        }
        for (int m = 0; m < 4; m++)
        {
            // Lanes 0 and 2, and lanes 1 and 3, of rows 0-7 (v, w) and of rows 8-15 (vNext, wNext).
            var v = Avx512F.Shuffle4x128(a[m], a[4 + m], 0x88);
            var w = Avx512F.Shuffle4x128(a[m], a[4 + m], 0xDD);
            var vNext = Avx512F.Shuffle4x128(a[8 + m], a[12 + m], 0x88);
            var wNext = Avx512F.Shuffle4x128(a[8 + m], a[12 + m], 0xDD);
            Avx512F.Shuffle4x128(v, vNext, 0x88).StoreUnsafe(ref destination, (nuint)(m * destinationStride));          // column m
            Avx512F.Shuffle4x128(w, wNext, 0x88).StoreUnsafe(ref destination, (nuint)((4 + m) * destinationStride));    // column 4 + m
            Avx512F.Shuffle4x128(v, vNext, 0xDD).StoreUnsafe(ref destination, (nuint)((8 + m) * destinationStride));    // column 8 + m
            Avx512F.Shuffle4x128(w, wNext, 0xDD).StoreUnsafe(ref destination, (nuint)((12 + m) * destinationStride));   // column 12 + m
        }
    }
}
