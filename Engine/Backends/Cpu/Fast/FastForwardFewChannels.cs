using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace FerEngine.Backends.Cpu.Fast;

/// <summary>
/// The forward pass of a 5x5 stride-1 convolution on few input channels: the network's first layer,
/// which sees the grey (1 channel) or colour (3 channels) image. Computed directly,
///   y[n, co, oy, ox] = bias[co] + sum over ci, ky, kx of w[co, ci, ky, kx] x_padded[n, ci, oy + ky, ox + kx],
/// eight output channels by 48 output columns at a time: 24 sums (8 channels x 3 vectors of 16 columns)
/// stay in registers while, for each of the Cin x 25 taps, three vectors of the padded input row meet
/// eight broadcast weights (24 multiply-adds for 3 loads and 8 broadcasts). As a GEMM
/// (<see cref="FastConvolution.Forward"/>) the product is only Cin x 25 deep, too shallow to pay for its
/// packing and tiles: conv1's forward ran at a quarter of the FMA peak that way.
/// Each (image, block of 8 channels) is one task; every output is summed in the same order whatever
/// the thread count.
/// </summary>
internal static class FastForwardFewChannels
{
    private const int K = 5, Taps = K * K, Lanes = 16, Block = 3 * Lanes, Channels = 8;

    /// <summary>5x5 kernels on at most 3 input channels, with AVX-512.</summary>
    public static bool Supports(ConvShape s) => s.K == K && s.Cin <= 3 && s.Ho > 0 && s.Wo > 0 && Vector512.IsHardwareAccelerated;

    public static void Forward(ConvShape s, ReadOnlyMemory<float> x, ReadOnlyMemory<float> w, ReadOnlyMemory<float> bias, Memory<float> y)
    {
        if (x.Length < s.N * s.Cin * s.H * s.W || w.Length < s.Cout * s.Cin * Taps || y.Length < s.N * s.Cout * s.Ho * s.Wo
            || (!bias.IsEmpty && bias.Length < s.Cout))
            throw new ArgumentException($"Tensors too small for the convolution {s}.");
        int blocks = (s.Wo + Block - 1) / Block;              // column blocks of 48 per output row
        int hp = s.Ho + K - 1, wp = blocks * Block + K - 1;   // padded input plane: a block's taps read up to column 48 + 3 past its start
        int plane = hp * wp, channelBlocks = (s.Cout + Channels - 1) / Channels, taps = s.Cin * Taps;
        float[] padded = FastFilterGradientFewChannels.RentPaddedPlanes(s, x.Span, hp, wp);   // [N, Cin, hp, wp]
        float[] weights = ArrayPool<float>.Shared.Rent(channelBlocks * taps * Channels);   // [channel block][tap][8], zero past Cout
        float[] biases = ArrayPool<float>.Shared.Rent(channelBlocks * Channels);
        int[] tapOffsets = new int[taps];                                                  // tap (ci, ky, kx) reads from ci plane + ky wp + kx
        try
        {
            Array.Clear(weights, 0, channelBlocks * taps * Channels);
            Array.Clear(biases, 0, channelBlocks * Channels);
            for (int co = 0; co < s.Cout; co++)
            {
                for (int t = 0; t < taps; t++) weights[(co / Channels * taps + t) * Channels + co % Channels] = w.Span[co * taps + t];
                biases[co] = bias.IsEmpty ? 0f : bias.Span[co];
            }
            for (int ci = 0; ci < s.Cin; ci++)
                for (int ky = 0; ky < K; ky++)
                    for (int kx = 0; kx < K; kx++)
                        tapOffsets[ci * Taps + ky * K + kx] = ci * plane + ky * wp + kx;

            Parallel1D.For((long)s.N * channelBlocks, (first, count) =>
            {
                Span<float> edge = stackalloc float[Channels * Block];
                for (int item = first; item < first + count; item++)
                {
                    int n = item / channelBlocks, block = item % channelBlocks;
                    int channels = Math.Min(Channels, s.Cout - block * Channels);
                    ref float input = ref padded[n * s.Cin * plane];
                    ref float blockWeights = ref weights[block * taps * Channels];
                    var output = y.Span.Slice((n * s.Cout + block * Channels) * s.Ho * s.Wo, channels * s.Ho * s.Wo);
                    for (int oy = 0; oy < s.Ho; oy++)
                        for (int column = 0; column < blocks * Block; column += Block)
                        {
                            int columns = Math.Min(Block, s.Wo - column);
                            EightByFortyEight(taps, ref Unsafe.Add(ref input, oy * wp + column), tapOffsets, ref blockWeights,
                                biases.AsSpan(block * Channels, Channels), edge);
                            for (int c = 0; c < channels; c++)
                                edge.Slice(c * Block, columns).CopyTo(output.Slice((c * s.Ho + oy) * s.Wo + column, columns));
                        }
                }
            }, itemSize: Channels * s.Ho * s.Wo);
        }
        finally
        {
            ArrayPool<float>.Shared.Return(padded);
            ArrayPool<float>.Shared.Return(weights);
            ArrayPool<float>.Shared.Return(biases);
        }
    }

    /// <summary>
    /// sums[c, 0..48] = bias[c] + 48 outputs of channel c of a block of eight, the row segment that starts at
    /// <paramref name="input"/>: for each tap t, the input vectors at input[tapOffsets[t] + 0, 16, 32] times
    /// weights[t * 8 + c]. The loop calls nothing, so the 24 sums stay in registers (no vector register
    /// survives a call on Linux).
    /// </summary>
    private static void EightByFortyEight(int taps, ref float input, int[] tapOffsets, ref float weights, ReadOnlySpan<float> bias, Span<float> sums)
    {
        Vector512<float> s00 = Vector512.Create(bias[0]), s01 = s00, s02 = s00, s10 = Vector512.Create(bias[1]), s11 = s10, s12 = s10;
        Vector512<float> s20 = Vector512.Create(bias[2]), s21 = s20, s22 = s20, s30 = Vector512.Create(bias[3]), s31 = s30, s32 = s30;
        Vector512<float> s40 = Vector512.Create(bias[4]), s41 = s40, s42 = s40, s50 = Vector512.Create(bias[5]), s51 = s50, s52 = s50;
        Vector512<float> s60 = Vector512.Create(bias[6]), s61 = s60, s62 = s60, s70 = Vector512.Create(bias[7]), s71 = s70, s72 = s70;
        ref int offset = ref MemoryMarshal.GetArrayDataReference(tapOffsets);
        for (int t = 0; t < taps; t++)
        {
            ref float row = ref Unsafe.Add(ref input, Unsafe.Add(ref offset, t));
            var x0 = Vector512.LoadUnsafe(ref row);
            var x1 = Vector512.LoadUnsafe(ref row, Lanes);
            var x2 = Vector512.LoadUnsafe(ref row, 2 * Lanes);
            ref float tapWeights = ref Unsafe.Add(ref weights, t * Channels);
            var v = Vector512.Create(tapWeights); s00 = Fma(v, x0, s00); s01 = Fma(v, x1, s01); s02 = Fma(v, x2, s02);
            v = Vector512.Create(Unsafe.Add(ref tapWeights, 1)); s10 = Fma(v, x0, s10); s11 = Fma(v, x1, s11); s12 = Fma(v, x2, s12);
            v = Vector512.Create(Unsafe.Add(ref tapWeights, 2)); s20 = Fma(v, x0, s20); s21 = Fma(v, x1, s21); s22 = Fma(v, x2, s22);
            v = Vector512.Create(Unsafe.Add(ref tapWeights, 3)); s30 = Fma(v, x0, s30); s31 = Fma(v, x1, s31); s32 = Fma(v, x2, s32);
            v = Vector512.Create(Unsafe.Add(ref tapWeights, 4)); s40 = Fma(v, x0, s40); s41 = Fma(v, x1, s41); s42 = Fma(v, x2, s42);
            v = Vector512.Create(Unsafe.Add(ref tapWeights, 5)); s50 = Fma(v, x0, s50); s51 = Fma(v, x1, s51); s52 = Fma(v, x2, s52);
            v = Vector512.Create(Unsafe.Add(ref tapWeights, 6)); s60 = Fma(v, x0, s60); s61 = Fma(v, x1, s61); s62 = Fma(v, x2, s62);
            v = Vector512.Create(Unsafe.Add(ref tapWeights, 7)); s70 = Fma(v, x0, s70); s71 = Fma(v, x1, s71); s72 = Fma(v, x2, s72);
        }
        Store(sums, 0, s00, s01, s02); Store(sums, 1, s10, s11, s12); Store(sums, 2, s20, s21, s22); Store(sums, 3, s30, s31, s32);
        Store(sums, 4, s40, s41, s42); Store(sums, 5, s50, s51, s52); Store(sums, 6, s60, s61, s62); Store(sums, 7, s70, s71, s72);
    }

    private static void Store(Span<float> sums, int channel, Vector512<float> a, Vector512<float> b, Vector512<float> c)
    {
        var row = sums.Slice(channel * Block, Block);
        a.CopyTo(row);
        b.CopyTo(row[Lanes..]);
        c.CopyTo(row[(2 * Lanes)..]);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Fma(Vector512<float> a, Vector512<float> b, Vector512<float> sum) => Vector512.FusedMultiplyAdd(a, b, sum);
}
