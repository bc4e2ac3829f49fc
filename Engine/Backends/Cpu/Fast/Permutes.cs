using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace FerEngine.Backends.Cpu.Fast;

/// <summary>
/// Index vectors for AVX-512's two-vector permute (vpermt2ps, Avx512F.PermuteVar16x32x2): indices
/// 0..15 pick from the first vector, 16..31 from the second. Properties, inlined (even into methods past the
/// JIT's inlining budget, where a call per use spilled every live vector register) so that each is a constant.
/// </summary>
internal static class Permutes
{
    /// <summary>The even-indexed of 32 floats (a row's left columns of 2-wide windows or tiles).</summary>
    public static Vector512<int> EvenColumns { [MethodImpl(MethodImplOptions.AggressiveInlining)] get => Vector512.Create(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30); }
    /// <summary>The odd-indexed of 32 floats.</summary>
    public static Vector512<int> OddColumns { [MethodImpl(MethodImplOptions.AggressiveInlining)] get => Vector512.Create(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31); }
    /// <summary>The even-indexed lanes of two vectors, interleaved: a0 b0 a2 b2 ... a14 b14 (the low words of 64-bit lanes).</summary>
    public static Vector512<int> EvenLanesInterleaved { [MethodImpl(MethodImplOptions.AggressiveInlining)] get => Vector512.Create(0, 16, 2, 18, 4, 20, 6, 22, 8, 24, 10, 26, 12, 28, 14, 30); }
    /// <summary>The first halves of two vectors, interleaved: a0 b0 a1 b1 ... a7 b7.</summary>
    public static Vector512<int> InterleaveLow { [MethodImpl(MethodImplOptions.AggressiveInlining)] get => Vector512.Create(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23); }
    /// <summary>The second halves of two vectors, interleaved: a8 b8 ... a15 b15.</summary>
    public static Vector512<int> InterleaveHigh { [MethodImpl(MethodImplOptions.AggressiveInlining)] get => Vector512.Create(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31); }
    /// <summary>
    /// Columns k, k + 4, ..., k + 28 of 32 floats in lanes 0-7 (F(4x4, 3x3)'s tiles start 4 columns
    /// apart: column k of tiles 0 .. 7); lanes 8-15 repeat them. F(4x4, 3x3) uses lanes 0-7 only;
    /// F(4x4, 5x5)'s 16 tiles take lanes 8-15 of a second such vector as tiles 8-15 (<see cref="FastWinograd5x5"/>).
    /// </summary>
    public static Vector512<int> EveryFourthColumn0 { [MethodImpl(MethodImplOptions.AggressiveInlining)] get => Vector512.Create(0, 4, 8, 12, 16, 20, 24, 28, 0, 4, 8, 12, 16, 20, 24, 28); }
    public static Vector512<int> EveryFourthColumn1 { [MethodImpl(MethodImplOptions.AggressiveInlining)] get => Vector512.Create(1, 5, 9, 13, 17, 21, 25, 29, 1, 5, 9, 13, 17, 21, 25, 29); }
    public static Vector512<int> EveryFourthColumn2 { [MethodImpl(MethodImplOptions.AggressiveInlining)] get => Vector512.Create(2, 6, 10, 14, 18, 22, 26, 30, 2, 6, 10, 14, 18, 22, 26, 30); }
    public static Vector512<int> EveryFourthColumn3 { [MethodImpl(MethodImplOptions.AggressiveInlining)] get => Vector512.Create(3, 7, 11, 15, 19, 23, 27, 31, 3, 7, 11, 15, 19, 23, 27, 31); }
    /// <summary>A blend mask: all bits set in lanes 8-15, none in lanes 0-7 (ConditionalSelect takes the upper half from its first vector).</summary>
    public static Vector512<float> UpperHalf { [MethodImpl(MethodImplOptions.AggressiveInlining)] get => Vector512.Create(0, 0, 0, 0, 0, 0, 0, 0, -1, -1, -1, -1, -1, -1, -1, -1).AsSingle(); }
    /// <summary>
    /// Four 8-lane vectors a, b (lanes 0-7 and 8-15 of the first) and c, d (of the second)
    /// interleaved, first their lanes 0-3: a0 b0 c0 d0 a1 b1 c1 d1 ... a3 b3 c3 d3 (the inverse of EveryFourthColumn).
    /// </summary>
    public static Vector512<int> InterleaveFourLow { [MethodImpl(MethodImplOptions.AggressiveInlining)] get => Vector512.Create(0, 8, 16, 24, 1, 9, 17, 25, 2, 10, 18, 26, 3, 11, 19, 27); }
    /// <summary>The same for lanes 4-7: a4 b4 c4 d4 ... a7 b7 c7 d7.</summary>
    public static Vector512<int> InterleaveFourHigh { [MethodImpl(MethodImplOptions.AggressiveInlining)] get => Vector512.Create(4, 12, 20, 28, 5, 13, 21, 29, 6, 14, 22, 30, 7, 15, 23, 31); }
    /// <summary>
    /// For the 64-bit permute (vpermt2pd, Avx512F.PermuteVar8x64x2): the first halves of two vectors of
    /// 8 pairs, interleaved pair by pair: a0 b0 a1 b1 a2 b2 a3 b3.
    /// </summary>
    public static Vector512<long> InterleavePairsLow { [MethodImpl(MethodImplOptions.AggressiveInlining)] get => Vector512.Create(0L, 8, 1, 9, 2, 10, 3, 11); }
    /// <summary>The second halves, pair by pair: a4 b4 ... a7 b7.</summary>
    public static Vector512<long> InterleavePairsHigh { [MethodImpl(MethodImplOptions.AggressiveInlining)] get => Vector512.Create(4L, 12, 5, 13, 6, 14, 7, 15); }

    /// <summary>
    /// Floats 4 .. 19 of the 32 in (first, second): lanes 4 .. 15 of first, then lanes 0 .. 3 of second
    /// (valignd, no index vector). The Winograd input transforms use it for the columns 4 on from a
    /// row they hold in registers.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> ShiftByFour(Vector512<float> first, Vector512<float> second) =>
        Avx512F.AlignRight32(second.AsInt32(), first.AsInt32(), 4).AsSingle();
}
