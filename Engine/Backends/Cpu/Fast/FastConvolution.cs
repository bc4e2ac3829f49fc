using System.Buffers;
using System.Numerics.Tensors;

namespace FerEngine.Backends.Cpu.Fast;

/// <summary>
/// Stride-1 convolutions as GEMMs over <see cref="Im2Col"/> (one per image; small images share
/// one), images split into fixed contiguous chunks that run in parallel on
/// <see cref="CpuFastBackend.Threads"/> threads. The split depends only on N (never on the thread
/// count) and partial filter gradients are reduced in chunk order, so results are bitwise
/// identical run to run and for any number of threads: a resumed run continues exactly.
///   forward:         y_n [Cout, HoWo] = w [Cout, CinKK] x col(x_n) + bias
///   backward-data:   dx = forward(dy, w rotated by 180 degrees, channels swapped), padding K - 1 - p
///   backward-filter: dw^T [CinKK, Cout] (+)= sum_n col(x_n) [CinKK, HoWo] x dy_n^T [HoWo, Cout]
/// </summary>
public static class FastConvolution
{
    /// <summary>
    /// Images smaller than this many output pixels share one GEMM (their columns side by side), so
    /// that packing the weights, which is as much work as the product for a 12 x 12 map, is paid once
    /// per group. Each output is the same sum in the same order either way.
    /// </summary>
    private const int ColumnsPerGemm = 576;

    public static void Forward(ConvShape s, ReadOnlyMemory<float> x, ReadOnlyMemory<float> w, ReadOnlyMemory<float> bias, Memory<float> y)
    {
        int cinkk = s.Cin * s.K * s.K, hw = s.Ho * s.Wo, xSize = s.Cin * s.H * s.W, ySize = s.Cout * hw;
        int group = Math.Max(1, ColumnsPerGemm / hw);
        using var weights = Sgemm.Pack(false, s.Cout, cinkk, 1f, w.Span, cinkk);   // A, packed once for every image
        ForEachChunk(s.N, (chunk, first, count) =>
        {
            float[]? shared = group > 1 ? ArrayPool<float>.Shared.Rent(s.Cout * group * hw) : null;
            try
            {
                for (int n = first; n < first + count; n += group)
                {
                    int images = Math.Min(group, first + count - n), cols = images * hw;
                    // C [Cout, images * HoWo]: y_n itself for one image, else a staging matrix scattered below.
                    var output = shared is null ? y.Span.Slice(n * ySize, ySize) : shared.AsSpan(0, s.Cout * cols);
                    for (int co = 0; co < s.Cout; co++) output.Slice(co * cols, cols).Fill(bias.IsEmpty ? 0f : bias.Span[co]);
                    var batch = x.Slice(n * xSize, images * xSize);
                    // B = col(x_n .. x_n+images-1), packed panel by panel straight from the images: no col matrix in memory.
                    Sgemm.Multiply(weights, cols, 1f, output, cols,
                        (pc, kc, j0, c, panel, nr) => Im2Col.PackPanel(s, batch.Span, pc, kc, j0, c, panel, nr));
                    if (shared is null) continue;
                    for (int i = 0; i < images; i++)
                        for (int co = 0; co < s.Cout; co++)
                            output.Slice(co * cols + i * hw, hw).CopyTo(y.Span.Slice((n + i) * ySize + co * hw, hw));
                }
            }
            finally { if (shared is not null) ArrayPool<float>.Shared.Return(shared); }
        });
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
            var weights = w.Span;
            for (int co = 0; co < s.Cout; co++)
                for (int ci = 0; ci < s.Cin; ci++)
                    for (int t = 0; t < kk; t++)
                        rotated[(ci * s.Cout + co) * kk + kk - 1 - t] = weights[(co * s.Cin + ci) * kk + t];
            var transposed = new ConvShape(s.N, s.Cout, s.Ho, s.Wo, s.Cin, k, k - 1 - s.Padding);
            Forward(transposed, dy, rotated.AsMemory(0, size), ReadOnlyMemory<float>.Empty, dx);
        }
        finally { ArrayPool<float>.Shared.Return(rotated); }
    }

    public static void BackwardFilter(ConvShape s, ReadOnlyMemory<float> x, ReadOnlyMemory<float> dy, Memory<float> dw, bool accumulate)
    {
        int cinkk = s.Cin * s.K * s.K, hw = s.Ho * s.Wo, xSize = s.Cin * s.H * s.W, ySize = s.Cout * hw;
        int size = cinkk * s.Cout;
        // Per chunk: dw^T [CinKK, Cout], pooled: a fresh megabyte-sized array per chunk and call costs page faults.
        var partials = new float[ChunkCount(s.N)][];
        try
        {
            ForEachChunk(s.N, (chunk, first, count) =>
            {
                var partial = partials[chunk] = ArrayPool<float>.Shared.Rent(size);
                Array.Clear(partial, 0, size);
                for (int n = first; n < first + count; n++)
                {
                    var image = x.Slice(n * xSize, xSize);
                    // A = col(x_n), packed panel by panel straight from the image; B = dy_n^T.
                    Sgemm.Multiply((i0, rows, pc, kc, panel) => Im2Col.PackRowPanel(s, image.Span, i0, rows, pc, kc, panel),
                        transposeB: true, cinkk, s.Cout, hw, dy.Span.Slice(n * ySize, ySize), hw, 1f, partial, s.Cout);
                }
            });
            // Sum the chunks' dw^T in chunk order (fixed: reproducible sums), contiguous and vectorised,
            // then transpose the total into dw [Cout, CinKK] once.
            var total = partials[0].AsSpan(0, size);
            for (int c = 1; c < partials.Length; c++) TensorPrimitives.Add(total, partials[c].AsSpan(0, size), total);
            var result = dw.Span;
            if (!accumulate) result.Clear();
            for (int co = 0; co < s.Cout; co++)
            {
                var row = result.Slice(co * cinkk, cinkk);
                for (int r = 0; r < cinkk; r++) row[r] += total[r * s.Cout + co];
            }
        }
        finally
        {
            foreach (var partial in partials) if (partial is not null) ArrayPool<float>.Shared.Return(partial);
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
        Parallel.For(0, chunks, new ParallelOptions { MaxDegreeOfParallelism = CpuFastBackend.Threads }, c =>
        {
            int first = (int)((long)c * n / chunks), last = (int)((long)(c + 1) * n / chunks);
            if (last > first) work(c, first, last - first);
        });
    }
}
