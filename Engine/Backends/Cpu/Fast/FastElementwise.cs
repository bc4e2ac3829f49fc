using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using FerEngine.Random;

namespace FerEngine.Backends.Cpu.Fast;

/// <summary>Vectorised, parallel float32 versions of the elementwise primitives (same formulas as the reference).</summary>
public static class FastElementwise
{
    /// <summary>y = x > 0 ? x : alpha (e^x - 1), 16 lanes at a time.</summary>
    public static void EluForward(ReadOnlyMemory<float> x, Memory<float> y, float alpha) =>
        Parallel1D.For(x.Length, (first, count) => EluRow(x.Span.Slice(first, count), 0f, y.Span.Slice(first, count), alpha));

    /// <summary>
    /// y = ELU(x + bias[c]) for x [N, C, S], bias [C]: the bias added as each (n, c) row is activated,
    /// in the same pass. For [N, C] (S = 1, the fully connected layer: small) the bias is added
    /// sample by sample, then the activation runs in place.
    /// </summary>
    public static void BiasEluForward(ReadOnlyMemory<float> x, ReadOnlyMemory<float> bias, Memory<float> y, int channels, int spatial, float alpha)
    {
        if (spatial == 1)
        {
            for (int row = 0; row < x.Length / channels; row++)
                System.Numerics.Tensors.TensorPrimitives.Add(x.Span.Slice(row * channels, channels), bias.Span, y.Span.Slice(row * channels, channels));
            EluForward(y, y, alpha);
            return;
        }
        Parallel1D.For(x.Length / spatial, (firstRow, rows) =>
        {
            for (int row = firstRow; row < firstRow + rows; row++)
                EluRow(x.Span.Slice(row * spatial, spatial), bias.Span[row % channels], y.Span.Slice(row * spatial, spatial), alpha);
        }, itemSize: spatial);
    }

    /// <summary>destination = ELU(source + bias), 16 lanes at a time.</summary>
    private static void EluRow(ReadOnlySpan<float> source, float bias, Span<float> destination, float alpha)
    {
        int i = 0, count = source.Length;
        if (Vector512.IsHardwareAccelerated)
        {
            var (a, b) = (Vector512.Create(alpha), Vector512.Create(bias));
            for (; i <= count - 16; i += 16)
            {
                var v = Vector512.Create<float>(source.Slice(i, 16)) + b;
                var negative = a * (ExpOfNonPositive(Vector512.Min(v, Vector512<float>.Zero)) - Vector512<float>.One);
                Vector512.ConditionalSelect(Vector512.GreaterThan(v, Vector512<float>.Zero), v, negative).CopyTo(destination.Slice(i, 16));
            }
        }
        for (; i < count; i++)
        {
            float v = source[i] + bias;
            destination[i] = v > 0 ? v : alpha * (MathF.Exp(v) - 1);
        }
    }

    /// <summary>
    /// e^x for x &lt;= 0, 16 lanes at a time, within about 2 ulp (Cephes' expf): x = n ln 2 + r with
    /// |r| &lt;= ln 2 / 2, e^r from a degree-6 polynomial, times 2^n built in the exponent bits.
    /// From -87 down the result is flushed to 0: 2^n is built in the exponent bits, which hold no n
    /// below -126, and e^-87 is already within a factor 1.4 of the smallest normal float.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]   // into the loop: a call per 16 lanes costs as much as the polynomial
    private static Vector512<float> ExpOfNonPositive(Vector512<float> x)
    {
        x = Vector512.Max(x, Vector512.Create(-87f));
        var n = Vector512.Round(x * Vector512.Create(1.44269504089f));            // round(x / ln 2), in [-126, 0]
        // x - n ln 2, with ln 2 in two parts (Cody and Waite): 0.693359375 has few mantissa bits, so
        // n times it is exact, and the second, tiny part corrects the rest.
        var r = Vector512.FusedMultiplyAdd(n, Vector512.Create(-0.693359375f), x);
        r = Vector512.FusedMultiplyAdd(n, Vector512.Create(2.12194440e-4f), r);
        var p = Vector512.Create(1.9875691500e-4f);
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1.3981999507e-3f));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(8.3334519073e-3f));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(4.1665795894e-2f));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1.6666665459e-1f));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(5.0000001201e-1f));
        var er = Vector512.FusedMultiplyAdd(p, r * r, r) + Vector512<float>.One;     // e^r
        var twoToN = Vector512.ShiftLeft(Vector512.ConvertToInt32(n) + Vector512.Create(127), 23).AsSingle();
        return Vector512.ConditionalSelect(Vector512.GreaterThan(x, Vector512.Create(-87f)), er * twoToN, Vector512<float>.Zero);
    }

    /// <summary>dx = y > 0 ? dy : dy (y + alpha).</summary>
    public static void EluBackward(ReadOnlyMemory<float> y, ReadOnlyMemory<float> dy, Memory<float> dx, float alpha) =>
        Parallel1D.For(y.Length, (first, count) =>
        {
            var output = y.Span.Slice(first, count);
            var gradient = dy.Span.Slice(first, count);
            var destination = dx.Span.Slice(first, count);
            int i = 0;
            if (Vector512.IsHardwareAccelerated)
            {
                var a = Vector512.Create(alpha);
                for (; i <= count - 16; i += 16)
                {
                    var v = Vector512.Create<float>(output.Slice(i, 16));
                    var g = Vector512.Create<float>(gradient.Slice(i, 16));
                    Vector512.ConditionalSelect(Vector512.GreaterThan(v, Vector512<float>.Zero), g, g * (v + a)).CopyTo(destination.Slice(i, 16));
                }
            }
            for (; i < count; i++) destination[i] = output[i] > 0 ? gradient[i] : gradient[i] * (output[i] + alpha);
        });

    /// <summary>
    /// mask[i] = Philox.Keep(seed, stream, i, p); y = x * mask / (1 - p). One Philox block gives the
    /// words of four consecutive elements; with AVX-512, eight blocks (32 elements) are computed at
    /// once (<see cref="Philox.Blocks8"/>).
    /// </summary>
    public static void DropoutForward(ReadOnlyMemory<float> x, float p, ulong seed, ulong stream, Memory<float> y, Memory<byte> mask)
    {
        uint threshold = Philox.DropThreshold(p);
        float scale = 1f / (1f - p);
        long blocks = (x.Length + 3) / 4;
        Parallel1D.For(blocks, (firstBlock, blockCount) =>
        {
            var source = x.Span;
            var destination = y.Span;
            var keep = mask.Span;
            long block = firstBlock, end = firstBlock + blockCount;
            if (Vector512.IsHardwareAccelerated)
            {
                for (; block + 8 <= end && (block + 8) * 4 <= source.Length; block += 8)
                {
                    // Word k of block + b is lane b of wk (in its low 32 bits). Element order is word 4b + k:
                    // the low words of (w0, w1) and of (w2, w3) interleaved, then those pairs interleaved.
                    var (w0, w1, w2, w3) = Philox.Blocks8(seed, stream, (ulong)block);
                    var words01 = Avx512F.PermuteVar16x32x2(w0.AsUInt32(), Permutes.EvenLanesInterleaved.AsUInt32(), w1.AsUInt32()).AsUInt64();
                    var words23 = Avx512F.PermuteVar16x32x2(w2.AsUInt32(), Permutes.EvenLanesInterleaved.AsUInt32(), w3.AsUInt32()).AsUInt64();
                    int at = (int)(block * 4);
                    KeepOrDrop16(Avx512F.PermuteVar8x64x2(words01, Permutes.InterleavePairsLow.AsUInt64(), words23).AsUInt32(), threshold, scale,
                        source[at..], destination[at..], keep[at..]);   // blocks 0-3
                    KeepOrDrop16(Avx512F.PermuteVar8x64x2(words01, Permutes.InterleavePairsHigh.AsUInt64(), words23).AsUInt32(), threshold, scale,
                        source[(at + 16)..], destination[(at + 16)..], keep[(at + 16)..]);   // blocks 4-7
                }
            }
            for (; block < end; block++)
            {
                var (w0, w1, w2, w3) = Philox.Block(seed, stream, (ulong)block);
                for (int k = 0; k < 4; k++)
                {
                    long i = block * 4 + k;
                    if (i >= source.Length) break;
                    uint word = k switch { 0 => w0, 1 => w1, 2 => w2, _ => w3 };
                    bool kept = (word >> 8) >= threshold;
                    keep[(int)i] = kept ? (byte)1 : (byte)0;
                    destination[(int)i] = kept ? source[(int)i] * scale : 0f;
                }
            }
        });
    }

    /// <summary>16 elements by their 16 random words: kept (scaled, mask 1) when a word's top 24 bits reach the threshold, else 0.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void KeepOrDrop16(Vector512<uint> words, uint threshold, float scale, ReadOnlySpan<float> x, Span<float> y, Span<byte> mask)
    {
        var kept = Vector512.GreaterThanOrEqual(words >> 8, Vector512.Create(threshold));
        Vector512.ConditionalSelect(kept.AsSingle(), Vector512.Create<float>(x[..16]) * Vector512.Create(scale), Vector512<float>.Zero).CopyTo(y);
        Avx512F.ConvertToVector128Byte(kept & Vector512<uint>.One).CopyTo(mask);   // 0 or 1 per element (vpmovdb)
    }

    /// <summary>dx = dy * mask / (1 - p).</summary>
    public static void DropoutBackward(ReadOnlyMemory<float> dy, ReadOnlyMemory<byte> mask, float p, Memory<float> dx)
    {
        float scale = 1f / (1f - p);
        Parallel1D.For(dy.Length, (first, count) =>
        {
            var gradient = dy.Span.Slice(first, count);
            var keep = mask.Span.Slice(first, count);
            var destination = dx.Span.Slice(first, count);
            int i = 0;
            if (Avx512F.IsSupported)
            {
                var s = Vector512.Create(scale);
                for (; i <= count - 16; i += 16)
                {
                    // 16 mask bytes widened to 16 ints (vpmovzxbd), then a branch-free select
                    var kept = ~Vector512.Equals(Avx512F.ConvertToVector512Int32(Vector128.Create<byte>(keep.Slice(i, 16))), Vector512<int>.Zero);
                    Vector512.ConditionalSelect(kept.AsSingle(), Vector512.Create<float>(gradient.Slice(i, 16)) * s, Vector512<float>.Zero).CopyTo(destination[i..]);
                }
            }
            for (; i < count; i++) destination[i] = keep[i] != 0 ? gradient[i] * scale : 0f;
        });
    }
}
