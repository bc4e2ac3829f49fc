using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace FerEngine.Backends.Cpu.Fast;

/// <summary>
/// 2x2 max-pooling with stride 2 over planes [H, W] -> [H/2, W/2], with each window's winner 0..3
/// (top-left, top-right, bottom-left, bottom-right): the first maximum wins, and so does the first
/// NaN, as in the reference. With AVX-512, 16 windows at a time and without branches: the even and
/// odd columns of a row pair are separated by a two-vector permute (vpermt2ps).
/// </summary>
public static class FastMaxPool
{
    public static void Forward(int planes, int h, int w, ReadOnlyMemory<float> x, Memory<float> y, Memory<int> argmax)
    {
        int ho = h / 2, wo = w / 2;
        Parallel1D.For(planes, (firstPlane, count) =>
        {
            ReadOnlySpan<float> input = x.Span;
            Span<float> output = y.Span;
            Span<int> winners = argmax.Span;
            int outputEnd = (firstPlane + count) * ho * wo;   // this chunk's outputs end here
            for (int plane = firstPlane; plane < firstPlane + count; plane++)
                for (int oy = 0; oy < ho; oy++)
                {
                    int topStart = (plane * h + 2 * oy) * w, outputStart = (plane * ho + oy) * wo;
                    if (Avx512F.IsSupported && wo < 16 && topStart + w + 32 <= input.Length && outputStart + 16 <= outputEnd)
                    {
                        // A row of fewer than 16 windows (pool2's 12, pool3's 6) as one block read and written past
                        // its end: the extra windows' values land on the rows after it, which are written later.
                        ForwardBlock512(input.Slice(topStart, 32), input.Slice(topStart + w, 32), output.Slice(outputStart, 16), winners.Slice(outputStart, 16));
                        continue;
                    }
                    var top = input.Slice(topStart, w);
                    var bottom = input.Slice(topStart + w, w);
                    var best = output.Slice(outputStart, wo);
                    var winner = winners.Slice(outputStart, wo);
                    if (Avx512F.IsSupported) { ForwardRow512(top, bottom, best, winner); continue; }
                    for (int ox = 0; ox < wo; ox++)
                    {
                        float value = top[2 * ox];
                        int index = 0;
                        Take(ref value, ref index, top[2 * ox + 1], 1);
                        Take(ref value, ref index, bottom[2 * ox], 2);
                        Take(ref value, ref index, bottom[2 * ox + 1], 3);
                        best[ox] = value;
                        winner[ox] = index;
                    }
                }
        }, itemSize: h * w);
    }

    /// <summary>dx gets each window's gradient at its winner and zeros elsewhere; every element of dx is written.</summary>
    public static void Backward(int planes, int h, int w, ReadOnlyMemory<float> dy, ReadOnlyMemory<int> argmax, Memory<float> dx)
    {
        int ho = h / 2, wo = w / 2;
        Parallel1D.For(planes, (firstPlane, count) =>
        {
            ReadOnlySpan<float> outputGradient = dy.Span;
            ReadOnlySpan<int> winners = argmax.Span;
            Span<float> inputGradient = dx.Span;
            bool covered = h % 2 == 0 && w % 2 == 0;   // every element of dx is in a window
            int inputEnd = (firstPlane + count) * h * w;  // this chunk's part of dx ends here
            for (int plane = firstPlane; plane < firstPlane + count; plane++)
            {
                var planeGradient = inputGradient.Slice(plane * h * w, h * w);
                if (!covered) planeGradient.Clear();   // the last row or column no window covers
                for (int oy = 0; oy < ho; oy++)
                {
                    int gradientStart = (plane * ho + oy) * wo, topStart = (plane * h + 2 * oy) * w;
                    if (Avx512F.IsSupported && covered && wo < 16 && gradientStart + 16 <= outputGradient.Length && topStart + w + 32 <= inputEnd)
                    {
                        // As in Forward: the block's extra columns land on the rows after these two, written later.
                        BackwardBlock512(outputGradient.Slice(gradientStart, 16), winners.Slice(gradientStart, 16),
                            inputGradient.Slice(topStart, 32), inputGradient.Slice(topStart + w, 32));
                        continue;
                    }
                    var gradient = outputGradient.Slice((plane * ho + oy) * wo, wo);
                    var winner = winners.Slice((plane * ho + oy) * wo, wo);
                    var top = planeGradient.Slice(2 * oy * w, w);
                    var bottom = planeGradient.Slice((2 * oy + 1) * w, w);
                    if (Avx512F.IsSupported) { BackwardRow512(gradient, winner, top, bottom); continue; }
                    for (int ox = 0; ox < wo; ox++)
                    {
                        float g = gradient[ox];
                        int index = winner[ox];
                        top[2 * ox] = index == 0 ? g : 0f;
                        top[2 * ox + 1] = index == 1 ? g : 0f;
                        bottom[2 * ox] = index == 2 ? g : 0f;
                        bottom[2 * ox + 1] = index == 3 ? g : 0f;
                    }
                }
            }
        }, itemSize: h * w);
    }

    /// <summary>The window rule: a larger candidate wins, and so does a NaN over a number.</summary>
    private static void Take(ref float best, ref int winner, float candidate, int index)
    {
        if (candidate > best || float.IsNaN(candidate) && !float.IsNaN(best)) { best = candidate; winner = index; }
    }

    /// <summary>
    /// One output row, 16 windows at a time. A last, partial block is the row's last 16 windows when
    /// there are that many (it recomputes some, writing the same values); shorter rows run on
    /// zero-padded copies (only where a block may not run on past the row: the last rows of a chunk).
    /// </summary>
    private static void ForwardRow512(ReadOnlySpan<float> top, ReadOnlySpan<float> bottom, Span<float> best, Span<int> winner)
    {
        int ox = 0, wo = best.Length;
        for (; ox + 16 <= wo; ox += 16) ForwardBlock512(top.Slice(2 * ox, 32), bottom.Slice(2 * ox, 32), best.Slice(ox, 16), winner.Slice(ox, 16));
        if (ox < wo && wo >= 16)
        {
            ox = wo - 16;
            ForwardBlock512(top.Slice(2 * ox, 32), bottom.Slice(2 * ox, 32), best.Slice(ox, 16), winner.Slice(ox, 16));
        }
        else if (ox < wo)
        {
            int rest = wo - ox;
            Span<float> topPart = stackalloc float[32], bottomPart = stackalloc float[32], bestPart = stackalloc float[16];
            Span<int> winnerPart = stackalloc int[16];
            top.Slice(2 * ox, 2 * rest).CopyTo(topPart);
            bottom.Slice(2 * ox, 2 * rest).CopyTo(bottomPart);
            ForwardBlock512(topPart, bottomPart, bestPart, winnerPart);
            bestPart[..rest].CopyTo(best[ox..]);
            winnerPart[..rest].CopyTo(winner[ox..]);
        }
    }

    /// <summary>16 windows: 32 columns of the top and bottom rows -> 16 maxima and winners.</summary>
    private static void ForwardBlock512(ReadOnlySpan<float> top, ReadOnlySpan<float> bottom, Span<float> best, Span<int> winner)
    {
        // The windows' left (even) and right (odd) columns of each row.
        var top0 = Vector512.Create(top[..16]);
        var top1 = Vector512.Create(top[16..]);
        var bottom0 = Vector512.Create(bottom[..16]);
        var bottom1 = Vector512.Create(bottom[16..]);
        var value = Avx512F.PermuteVar16x32x2(top0, Permutes.EvenColumns, top1);
        var index = Vector512<int>.Zero;
        Take(ref value, ref index, Avx512F.PermuteVar16x32x2(top0, Permutes.OddColumns, top1), 1);
        Take(ref value, ref index, Avx512F.PermuteVar16x32x2(bottom0, Permutes.EvenColumns, bottom1), 2);
        Take(ref value, ref index, Avx512F.PermuteVar16x32x2(bottom0, Permutes.OddColumns, bottom1), 3);
        value.CopyTo(best);
        index.CopyTo(winner);
    }

    /// <summary><see cref="Take(ref float, ref int, float, int)"/> for 16 windows at once.</summary>
    private static void Take(ref Vector512<float> best, ref Vector512<int> winner, Vector512<float> candidate, int index)
    {
        var candidateIsNaN = ~Vector512.Equals(candidate, candidate);
        var bestIsNaN = ~Vector512.Equals(best, best);
        var take = Vector512.GreaterThan(candidate, best) | (candidateIsNaN & ~bestIsNaN);
        best = Vector512.ConditionalSelect(take, candidate, best);
        winner = Vector512.ConditionalSelect(take.AsInt32(), Vector512.Create(index), winner);
    }

    /// <summary>One output row into its two input rows, 16 windows at a time; a last, partial block as in <see cref="ForwardRow512"/>.</summary>
    private static void BackwardRow512(ReadOnlySpan<float> gradient, ReadOnlySpan<int> winner, Span<float> top, Span<float> bottom)
    {
        int ox = 0, wo = gradient.Length;
        for (; ox + 16 <= wo; ox += 16) BackwardBlock512(gradient.Slice(ox, 16), winner.Slice(ox, 16), top.Slice(2 * ox, 32), bottom.Slice(2 * ox, 32));
        if (ox < wo && wo >= 16)
        {
            ox = wo - 16;
            BackwardBlock512(gradient.Slice(ox, 16), winner.Slice(ox, 16), top.Slice(2 * ox, 32), bottom.Slice(2 * ox, 32));
        }
        else if (ox < wo)
        {
            int rest = wo - ox;
            Span<float> gradientPart = stackalloc float[16], topPart = stackalloc float[32], bottomPart = stackalloc float[32];
            Span<int> winnerPart = stackalloc int[16];
            gradient[ox..].CopyTo(gradientPart);
            winner[ox..].CopyTo(winnerPart);
            BackwardBlock512(gradientPart, winnerPart, topPart, bottomPart);
            topPart[..(2 * rest)].CopyTo(top[(2 * ox)..]);
            bottomPart[..(2 * rest)].CopyTo(bottom[(2 * ox)..]);
        }
    }

    /// <summary>16 windows: their gradients and winners -> 32 columns of the top and bottom rows.</summary>
    private static void BackwardBlock512(ReadOnlySpan<float> gradient, ReadOnlySpan<int> winner, Span<float> top, Span<float> bottom)
    {
        var g = Vector512.Create(gradient);
        var index = Vector512.Create(winner);
        WriteRow(Only(0), Only(1), top);
        WriteRow(Only(2), Only(3), bottom);

        Vector512<float> Only(int window) => Vector512.ConditionalSelect(Vector512.Equals(index, Vector512.Create(window)).AsSingle(), g, Vector512<float>.Zero);

        // 16 left and 16 right values -> 32 columns: left0 right0 left1 right1 ...
        static void WriteRow(Vector512<float> left, Vector512<float> right, Span<float> row)
        {
            Avx512F.PermuteVar16x32x2(left, Permutes.InterleaveLow, right).CopyTo(row);
            Avx512F.PermuteVar16x32x2(left, Permutes.InterleaveHigh, right).CopyTo(row[16..]);
        }
    }
}
