using System.Runtime.Intrinsics;

namespace FerEngine.Backends.Cpu.Fast;

/// <summary>
/// Index vectors for AVX-512's two-vector permute (vpermt2ps, Avx512F.PermuteVar16x32x2): indices
/// 0..15 pick from the first vector, 16..31 from the second. Properties, so the JIT folds them to constants.
/// </summary>
internal static class Permutes
{
    /// <summary>The even-indexed of 32 floats (a row's left columns of 2-wide windows or tiles).</summary>
    public static Vector512<int> EvenColumns => Vector512.Create(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    /// <summary>The odd-indexed of 32 floats.</summary>
    public static Vector512<int> OddColumns => Vector512.Create(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    /// <summary>The first halves of two vectors, interleaved: a0 b0 a1 b1 ... a7 b7.</summary>
    public static Vector512<int> InterleaveLow => Vector512.Create(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    /// <summary>The second halves of two vectors, interleaved: a8 b8 ... a15 b15.</summary>
    public static Vector512<int> InterleaveHigh => Vector512.Create(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
}
