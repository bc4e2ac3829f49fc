using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace FerEngine.Random;

/// <summary>
/// Philox 4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011):
/// a counter-based generator. Output = f(key, counter) with no hidden state, so element i of
/// a random tensor can be produced by any thread, on any device, in any order.
///
/// Our convention, shared with the PTX kernels:
///   key     = (seed low 32 bits, seed high 32 bits)
///   counter = (offset low, offset high, stream low, stream high)
/// where stream names what the numbers are for (a tensor, a dropout layer at a step, ...)
/// and offset = elementIndex / 4; element i uses word i % 4 of that block.
/// </summary>
public static class Philox
{
    private const uint MultiplierA = 0xD2511F53;
    private const uint MultiplierB = 0xCD9E8D57;
    private const uint WeylA = 0x9E3779B9; // golden ratio
    private const uint WeylB = 0xBB67AE85; // sqrt(3) - 1

    /// <summary>The four 32-bit words of block <paramref name="offset"/>.</summary>
    public static (uint X0, uint X1, uint X2, uint X3) Block(ulong seed, ulong stream, ulong offset)
    {
        uint k0 = (uint)seed, k1 = (uint)(seed >> 32);
        uint c0 = (uint)offset, c1 = (uint)(offset >> 32), c2 = (uint)stream, c3 = (uint)(stream >> 32);
        for (int round = 0; round < 10; round++)
        {
            ulong productA = (ulong)MultiplierA * c0;
            ulong productB = (ulong)MultiplierB * c2;
            uint hiA = (uint)(productA >> 32), loA = (uint)productA;
            uint hiB = (uint)(productB >> 32), loB = (uint)productB;
            (c0, c1, c2, c3) = (hiB ^ c1 ^ k0, loB, hiA ^ c3 ^ k1, loA);
            k0 += WeylA;
            k1 += WeylB;
        }
        return (c0, c1, c2, c3);
    }

    /// <summary>
    /// Blocks offset .. offset + 7 at once: lane b of Xk is word k of <see cref="Block"/>(seed, stream,
    /// offset + b). Each 32-bit word sits in a 64-bit lane, so one 64-bit multiply gives both the high
    /// and the low half of a round's 32 x 32-bit product.
    /// </summary>
    public static (Vector512<ulong> X0, Vector512<ulong> X1, Vector512<ulong> X2, Vector512<ulong> X3) Blocks8(ulong seed, ulong stream, ulong offset)
    {
        var low32 = Vector512.Create(0xFFFF_FFFFUL);
        var offsets = Vector512.Create(offset) + Vector512.Create(0UL, 1, 2, 3, 4, 5, 6, 7);
        Vector512<ulong> c0 = offsets & low32, c1 = offsets >> 32, c2 = Vector512.Create(stream & 0xFFFF_FFFF), c3 = Vector512.Create(stream >> 32);
        uint k0 = (uint)seed, k1 = (uint)(seed >> 32);
        for (int round = 0; round < 10; round++)
        {
            var productA = Multiply32(Vector512.Create((ulong)MultiplierA), c0);
            var productB = Multiply32(Vector512.Create((ulong)MultiplierB), c2);
            (c0, c1, c2, c3) = ((productB >> 32) ^ c1 ^ Vector512.Create((ulong)k0), productB & low32,
                                (productA >> 32) ^ c3 ^ Vector512.Create((ulong)k1), productA & low32);
            k0 += WeylA;
            k1 += WeylB;
        }
        return (c0, c1, c2, c3);
    }

    /// <summary>
    /// a x b lane by lane for lanes that hold 32-bit values: one vpmuludq (32 x 32 -> 64 bits) with AVX-512,
    /// where the general 64-bit multiply (vpmullq) costs several times more.
    /// </summary>
    private static Vector512<ulong> Multiply32(Vector512<ulong> a, Vector512<ulong> b) =>
        Avx512F.IsSupported ? Avx512F.Multiply(a.AsUInt32(), b.AsUInt32()) : a * b;

    /// <summary>The 32-bit random word for element <paramref name="index"/> of a stream.</summary>
    public static uint Word(ulong seed, ulong stream, ulong index)
    {
        var (x0, x1, x2, x3) = Block(seed, stream, index / 4);
        return (index % 4) switch { 0 => x0, 1 => x1, 2 => x2, _ => x3 };
    }

    /// <summary>
    /// Uniform in the open interval (0, 1) from the top 24 bits of a word: exactly representable
    /// in float32, so CPU and GPU agree bit for bit.
    /// </summary>
    public static float UniformOpen(uint word) => ((word >> 8) + 0.5f) * (1.0f / 16777216f);

    /// <summary>
    /// Fills <paramref name="destination"/> with uniform numbers in (low, high): element i uses
    /// <see cref="Word"/>(seed, stream, i).
    /// </summary>
    public static void FillUniform(Span<double> destination, ulong seed, ulong stream, double low, double high)
    {
        for (int i = 0; i < destination.Length; i++)
            destination[i] = low + (high - low) * UniformOpen(Word(seed, stream, (ulong)i));
    }

    /// <summary>
    /// Fills <paramref name="destination"/> with normal numbers by Box-Muller: elements 2j and 2j+1
    /// come from words 2j and 2j+1. Computed in float64 then rounded by the caller.
    /// </summary>
    public static void FillNormal(Span<double> destination, ulong seed, ulong stream, double mean, double std)
    {
        for (int pair = 0; pair * 2 < destination.Length; pair++)
        {
            double u1 = UniformOpen(Word(seed, stream, (ulong)(2 * pair)));
            double u2 = UniformOpen(Word(seed, stream, (ulong)(2 * pair + 1)));
            double radius = Math.Sqrt(-2.0 * Math.Log(u1));
            destination[2 * pair] = mean + std * radius * Math.Cos(2 * Math.PI * u2);
            if (2 * pair + 1 < destination.Length)
                destination[2 * pair + 1] = mean + std * radius * Math.Sin(2 * Math.PI * u2);
        }
    }

    /// <summary>
    /// Dropout keep decision for element <paramref name="index"/>: kept when the top 24 bits of its
    /// word are at least round(p * 2^24). An integer compare, identical on every device.
    /// </summary>
    public static bool Keep(ulong seed, ulong stream, ulong index, double dropProbability) =>
        (Word(seed, stream, index) >> 8) >= DropThreshold(dropProbability);

    public static uint DropThreshold(double dropProbability) => (uint)Math.Round(dropProbability * 16777216.0);
}
