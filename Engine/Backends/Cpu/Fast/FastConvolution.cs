using System.Buffers;
using System.Numerics.Tensors;

namespace FerEngine.Backends.Cpu.Fast;

/// <summary>
/// Stride-1 convolutions as GEMMs (one per image), images split into fixed contiguous chunks that
/// run in parallel on <see cref="CpuFastBackend.Threads"/> threads. The split depends only on N
/// (never on the thread count) and partial filter gradients are reduced in chunk order, so results
/// are bitwise identical run to run and for any number of threads: a resumed run continues exactly.
///   forward:         y_n [Cout, HoWo] = w [Cout, CinKK] x col(x_n) + bias, col read in place from the padded image
///   backward-data:   dx = forward(dy, w rotated by 180 degrees, channels swapped), padding K - 1 - p
///   backward-filter: dw^T [CinKK, Cout] (+)= sum_n col(x_n) [CinKK, HoWo] x dy_n^T [HoWo, Cout] (<see cref="Im2Col"/>)
/// </summary>
public static class FastConvolution
{
    /// <summary>
    /// y_n = w x col(x_n) + bias without forming or packing col. On the image zero-padded to
    /// [Cin, Hp, Wp] (Hp = H + 2p, Wp = W + 2p) and flattened, tap t = (ci, ky, kx) of output
    /// position j = oy Wp + ox reads padded[tapOffset[t] + j] with tapOffset[t] = (ci Hp + ky) Wp + kx.
    /// So row t of the GEMM's B is the padded image itself from tapOffset[t] on, and the GEMM reads it
    /// in place (<see cref="Sgemm.Multiply(Sgemm.PackedMatrix, int, ReadOnlySpan{float}, ReadOnlySpan{int}, Span{float}, int)"/>).
    /// The product covers every position of the padded width (Ho x Wp, rounded up to whole NR
    /// panels); the last Wp - Wo positions of each row read across the row's end and are discarded,
    /// and the Ho x Wo real ones are copied to y. Each output is the same sum in the same order as
    /// with a packed col.
    /// </summary>
    public static void Forward(ConvShape s, ReadOnlyMemory<float> x, ReadOnlyMemory<float> w, ReadOnlyMemory<float> bias, Memory<float> y)
    {
        int cinkk = s.Cin * s.K * s.K, xSize = s.Cin * s.H * s.W, ySize = s.Cout * s.Ho * s.Wo;
        int hp = s.H + 2 * s.Padding, wp = s.W + 2 * s.Padding;
        int positions = (s.Ho * wp + Sgemm.NR - 1) / Sgemm.NR * Sgemm.NR;
        var tapOffsets = new int[cinkk];
        for (int t = 0; t < cinkk; t++)
        {
            int ci = t / (s.K * s.K), ky = t / s.K % s.K, kx = t % s.K;
            tapOffsets[t] = (ci * hp + ky) * wp + kx;
        }
        int paddedSize = tapOffsets[^1] + positions;   // the last tap's row reads farthest
        using var weights = Sgemm.Pack(false, s.Cout, cinkk, 1f, w.Span, cinkk);   // A, packed once for every image
        ForEachChunk(s.N, (chunk, first, count) =>
        {
            float[] padded = ArrayPool<float>.Shared.Rent(paddedSize), staging = ArrayPool<float>.Shared.Rent(s.Cout * positions);
            try
            {
                Array.Clear(padded, 0, paddedSize);   // the border stays zero: only the interior is rewritten per image
                var product = staging.AsSpan(0, s.Cout * positions);   // [Cout, positions]
                for (int n = first; n < first + count; n++)
                {
                    var image = x.Span.Slice(n * xSize, xSize);
                    for (int ci = 0; ci < s.Cin; ci++)
                        for (int iy = 0; iy < s.H; iy++)
                            image.Slice((ci * s.H + iy) * s.W, s.W).CopyTo(padded.AsSpan((ci * hp + iy + s.Padding) * wp + s.Padding));
                    for (int co = 0; co < s.Cout; co++) product.Slice(co * positions, positions).Fill(bias.IsEmpty ? 0f : bias.Span[co]);
                    Sgemm.Multiply(weights, positions, padded.AsSpan(0, paddedSize), tapOffsets, product, positions);
                    var output = y.Span.Slice(n * ySize, ySize);
                    for (int co = 0; co < s.Cout; co++)
                        for (int oy = 0; oy < s.Ho; oy++)
                            product.Slice(co * positions + oy * wp, s.Wo).CopyTo(output.Slice((co * s.Ho + oy) * s.Wo, s.Wo));
                }
            }
            finally
            {
                ArrayPool<float>.Shared.Return(padded);
                ArrayPool<float>.Shared.Return(staging);
            }
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
