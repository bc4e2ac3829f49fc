using System.Buffers;
using System.Numerics.Tensors;
using System.Runtime.Intrinsics;

namespace FerEngine.Backends.Cpu.Fast;

/// <summary>
/// Stride-1 convolutions as GEMMs (one per image) whose im2col matrix col [Cin K K, Ho Wo] is never
/// built: on the image zero-padded to [Cin, Hp, Wp] (Hp = H + 2p; Wp = W + p, as each row's right
/// padding is the next row's left padding, <see cref="PaddedLayout"/>) and flattened, tap
/// t = (ci, ky, kx) of output position j = oy Wp + ox is padded[tapOffset[t] + j] with
/// tapOffset[t] = (ci Hp + ky) Wp + kx. So row t of col is the padded image itself, read from
/// tapOffset[t] on, and the GEMM reads it in place (<see cref="PaddedLayout"/>). The products run over
/// every position of the padded width, Ho x Wp: the last Wp - Wo positions of each output row read
/// across the row's end and are discarded (forward) or multiplied by zeros (filter gradient).
///   forward:         y_n [Cout, Ho Wp] = w [Cout, CinKK] x col(x_n) + bias, then the real Ho x Wo copied out
///   backward-data:   dx = forward(dy, w rotated by 180 degrees, channels swapped), padding K - 1 - p
///   backward-filter: dw^T [CinKK, Cout] (+)= sum_n col(x_n) [CinKK, Ho Wp] x dy_n^T [Ho Wp, Cout] (dy zero-extended)
/// 3x3 kernels take <see cref="FastWinograd4x4"/> instead for the forward pass and so for the data
/// gradient (when the call has enough tiles: <see cref="EnoughTilesForWinograd"/>), and for the filter
/// gradient (4x fewer multiplies each), and 5x5 kernels with 32 input channels or more take
/// <see cref="FastWinograd5x5"/> (6.25x fewer). The forward pass and filter gradient of
/// 5x5 kernels on at most 3 input channels (the first layer) take <see cref="FastForwardFewChannels"/> and
/// <see cref="FastFilterGradientFewChannels"/>. Only other
/// convolutions run here.
/// Images are split into fixed contiguous chunks that run in parallel on
/// <see cref="CpuFastBackend.Threads"/> threads (a forward pass of fewer images than threads splits the
/// output channels instead). Each output value is summed in one fixed order whatever the split, and
/// partial filter gradients are reduced in chunk order (chunks fixed by N alone), so results are
/// bitwise identical run to run and for any number of threads: a resumed run continues exactly.
/// </summary>
public static class FastConvolution
{
    public static void Forward(ConvShape s, ReadOnlyMemory<float> x, ReadOnlyMemory<float> w, ReadOnlyMemory<float> bias, Memory<float> y)
    {
        bool enoughTiles = EnoughTilesForWinograd(s);
        if (enoughTiles && WinogradConvolution.Supports<FastWinograd4x4>(s)) { WinogradConvolution.Forward<FastWinograd4x4>(s, x, w, bias, y); return; }   // 3x3: 4x fewer multiply-adds
        if (enoughTiles && TakesWinograd5x5(s)) { WinogradConvolution.Forward<FastWinograd5x5>(s, x, w, bias, y); return; }   // 5x5: 6.25x fewer
        if (FastForwardFewChannels.Supports(s)) { FastForwardFewChannels.Forward(s, x, w, bias, y); return; }   // conv1: direct, no packing
        var layout = new PaddedLayout(s);
        int cinkk = s.Cin * s.K * s.K, xSize = s.Cin * s.H * s.W, ySize = s.Cout * s.Ho * s.Wo;
        int positions = (layout.Positions + Sgemm.NR - 1) / Sgemm.NR * Sgemm.NR;   // whole column panels

        // Images first .. first + count, output channels firstRow .. firstRow + weights.Rows (weights: those rows
        // of w, packed): product [rows, positions] = w x col(x_n) + bias on the padded image, then the real Ho x Wo copied out.
        void ForwardImages(Sgemm.PackedMatrix weights, int firstRow, int first, int count)
        {
            int rows = weights.Rows;
            float[] padded = layout.RentPadded(positions), staging = ArrayPool<float>.Shared.Rent(rows * positions);
            try
            {
                var image = padded.AsSpan(0, layout.PaddedSize(positions));
                var product = staging.AsSpan(0, rows * positions);
                for (int n = first; n < first + count; n++)
                {
                    layout.CopyInterior(x.Span.Slice(n * xSize, xSize), image);
                    for (int r = 0; r < rows; r++) product.Slice(r * positions, positions).Fill(bias.IsEmpty ? 0f : bias.Span[firstRow + r]);
                    Sgemm.Multiply(weights, positions, image, layout.TapOffsets, product, positions);
                    var output = y.Span.Slice(n * ySize, ySize);
                    for (int r = 0; r < rows; r++)
                        for (int oy = 0; oy < s.Ho; oy++)
                            product.Slice(r * positions + oy * layout.Wp, s.Wo).CopyTo(output.Slice(((firstRow + r) * s.Ho + oy) * s.Wo, s.Wo));
                }
            }
            finally
            {
                ArrayPool<float>.Shared.Return(padded);
                ArrayPool<float>.Shared.Return(staging);
            }
        }

        if (s.N >= CpuFastBackend.Threads)
        {
            using var weights = Sgemm.Pack(false, s.Cout, cinkk, 1f, w.Span, cinkk);   // A, packed once for every image
            ForEachChunk(s.N, (chunk, first, count) => ForwardImages(weights, 0, first, count));   // each image's channels all on one thread
        }
        else
        {
            // Fewer images than threads (a batch of one, as `fer predict` on one face): the threads split the
            // output channels instead, in whole row panels, each packing its own rows of the weights.
            Parallel1D.ForEachThread((s.Cout + Sgemm.MR - 1) / Sgemm.MR, (firstPanel, panels) =>
            {
                int firstRow = firstPanel * Sgemm.MR, rows = Math.Min(panels * Sgemm.MR, s.Cout - firstRow);
                using var weights = Sgemm.Pack(false, rows, cinkk, 1f, w.Span.Slice(firstRow * cinkk), cinkk);
                ForwardImages(weights, firstRow, 0, s.N);
            });
        }
    }

    /// <summary>
    /// dx is the forward convolution of dy with the kernel rotated by 180 degrees and its channels
    /// swapped, padded by K - 1 - p (stride 1): dx[ci, y, x] = sum over co, ky, kx of
    /// dy[co, y + p - ky, x + p - kx] w[co, ci, ky, kx]. So it runs on <see cref="Forward"/>'s
    /// implicit-im2col GEMM, with no column matrix.
    /// </summary>
    public static void BackwardData(ConvShape s, ReadOnlyMemory<float> dy, ReadOnlyMemory<float> w, Memory<float> dx)
    {
        int k = s.K, kk = k * k;
        int size = s.Cin * s.Cout * kk;
        var rotated = ArrayPool<float>.Shared.Rent(size);   // [Cin, Cout, K, K]
        try
        {
            Parallel1D.For(s.Cin, (first, count) =>   // rotated's rows in order, each thread its own
            {
                var weights = w.Span;
                for (int ci = first; ci < first + count; ci++)
                    for (int co = 0; co < s.Cout; co++)
                    {
                        var kernel = weights.Slice((co * s.Cin + ci) * kk, kk);
                        var destination = rotated.AsSpan((ci * s.Cout + co) * kk, kk);
                        for (int t = 0; t < kk; t++) destination[kk - 1 - t] = kernel[t];
                    }
            }, itemSize: s.Cout * kk);
            var transposed = new ConvShape(s.N, s.Cout, s.Ho, s.Wo, s.Cin, k, k - 1 - s.Padding);
            Forward(transposed, dy, rotated.AsMemory(0, size), ReadOnlyMemory<float>.Empty, dx);
        }
        finally { ArrayPool<float>.Shared.Return(rotated); }
    }

    public static void BackwardFilter(ConvShape s, ReadOnlyMemory<float> x, ReadOnlyMemory<float> dy, Memory<float> dw, bool accumulate)
    {
        // 3x3: Winograd, 4x fewer multiply-adds. Measured on the paper's 3x3 layers (conv3-conv6): 2.0-2.4x
        // faster at width 1 and batches 8, 32 and 256, 1.2-2.6x at batch 1; at width 0.25 (batch 32)
        // on par for conv3 (16 -> 32 channels) and 1.4-2x faster for the others. So every 3x3 shape takes it.
        if (WinogradConvolution.Supports<FastWinograd4x4>(s)) { WinogradConvolution.BackwardFilter<FastWinograd4x4>(s, x, dy, dw, accumulate); return; }
        if (TakesWinograd5x5(s)) { WinogradConvolution.BackwardFilter<FastWinograd5x5>(s, x, dy, dw, accumulate); return; }
        if (FastFilterGradientFewChannels.Supports(s)) { FastFilterGradientFewChannels.BackwardFilter(s, x, dy, dw, accumulate); return; }   // conv1: dot products, no packing
        var layout = new PaddedLayout(s);
        int cinkk = s.Cin * s.K * s.K, xSize = s.Cin * s.H * s.W, ySize = s.Cout * s.Ho * s.Wo, positions = layout.Positions;
        int size = cinkk * s.Cout;
        // 5x5 into whole vectors of output channels (conv2 at width 0.25, 16 -> 16): every kernel's 25 taps in
        // registers (FilterGradientTaps5x5) instead of the GEMM, whose only 16 columns leave half its tile empty.
        // With full tiles the two are about even (64 -> 64 on 96 x 96 images, wider than Winograd's rows:
        // 57 ms against the GEMM's 54-61, batch 8, alternated 4 times).
        bool tapsInRegisters = s.K == 5 && s.Cout % 16 == 0 && Vector512.IsHardwareAccelerated;
        // Per chunk: dw^T [CinKK, Cout], pooled: a fresh megabyte-sized array per chunk and call costs page faults.
        var partials = new float[ChunkCount(s.N)][];
        try
        {
            ForEachChunk(s.N, (chunk, first, count) =>
            {
                var partial = partials[chunk] = ArrayPool<float>.Shared.Rent(size);
                float[] padded = layout.RentPadded(positions), dyRows = ArrayPool<float>.Shared.Rent(s.Cout * positions);
                try
                {
                    Array.Clear(partial, 0, size);
                    var image = padded.AsSpan(0, layout.PaddedSize(positions));
                    // dy_n on the padded width, [Cout, Ho x Wp] for the GEMM or transposed, [Ho x Wp, Cout], for the
                    // taps: zero at the discarded positions, which are never written.
                    var gradient = dyRows.AsSpan(0, s.Cout * positions);
                    gradient.Clear();
                    for (int n = first; n < first + count; n++)
                    {
                        layout.CopyInterior(x.Span.Slice(n * xSize, xSize), image);
                        var dyn = dy.Span.Slice(n * ySize, ySize);
                        if (tapsInRegisters)
                        {
                            for (int oy = 0; oy < s.Ho; oy++)   // dy_n[:, oy, :] [Cout, Wo] -> rows oy Wp .. oy Wp + Wo
                                FastTranspose.Transpose(dyn[(oy * s.Wo)..], s.Cout, s.Wo, s.Ho * s.Wo, gradient[(oy * layout.Wp * s.Cout)..], s.Cout);
                            for (int ci = 0; ci < s.Cin; ci++)
                                for (int co = 0; co < s.Cout; co += 16)
                                    FilterGradientTaps5x5.Add(image[layout.TapOffsets[ci * 25]..], layout.Wp, positions, gradient[co..], s.Cout,
                                        partial.AsSpan(ci * 25 * s.Cout + co, 25 * s.Cout - co));
                        }
                        else
                        {
                            for (int co = 0; co < s.Cout; co++)
                                for (int oy = 0; oy < s.Ho; oy++)
                                    dyn.Slice((co * s.Ho + oy) * s.Wo, s.Wo).CopyTo(gradient.Slice(co * positions + oy * layout.Wp));
                            // A = col(x_n) read in place from the padded image, B = dy_n^T.
                            Sgemm.Multiply(image, layout.TapOffsets, transposeB: true, s.Cout, positions, gradient, positions, partial, s.Cout);
                        }
                    }
                }
                finally
                {
                    ArrayPool<float>.Shared.Return(padded);
                    ArrayPool<float>.Shared.Return(dyRows);
                }
            });
            AddChunkSums(partials, cinkk, s.Cout, dw, accumulate);
        }
        finally
        {
            foreach (var partial in partials) if (partial is not null) ArrayPool<float>.Shared.Return(partial);
        }
    }

    /// <summary>
    /// Winograd's forward pass transforms the weights on every call and runs its GEMMs over the call's tiles
    /// in panels of 32 columns, so with few tiles that fixed cost and the panels' empty columns outweigh its
    /// fewer multiplies. Measured (`primitives --batch B --only forward`, 2 threads, ms, Winograd against direct):
    ///   batch 1: conv3 0.50 / 0.29, conv4 0.89 / 0.53 (36 tiles), conv5 1.10 / 0.35, conv6 2.02 / 0.63 (9 tiles),
    ///            but conv2 1.17 / 1.34 (144 tiles);
    ///   batch 2: conv5 1.38 / 0.86, conv6 3.10 / 1.98 (18 tiles); conv3 and conv4 even (72 tiles);
    ///   batch 4: conv5 1.37 / 1.56, conv6 3.15 / 3.25 (36 tiles: direct, a little slower);
    ///   batch 8: Winograd faster on every layer (72 tiles and more).
    /// The 36 tiles of batch 4 at 12 x 12 are also those of batch 1 at 24 x 24, where direct is 1.7x faster, so 64 it is.
    /// </summary>
    private static bool EnoughTilesForWinograd(ConvShape s) => s.N * WinogradConvolution.TilesY(s) * WinogradConvolution.TilesX(s) >= 64;

    /// <summary>
    /// 5x5 convolutions with 32 input channels or more take Winograd: conv2 at width 1 (64 -> 64)
    /// runs about 2x faster in all three directions. With fewer, the transforms (once per tile and
    /// channel) outweigh the GEMMs they shorten: conv1 (1 -> 64) ran 2-3x slower forward and 5x slower
    /// in its filter gradient, and conv2 at width 0.25 (16 -> 16) no faster forward. There, too, its
    /// rounding (3e-6 against direct float32's 1e-7) moved the golden step's gender loss 1.2e-5 from
    /// PyTorch's, past that test's 1e-5.
    /// </summary>
    private static bool TakesWinograd5x5(ConvShape s) => WinogradConvolution.Supports<FastWinograd5x5>(s) && s.Cin >= 32;

    /// <summary>
    /// dw [Cout, CinKK] (+)= the sum of the chunks' dw^T [CinKK, Cout]: summed in chunk order (fixed:
    /// reproducible sums), contiguous and vectorised, then the total transposed into dw once; each thread
    /// sums and transposes its own rows of dw^T (on one thread, conv6's 590,000 took 0.2 ms, its filter
    /// gradient's last serial stretch). The sum is left in partials[0].
    /// </summary>
    internal static void AddChunkSums(float[][] partials, int cinkk, int cout, Memory<float> dw, bool accumulate)
    {
        int size = cinkk * cout;
        float[] total = partials[0];
        float[]? transposed = accumulate ? ArrayPool<float>.Shared.Rent(size) : null;   // dw^T transposed, then added to dw
        try
        {
            Parallel1D.For(cinkk, (first, count) =>
            {
                var rows = total.AsSpan(first * cout, count * cout);
                for (int c = 1; c < partials.Length; c++) TensorPrimitives.Add(rows, partials[c].AsSpan(first * cout, count * cout), rows);
                var destination = transposed is null ? dw.Span[..size] : transposed.AsSpan(0, size);
                FastTranspose.Transpose(rows, count, cout, cout, destination[first..], cinkk);   // rows first .. of dw^T: columns first .. of dw
            }, itemSize: cout);
            if (transposed is not null) TensorPrimitives.Add(dw.Span[..size], transposed.AsSpan(0, size), dw.Span[..size]);
        }
        finally { if (transposed is not null) ArrayPool<float>.Shared.Return(transposed); }
    }

    /// <summary>
    /// The zero-padded image [Cin, Hp, Wp] the GEMMs read col from: each tap's offset, and how many
    /// floats a product over a given number of positions reads. Rows are p zeros then W pixels, so
    /// fewer positions are computed and discarded: at 12 x 12 (conv5, conv6) 12 x 13 = 156 of them,
    /// 5 column panels, where rows of W + 2p gave 168, rounded up to 6 panels.
    /// </summary>
    private sealed class PaddedLayout
    {
        private readonly ConvShape _s;

        public PaddedLayout(ConvShape s)
        {
            _s = s;
            Hp = s.H + 2 * s.Padding;
            // Each row is p zeros then W pixels: the right padding of a row is the next row's left
            // padding (rows read by an output row reach at most p past its end). That needs the
            // output row to fit, Wo <= W + p, which holds when p < K (every padding we use).
            Wp = s.Padding < s.K ? s.W + s.Padding : s.W + 2 * s.Padding;
            TapOffsets = new int[s.Cin * s.K * s.K];
            for (int t = 0; t < TapOffsets.Length; t++)
            {
                int ci = t / (s.K * s.K), ky = t / s.K % s.K, kx = t % s.K;
                TapOffsets[t] = (ci * Hp + ky) * Wp + kx;
            }
        }

        public int Hp { get; }
        public int Wp { get; }
        /// <summary>Output positions on the padded width: Ho x Wp.</summary>
        public int Positions => _s.Ho * Wp;
        /// <summary>tapOffset[t] = (ci Hp + ky) Wp + kx for t = (ci K + ky) K + kx.</summary>
        public int[] TapOffsets { get; }

        /// <summary>Floats read by products over <paramref name="positions"/> positions: up to the last tap's row end.</summary>
        public int PaddedSize(int positions) => TapOffsets[^1] + positions;

        /// <summary>A pooled buffer for the padded image, zeroed: its border stays zero, as only the interior is written.</summary>
        public float[] RentPadded(int positions)
        {
            var buffer = ArrayPool<float>.Shared.Rent(PaddedSize(positions));
            Array.Clear(buffer, 0, PaddedSize(positions));
            return buffer;
        }

        /// <summary>Writes image [Cin, H, W] into the interior of padded.</summary>
        public void CopyInterior(ReadOnlySpan<float> image, Span<float> padded)
        {
            for (int ci = 0; ci < _s.Cin; ci++)
                for (int iy = 0; iy < _s.H; iy++)
                    image.Slice((ci * _s.H + iy) * _s.W, _s.W).CopyTo(padded[((ci * Hp + iy + _s.Padding) * Wp + _s.Padding)..]);
        }
    }

    /// <summary>Chunks per call: enough to keep a many-core machine busy, fixed so that sums do not depend on the thread count.</summary>
    private const int MaxChunks = 8;

    /// <summary>Chunk c covers images [c*N/C, (c+1)*N/C) with C = min(N, 8): a split that depends on N only.</summary>
    internal static int ChunkCount(int n) => Math.Max(1, Math.Min(n, MaxChunks));

    /// <summary>Runs work(chunk, first, count) for each chunk, in parallel.</summary>
    internal static void ForEachChunk(int n, Action<int, int, int> work)
    {
        int chunks = ChunkCount(n);
        ComputeThreads.Run(chunks, c =>
        {
            int first = (int)((long)c * n / chunks), last = (int)((long)(c + 1) * n / chunks);
            if (last > first) work(c, first, last - first);
        });
    }
}
