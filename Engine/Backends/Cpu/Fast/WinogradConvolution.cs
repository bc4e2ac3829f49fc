using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace FerEngine.Backends.Cpu.Fast;

/// <summary>
/// What one Winograd tiling F(4x4, k x k) provides: its transforms, for tiles of t x t inputs
/// (t = k + 3) 4 apart giving 4x4 outputs. <see cref="WinogradConvolution"/> runs them.
/// Implemented by <see cref="FastWinograd4x4"/> (k = 3) and <see cref="FastWinograd5x5"/> (k = 5);
/// static members, so the driver's calls are resolved when it is compiled for each tiling.
/// </summary>
internal interface IWinogradTiling
{
    /// <summary>The kernel side k (tiles are k + 3 inputs wide).</summary>
    static abstract int KernelSize { get; }

    /// <summary>Tiles per vector in the input transform: its stores may run this many floats past a tile row.</summary>
    static abstract int Lanes { get; }

    /// <summary>Floats per row of the zero-padded plane the input transform reads: the input's W + p must fit.</summary>
    static abstract int RowStride { get; }

    /// <summary>U_xi = (G g G^T)[xi], packed for the GEMM: Points matrices [Cout, Cin].</summary>
    static abstract Sgemm.PackedMatrix[] TransformWeights(ConvShape s, ReadOnlyMemory<float> w);

    /// <summary>V = B^T d B for every tile of one channel plane: point xi of tile row ty's tiles at v[xi xiStride + ty tw ..].</summary>
    static abstract void TransformInput(ConvShape s, ReadOnlySpan<float> plane, float[] padded, int th, int tw, Span<float> v, int xiStride);

    /// <summary>y = A^T M A + bias for one output plane, from M's tiles at m[xi xiStride + at ..].</summary>
    static abstract void TransformOutput(ConvShape s, float[] m, int at, int xiStride, int th, int tw, float bias, Span<float> output);

    /// <summary>E = A dy_tile A^T of one tile, 16 output channels per vector: dy_tile [4, 4] row-major in, point xi to e[xi pointStride ..].</summary>
    static abstract void TransformGradientTile(ReadOnlySpan<Vector512<float>> dyTile, ref float e, int pointStride);

    /// <summary>dw^T [(ci Taps + tap), co] = (G^T P G)[tap] for input channel ci, from P's rows (ci, xi).</summary>
    static abstract void TransformProducts(ConvShape s, float[] products, int width, int ci, float[] partial);
}

/// <summary>
/// Stride-1 convolutions by Winograd's minimal filtering (Lavin and Gray, 2015), for any tiling
/// F(4x4, k x k) (<see cref="IWinogradTiling"/>): each 4x4 block of outputs comes from a t x t tile
/// of input, t = k + 3, tiles 4 apart:
///   y_tile = A^T [ sum over ci of (G g G^T) .* (B^T d B) ] A
/// where g is the kernel of (co, ci), d the input tile of channel ci and .* elementwise. For each of the
/// t x t points xi of a transformed tile the sum over input channels is a matrix product:
///   M_xi [Cout, tiles] = U_xi [Cout, Cin] x V_xi [Cin, tiles],   U = G g G^T,  V = B^T d B,
/// so a convolution is: transform the weights (once per call), transform every input tile, run t x t
/// GEMMs on <see cref="Sgemm"/>, and transform the products back into 4x4 outputs: t^2 / 16
/// multiply-adds per output and channel pair, where the direct convolution does k^2.
/// The data gradient is a forward convolution (<see cref="FastConvolution.BackwardData"/>); the filter
/// gradient uses the same tiles (<see cref="BackwardFilter{T}"/>).
/// </summary>
internal static class WinogradConvolution
{
    public static int TilesY(ConvShape s) => (s.Ho + 3) / 4;
    public static int TilesX(ConvShape s) => (s.Wo + 3) / 4;

    /// <summary>True for the convolutions tiling T can compute: its kernel size, rows of at most Lanes tiles that fit its padded rows, AVX-512.</summary>
    public static bool Supports<T>(ConvShape s) where T : IWinogradTiling =>
        s.K == T.KernelSize && s.Ho > 0 && s.Wo > 0 && TilesX(s) <= T.Lanes && s.W + s.Padding <= T.RowStride && Avx512F.IsSupported;

    /// <summary>Values per transformed tile, t x t with t = k + 3: the GEMMs per group of images.</summary>
    private static int Points<T>() where T : IWinogradTiling => (T.KernelSize + 3) * (T.KernelSize + 3);

    /// <summary>Floats of the zero-padded plane for th tile rows: tile row ty reads rows 4ty .. 4ty + k + 2.</summary>
    private static int PaddedPlaneSize<T>(int th) where T : IWinogradTiling => (4 * th + T.KernelSize - 1) * T.RowStride;

    /// <summary>
    /// Images go in groups whose tiles form their GEMMs' columns, one group per task. V and M keep a
    /// channel's t x t rows together (channel-major, then xi), so that a transform reads or writes one
    /// compact block rather than t x t far-apart streams; the GEMMs read and write their matrices' rows
    /// t x t rows apart instead. As each GEMM column is summed on its own, results do not depend on the
    /// grouping or on the thread count.
    /// </summary>
    public static void Forward<T>(ConvShape s, ReadOnlyMemory<float> x, ReadOnlyMemory<float> w, ReadOnlyMemory<float> bias, Memory<float> y)
        where T : IWinogradTiling
    {
        int th = TilesY(s), tw = TilesX(s), xSize = s.Cin * s.H * s.W, ySize = s.Cout * s.Ho * s.Wo, points = Points<T>();
        var u = T.TransformWeights(s, w);
        try
        {
            int perGroup = ImagesPerGroup(s, th * tw), groups = (s.N + perGroup - 1) / perGroup;
            // Fewer groups than threads (a batch of one, as `fer predict` on one face, or a whole batch of small
            // maps in one group: ImagesPerGroup): the groups run one at a time and each splits its stages
            // (channels, points) over the threads instead.
            bool splitStages = groups < CpuFastBackend.Threads;
            void Stage(int items, Action<int, int> work)   // work(first, count) over [0, items)
            {
                if (splitStages) Parallel1D.ForEachThread(items, work);
                else work(0, items);
            }
            if (splitStages) for (int group = 0; group < groups; group++) Group(group);
            else ComputeThreads.Run(groups, Group);

            void Group(int group)
            {
                int first = group * perGroup, count = Math.Min(perGroup, s.N - first);
                int tiles = count * th * tw;
                int columns = (tiles + Sgemm.ColumnStep - 1) / Sgemm.ColumnStep * Sgemm.ColumnStep;   // whole GEMM column panels, or a half one last
                int vStride = columns + T.Lanes;                              // a tile row's store may run past the last tile
                int vChannel = ChannelBlock(points * vStride);                // from one channel's rows to the next's
                float[] v = ArrayPool<float>.Shared.Rent(s.Cin * vChannel);                    // row (ci, xi) of V_xi [Cin, columns]
                float[] m = ArrayPool<float>.Shared.Rent(s.Cout * points * columns + T.Lanes);  // row (co, xi) of M_xi [Cout, columns]
                var rowOffsets = new int[s.Cin];
                try
                {
                    for (int ci = 0; ci < s.Cin; ci++)     // columns past the tiles: finite, so the GEMM's discarded columns are too
                        for (int xi = 0; xi < points; xi++)
                            v.AsSpan(ci * vChannel + xi * vStride + tiles, vStride - tiles).Clear();
                    Stage(s.Cin, (firstChannel, channels) =>
                    {
                        float[] padded = ArrayPool<float>.Shared.Rent(PaddedPlaneSize<T>(th));
                        Array.Clear(padded, 0, PaddedPlaneSize<T>(th));   // the border stays zero: only the interior is written
                        for (int ci = firstChannel; ci < firstChannel + channels; ci++)   // channel-major, so that V's block of a channel is written from its start to its end
                            for (int n = first; n < first + count; n++)
                                T.TransformInput(s, x.Span.Slice(n * xSize + ci * s.H * s.W, s.H * s.W), padded, th, tw,
                                    v.AsSpan(ci * vChannel + (n - first) * th * tw), vStride);
                        ArrayPool<float>.Shared.Return(padded);
                    });
                    for (int ci = 0; ci < s.Cin; ci++) rowOffsets[ci] = ci * vChannel;
                    Stage(points, (firstPoint, pointCount) =>
                    {
                        for (int xi = firstPoint; xi < firstPoint + pointCount; xi++)   // M_xi = U_xi x V_xi: rows (co, xi), points * columns apart
                            Sgemm.Multiply(u[xi], columns, v.AsSpan(xi * vStride), rowOffsets, m.AsSpan(xi * columns), points * columns, overwrite: true);
                    });
                    Stage(s.Cout, (firstChannel, channels) =>
                    {
                        for (int co = firstChannel; co < firstChannel + channels; co++)   // channel-major, so that M's block of a channel is read from its start to its end
                            for (int n = first; n < first + count; n++)
                                T.TransformOutput(s, m, co * points * columns + (n - first) * th * tw, columns, th, tw,
                                    bias.IsEmpty ? 0f : bias.Span[co], y.Span.Slice(n * ySize + co * s.Ho * s.Wo, s.Ho * s.Wo));
                    });
                }
                finally
                {
                    ArrayPool<float>.Shared.Return(v);
                    ArrayPool<float>.Shared.Return(m);
                }
            }
        }
        finally
        {
            foreach (var matrix in u) matrix.Dispose();
        }
    }

    /// <summary>
    /// The filter gradient by the same tiling. The forward pass is y_tile = A^T [ sum over ci of
    /// U .* V ] A with U = G g G^T, V = B^T d B; it is linear in g, so for each (co, ci)
    ///   dg [k, k] = G^T [ sum over tiles of (A dy_tile A^T) .* (B^T d B) ] G
    /// where dy_tile is the output gradient's 4x4 block of the tile (zero past the output's edge), A the
    /// t x 4 transpose of A^T, and d the tile's input (the forward's V). Per point xi of the transformed
    /// tile the sum over tiles is a matrix product:
    ///   P_xi [Cin, Cout] = V_xi [Cin, tiles] x E_xi^T [tiles, Cout],   E = A dy A^T,
    /// t x t GEMMs of depth = tiles: t^2 multiply-adds per tile and channel pair where the direct filter
    /// gradient does 16 k^2. V_xi is read in place (rows (ci, xi), channel-major, as in the forward); E is
    /// computed with one output channel per vector lane from dy transposed to [Ho Wo, Cout], so E_xi^T's
    /// rows (one per tile) hold Cout contiguous channels: the layout the GEMM packs without transposing
    /// (a transposed pack is scalar and slow). Images go through in slabs of about
    /// <see cref="SlabTiles"/> tiles: each slab's transforms run in parallel (input channels, images),
    /// then its GEMMs (one per thread at a time) add to P, slab after slab; at the end G^T P G gives dw.
    /// Every P_xi is summed by one GEMM at a time in slab order and the slabs depend on N and the shape
    /// only, so results do not depend on the thread count. P [Cin, t^2, Cout] is read and written once
    /// per slab: with one slab per few images (the 8 chunks of <see cref="FastConvolution.ForEachChunk"/>,
    /// 36 tiles each at 12 x 12) that traffic made conv6 1.5x slower.
    /// </summary>
    public static void BackwardFilter<T>(ConvShape s, ReadOnlyMemory<float> x, ReadOnlyMemory<float> dy, Memory<float> dw, bool accumulate)
        where T : IWinogradTiling
    {
        int th = TilesY(s), tw = TilesX(s), perImage = th * tw, xSize = s.Cin * s.H * s.W, ySize = s.Cout * s.Ho * s.Wo, points = Points<T>();
        int width = (s.Cout + 15) / 16 * 16;   // Cout rounded up to whole vectors (the lanes past Cout are zeros)
        int slabs = Math.Clamp((s.N * perImage + SlabTiles - 1) / SlabTiles, 1, s.N);
        int mostTiles = (s.N + slabs - 1) / slabs * perImage, vStride = mostTiles + T.Lanes;   // a tile row's store may run past the last tile
        int vChannel = ChannelBlock(points * vStride);                              // from one channel's rows to the next's
        float[] v = ArrayPool<float>.Shared.Rent(s.Cin * vChannel);                  // row (ci, xi) of V_xi [Cin, tiles]
        int eStride = ChannelBlock(mostTiles * width);                              // from E_xi^T to E_(xi+1)^T
        float[] e = ArrayPool<float>.Shared.Rent(points * eStride);                  // E_xi^T [tiles, width] at xi eStride
        float[] products = ArrayPool<float>.Shared.Rent(s.Cin * points * width);     // row (ci, xi) of P_xi [Cin, width]
        float[] partial = ArrayPool<float>.Shared.Rent(s.Cin * s.K * s.K * s.Cout);     // dw^T [Cin Taps, Cout]
        var rowOffsets = new int[s.Cin];
        for (int ci = 0; ci < s.Cin; ci++) rowOffsets[ci] = ci * vChannel;
        try
        {
            Parallel1D.For(s.Cin, (first, count) => products.AsSpan(first * points * width, count * points * width).Clear(),   // the GEMMs add to P, slab after slab
                itemSize: points * width);
            for (int slab = 0; slab < slabs; slab++)
            {
                int first = (int)((long)slab * s.N / slabs), count = (int)((long)(slab + 1) * s.N / slabs) - first, tiles = count * perImage;
                Parallel1D.ForEach(s.Cin, ci =>   // V: one input channel per task
                {
                    float[] padded = ArrayPool<float>.Shared.Rent(PaddedPlaneSize<T>(th));
                    Array.Clear(padded, 0, PaddedPlaneSize<T>(th));   // the border stays zero: only the interior is written
                    for (int n = first; n < first + count; n++)
                        T.TransformInput(s, x.Span.Slice(n * xSize + ci * s.H * s.W, s.H * s.W), padded, th, tw,
                            v.AsSpan(ci * vChannel + (n - first) * perImage), vStride);
                    ArrayPool<float>.Shared.Return(padded);
                });
                Parallel1D.ForEach(count, image =>   // E: one image per task
                {
                    float[] gradient = ArrayPool<float>.Shared.Rent(s.Ho * s.Wo * width);   // dy_n transposed: [Ho Wo, width]
                    if (width > s.Cout) Array.Clear(gradient, 0, s.Ho * s.Wo * width);      // channels past Cout stay zero (the transpose writes the rest)
                    FastTranspose.Transpose(dy.Span.Slice((first + image) * ySize, ySize), s.Cout, s.Ho * s.Wo, gradient, width);
                    TransformGradient<T>(s, gradient, width, th, tw, e, eStride, image * perImage);
                    ArrayPool<float>.Shared.Return(gradient);
                });
                Parallel1D.ForEach(points, xi =>   // P_xi += V_xi x E_xi^T: rows (ci, xi), points * width apart
                    Sgemm.Multiply(v.AsSpan(xi * vStride), rowOffsets, transposeB: false, width, tiles,
                        e.AsSpan(xi * eStride), width, products.AsSpan(xi * width), points * width));
            }
            Parallel1D.ForEach(s.Cin, ci => T.TransformProducts(s, products, width, ci, partial));
            FastConvolution.AddChunkSums([partial], s.Cin * s.K * s.K, s.Cout, dw, accumulate);
        }
        finally
        {
            ArrayPool<float>.Shared.Return(v);
            ArrayPool<float>.Shared.Return(e);
            ArrayPool<float>.Shared.Return(products);
            ArrayPool<float>.Shared.Return(partial);
        }
    }

    /// <summary>
    /// E = A dy_tile A^T for every tile of one image, 16 output channels per vector: dy is the image's
    /// gradient transposed, [Ho Wo, width]; tile t of the slab (at + ty tw + tx) goes to row t of each
    /// E_xi^T [tiles, width], e[xi eStride + t width + co], so that each GEMM packs its B from one
    /// contiguous block. A tile's t x t rows land eStride apart, an odd number of cache lines
    /// (<see cref="ChannelBlock"/>). Writing a tile's rows together instead (rows (t, xi)) made this
    /// transform faster, but each GEMM then packed rows t x t x width floats apart; measured in
    /// alternation (10 rounds, batch 32, 2 threads), the paper's filter gradients take 0.86x (conv4)
    /// to 0.94x (conv2) the time this way. Outputs past the edge count as zeros.
    /// </summary>
    private static void TransformGradient<T>(ConvShape s, float[] dy, int width, int th, int tw, float[] e, int eStride, int at) where T : IWinogradTiling
    {
        Span<Vector512<float>> d = stackalloc Vector512<float>[16];   // dy_tile [4, 4]
        ref float dyStart = ref dy[0];
        ref float eStart = ref e[0];
        for (int ty = 0; ty < th; ty++)
            for (int tx = 0; tx < tw; tx++)
            {
                int tile = at + ty * tw + tx;
                for (int c0 = 0; c0 < width; c0 += 16)
                {
                    for (int i = 0; i < 4; i++)
                        for (int j = 0; j < 4; j++)
                        {
                            int oy = 4 * ty + i, ox = 4 * tx + j;
                            d[4 * i + j] = oy < s.Ho && ox < s.Wo ? Vector512.LoadUnsafe(ref dyStart, (nuint)((oy * s.Wo + ox) * width + c0)) : Vector512<float>.Zero;
                        }
                    T.TransformGradientTile(d, ref Unsafe.Add(ref eStart, tile * width + c0), eStride);
                }
            }
    }

    /// <summary>
    /// Output channels first .. first + count (cut at Cout) of w [Cout, Cin k k] as GEMM panels
    /// (<see cref="Sgemm.Pack"/>): column ci k^2 + tap holds that tap of eight output channels, one vector to
    /// widen, zeros past Cout. The tilings' TransformWeights read their kernels from
    /// these; with the taps copied a float at a time from each kernel, conv4 and conv6 took about 1.2x as long.
    /// </summary>
    internal static Sgemm.PackedMatrix KernelPanels(ConvShape s, ReadOnlyMemory<float> w, int first, int count)
    {
        int depth = s.Cin * s.K * s.K;
        return Sgemm.Pack(false, Math.Min(count, s.Cout - first), depth, 1f, w.Span.Slice(first * depth), depth);
    }

    /// <summary>
    /// Floats from one input channel's block of V (its t x t rows) to the next, or from one point's E_xi^T
    /// to the next: at least <paramref name="floats"/>, rounded to an odd number of 64-byte cache lines. A GEMM reads V_xi's
    /// rows, one per channel, a block apart. Blocks of a whole number of 4 KiB (conv2's 64 rows of 304
    /// floats) put all those rows in the same set of the L1 cache, which holds 12 lines per set: the
    /// forward's GEMMs ran at 136 GFLOP/s on one core that way, 178 with the rows spread over the sets.
    /// </summary>
    private static int ChannelBlock(int floats) => ((floats + 15) / 16 | 1) * 16;

    /// <summary>
    /// Tiles per slab: images go through in slabs of about this many tiles (a split fixed by N and the
    /// shape, never by the thread count), each slab's GEMMs adding to P in slab order, one GEMM per
    /// thread at a time. Deep enough that P [Cin, t^2, Cout] is read and written once per 256 tiles
    /// rather than once per few images.
    /// </summary>
    private const int SlabTiles = 256;

    /// <summary>
    /// Images whose tiles share one set of GEMMs: the fewest (up to 8) whose tiles fill whole column
    /// panels (24 x 24 maps, 36 tiles an image: 8 images, 288 tiles; 48 x 48, 144 tiles: 2 images), but
    /// never so many that a thread would get no group. When a group would have fewer tiles than the weights
    /// have output channels (12 x 12 maps, 9 tiles an image: 8 images, 72 tiles, against conv6's 256), each
    /// thread's GEMMs would stream all of U, larger than the group's V, for few columns. Then, if the whole
    /// batch makes one group of at most <see cref="FullGroupTiles"/>, it goes as that one group, and its
    /// stages split over the threads instead: each thread reads the U_xi of its own points only (conv6 at
    /// batch 32, 288 tiles: forward 0.90x and data gradient 0.86x the time; conv3 at batch 8, 144 tiles per
    /// group against 128 channels, ran 1.25x slower split). Each output column of a GEMM is summed alone, in
    /// the same order whatever the grouping, so the grouping never changes a result.
    /// </summary>
    private static int ImagesPerGroup(ConvShape s, int tilesPerImage)
    {
        int most = Math.Clamp((s.N + CpuFastBackend.Threads - 1) / CpuFastBackend.Threads, 1, 8), images = most;
        for (int fewer = 1; fewer < most; fewer++)
            if (fewer * tilesPerImage % Sgemm.NR == 0) { images = fewer; break; }
        if (images * tilesPerImage < s.Cout && s.N * tilesPerImage <= FullGroupTiles) return s.N;
        return images;
    }

    /// <summary>Tiles of a full group: nine column panels, as two 48 x 48 images or eight 24 x 24 ones give.</summary>
    private const int FullGroupTiles = 288;
}
