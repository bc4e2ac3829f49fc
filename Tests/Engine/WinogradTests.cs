using FerEngine.Backends;
using FerEngine.Backends.Cpu;
using FerEngine.Backends.Cpu.Fast;
using static FerEngine.Tests.Engine.FastCpuTests;

namespace FerEngine.Tests.Engine;

/// <summary>
/// The fast path's Winograd convolutions against the float64 reference: F(4x4, 3x3)
/// (<see cref="FastWinograd4x4"/>, 6x6 tiles) for 3x3 kernels and F(4x4, 5x5)
/// (<see cref="FastWinograd5x5"/>, 8x8 tiles) for 5x5 ones, each called directly (the backend
/// chooses them only for some shapes), on the edges of their tilings. Every test runs for both
/// kernel sizes, k.
/// </summary>
[Collection(CpuThreadsCollection.Name)]
public class WinogradTests
{
    private static IBackend Reference => Device.CpuReference.Backend;

    private static bool Supports(ConvShape s) => s.K == 3 ? WinogradConvolution.Supports<FastWinograd4x4>(s) : WinogradConvolution.Supports<FastWinograd5x5>(s);

    private static void Forward(ConvShape s, float[] x, float[] w, ReadOnlyMemory<float> bias, float[] y)
    {
        if (s.K == 3) WinogradConvolution.Forward<FastWinograd4x4>(s, x, w, bias, y);
        else WinogradConvolution.Forward<FastWinograd5x5>(s, x, w, bias, y);
    }

    private static void BackwardFilter(ConvShape s, float[] x, float[] dy, float[] dw, bool accumulate)
    {
        if (s.K == 3) WinogradConvolution.BackwardFilter<FastWinograd4x4>(s, x, dy, dw, accumulate);
        else WinogradConvolution.BackwardFilter<FastWinograd5x5>(s, x, dy, dw, accumulate);
    }

    private static Tensor AsTensor(float[] values, Shape shape) =>
        Tensor.FromDoubles(values.Select(v => (double)v).ToArray(), shape, DType.Float32, Device.Cpu);

    /// <summary>
    /// Forward and data gradient (a forward convolution of dy with the kernels rotated by 180 degrees
    /// and their channels swapped, padding k - 1 - p): outputs that are not whole 4x4 tiles, the widest
    /// rows (3x3: 8 tiles, output width 32; 5x5: 16 tiles, 64), channel counts that leave a partial
    /// 8-row weight panel, more input channels than one 256-deep GEMM slice, the smallest and largest
    /// paddings, and more than one group of images. Checked norm-wise and element by element.
    /// </summary>
    [Theory]
    [InlineData(3, 1, 1, 6, 6, 1, 0)]       // a single tile
    [InlineData(3, 2, 3, 7, 7, 5, 1)]       // 7 x 7 outputs: a partial tile row and column; 5 output channels
    [InlineData(3, 3, 4, 10, 29, 9, 1)]     // 29 wide: 8 tiles a row, the last partial; 9 channels: a panel and one row
    [InlineData(3, 2, 5, 30, 32, 3, 1)]     // 32 wide: 8 whole tiles a row
    [InlineData(3, 2, 300, 6, 9, 12, 1)]    // 300 input channels: two GEMM depth slices (and 300 outputs of the data gradient)
    [InlineData(3, 2, 3, 9, 8, 4, 0)]       // no padding (the data gradient: padding 2)
    [InlineData(3, 1, 3, 5, 4, 2, 2)]       // padding 2 (the data gradient: no padding)
    [InlineData(3, 9, 6, 12, 12, 7, 1)]     // 9 images of 9 tiles: more than one group of images
    [InlineData(5, 1, 1, 8, 8, 1, 0)]       // a single tile
    [InlineData(5, 2, 3, 9, 11, 5, 2)]      // 9 x 11 outputs: partial tiles; 5 output channels
    [InlineData(5, 1, 3, 10, 61, 9, 2)]     // 61 wide: 16 tiles a row, the last partial; 9 channels
    [InlineData(5, 2, 2, 8, 64, 3, 2)]      // 64 wide: 16 whole tiles a row
    [InlineData(5, 2, 300, 8, 9, 12, 2)]    // 300 input channels
    [InlineData(5, 2, 3, 10, 9, 4, 0)]      // no padding (the data gradient: padding 4)
    [InlineData(5, 1, 3, 6, 5, 2, 4)]       // padding 4 (the data gradient: no padding)
    [InlineData(5, 9, 6, 12, 12, 7, 2)]     // 9 images of 9 tiles: more than one group of images
    public void Forward_and_data_gradient_match_the_reference(int k, int n, int cin, int h, int w, int cout, int padding)
    {
        var shape = new ConvShape(n, cin, h, w, cout, k, padding);
        var transposed = new ConvShape(n, cout, shape.Ho, shape.Wo, cin, k, k - 1 - padding);
        Assert.True(Supports(shape) && Supports(transposed), "both directions must take the Winograd path");
        var x = Pair(21, n, cin, h, w);
        var weight = Pair(22, cout, cin, k, k);
        var bias = Pair(23, cout);
        var y = Empty(n, cout, shape.Ho, shape.Wo);
        float[] fast = new float[n * cout * shape.Ho * shape.Wo];
        Forward(shape, x.Fast.ToArray<float>(), weight.Fast.ToArray<float>(), bias.Fast.ToArray<float>(), fast);
        Reference.ConvolutionForward(x.Reference, weight.Reference, bias.Reference, y.Reference, padding);
        AssertClose(AsTensor(fast, y.Reference.Shape), y.Reference, $"{k}x{k} forward");
        AssertElementsClose(AsTensor(fast, y.Reference.Shape), y.Reference, $"{k}x{k} forward");

        var dy = Pair(24, n, cout, shape.Ho, shape.Wo);
        var dx = Empty(n, cin, h, w);
        float[] weights = weight.Fast.ToArray<float>(), rotated = new float[weights.Length];   // [Cin, Cout, k, k], each kernel rotated
        for (int co = 0; co < cout; co++)
            for (int ci = 0; ci < cin; ci++)
                for (int t = 0; t < k * k; t++)
                    rotated[(ci * cout + co) * k * k + k * k - 1 - t] = weights[(co * cin + ci) * k * k + t];
        fast = new float[n * cin * h * w];
        Forward(transposed, dy.Fast.ToArray<float>(), rotated, ReadOnlyMemory<float>.Empty, fast);
        Reference.ConvolutionBackwardData(dy.Reference, weight.Reference, dx.Reference, padding);
        AssertClose(AsTensor(fast, dx.Reference.Shape), dx.Reference, $"{k}x{k} backward-data");
        AssertElementsClose(AsTensor(fast, dx.Reference.Shape), dx.Reference, $"{k}x{k} backward-data");
    }

    /// <summary>
    /// The filter gradient, accumulate off and on: partial tiles (the gradient is zero past the
    /// output's edge), the widest rows, output channel counts that leave a partial vector of 16 and a
    /// partial GEMM panel, more than one 128-row block of input channels, several slabs of images
    /// (about 256 tiles each, unequal), the smallest and largest paddings, and the paper's layers.
    /// </summary>
    [Theory]
    [InlineData(3, 1, 1, 6, 6, 1, 0)]       // a single tile
    [InlineData(3, 2, 3, 7, 7, 5, 1)]       // 7 x 7 outputs: a partial tile row and column; 5 output channels
    [InlineData(3, 3, 4, 10, 29, 17, 1)]    // 29 wide: 8 tiles a row, the last partial; 17 channels: a vector and one lane
    [InlineData(3, 2, 5, 30, 32, 3, 1)]     // 32 wide: 8 whole tiles a row
    [InlineData(3, 2, 130, 6, 9, 40, 1)]    // 130 input channels: two 128-row blocks of the GEMM
    [InlineData(3, 2, 3, 9, 8, 4, 0)]       // no padding
    [InlineData(3, 1, 3, 5, 4, 2, 2)]       // padding 2
    [InlineData(3, 9, 6, 12, 12, 7, 1)]     // 9 images of 9 tiles: one slab of 81 tiles
    [InlineData(3, 9, 6, 24, 24, 7, 1)]     // 9 images of 36 tiles: two slabs (4 and 5 images)
    [InlineData(3, 17, 3, 32, 32, 5, 1)]    // 17 images of 64 tiles: five slabs of 3 or 4 images
    [InlineData(3, 2, 128, 24, 24, 128, 1)] // conv4
    [InlineData(3, 3, 256, 12, 12, 256, 1)] // conv6
    [InlineData(5, 1, 1, 8, 8, 1, 0)]       // a single tile
    [InlineData(5, 2, 3, 9, 11, 5, 2)]      // partial tiles; 5 output channels
    [InlineData(5, 3, 4, 10, 61, 17, 2)]    // 61 wide: 16 tiles a row, the last partial; 17 channels
    [InlineData(5, 2, 130, 8, 9, 40, 2)]    // 130 input channels
    [InlineData(5, 2, 3, 10, 9, 4, 0)]      // no padding
    [InlineData(5, 1, 3, 6, 5, 2, 4)]       // padding 4
    [InlineData(5, 5, 3, 48, 48, 5, 2)]     // 5 images of 144 tiles: three slabs
    [InlineData(5, 2, 64, 48, 48, 64, 2)]   // conv2
    public void Filter_gradient_matches_the_reference(int k, int n, int cin, int h, int w, int cout, int padding)
    {
        var shape = new ConvShape(n, cin, h, w, cout, k, padding);
        Assert.True(Supports(shape));
        var x = Pair(25, n, cin, h, w);
        var dy = Pair(26, n, cout, shape.Ho, shape.Wo);
        foreach (bool accumulate in new[] { false, true })
        {
            var dw = Pair(27, cout, cin, k, k);
            float[] fast = dw.Fast.ToArray<float>();
            BackwardFilter(shape, x.Fast.ToArray<float>(), dy.Fast.ToArray<float>(), fast, accumulate);
            Reference.ConvolutionBackwardFilter(x.Reference, dy.Reference, dw.Reference, padding, accumulate);
            AssertClose(AsTensor(fast, dw.Reference.Shape), dw.Reference, $"{k}x{k} backward-filter accumulate={accumulate}");
            AssertElementsClose(AsTensor(fast, dw.Reference.Shape), dw.Reference, $"{k}x{k} backward-filter accumulate={accumulate}");
        }
    }

    /// <summary>
    /// The tile transforms, entry by entry: a convolution is bilinear in the input tile d and the
    /// kernel g, so with d one 1 among t x t zeros (t = k + 3, the tile; t^2 images) and g one 1
    /// among k x k zeros (k^2 output channels) every output of the single 4x4 tile is one coefficient
    /// of that map, and must be 1 where the kernel's tap lands on the input's 1 and 0 everywhere else.
    /// A wrong entry of B, G or A shows here as an error of about 0.01 or more; float32 rounding
    /// stays near 1e-6.
    /// </summary>
    [Theory]
    [InlineData(3)]
    [InlineData(5)]
    public void Tile_transforms_reproduce_every_tap_of_the_direct_convolution(int k)
    {
        int t = k + 3, positions = t * t, taps = k * k;
        var shape = new ConvShape(positions, 1, t, t, taps, k, 0);
        Assert.True(Supports(shape));
        float[] x = new float[positions * positions], w = new float[taps * taps], y = Enumerable.Repeat(float.NaN, positions * taps * 16).ToArray();
        for (int i = 0; i < positions; i++) x[i * positions + i] = 1;   // image i: a 1 at input position i
        for (int tap = 0; tap < taps; tap++) w[tap * taps + tap] = 1;   // output channel tap: a 1 at that kernel tap
        Forward(shape, x, w, ReadOnlyMemory<float>.Empty, y);
        for (int i = 0; i < positions; i++)
            for (int tap = 0; tap < taps; tap++)
                for (int oy = 0; oy < 4; oy++)
                    for (int ox = 0; ox < 4; ox++)
                    {
                        // y[oy, ox] = sum over (ky, kx) of w[ky, kx] x[oy + ky, ox + kx]
                        double expected = (oy + tap / k) * t + ox + tap % k == i ? 1 : 0;
                        float actual = y[((i * taps + tap) * 4 + oy) * 4 + ox];
                        Assert.True(Math.Abs(actual - expected) <= 1e-5, $"input 1 at {i}, tap {tap}, output ({oy}, {ox}): {actual}, expected {expected}");
                    }
    }

    /// <summary>
    /// The filter gradient's transforms, entry by entry: dw is bilinear in x and dy, so with one t x t
    /// image whose input channel i has a single 1 at position i (t^2 channels) and whose output
    /// channel o has a single 1 at output position o of the 4x4 tile (16 channels), dw[o, i, ky, kx]
    /// is one coefficient of the map, and must be 1 where output o's tap (ky, kx) reads input i, 0
    /// everywhere else.
    /// </summary>
    [Theory]
    [InlineData(3)]
    [InlineData(5)]
    public void Filter_gradient_transforms_reproduce_every_tap(int k)
    {
        int t = k + 3, positions = t * t, taps = k * k;
        var shape = new ConvShape(1, positions, t, t, 16, k, 0);
        float[] x = new float[positions * positions], dy = new float[16 * 16], dw = Enumerable.Repeat(float.NaN, 16 * positions * taps).ToArray();
        for (int i = 0; i < positions; i++) x[i * positions + i] = 1;
        for (int o = 0; o < 16; o++) dy[o * 16 + o] = 1;
        BackwardFilter(shape, x, dy, dw, accumulate: false);
        for (int o = 0; o < 16; o++)
            for (int i = 0; i < positions; i++)
                for (int tap = 0; tap < taps; tap++)
                {
                    // dw[o, i, ky, kx] = sum over (oy, ox) of dy[o, oy, ox] x[i, oy + ky, ox + kx]
                    double expected = (o / 4 + tap / k) * t + o % 4 + tap % k == i ? 1 : 0;
                    float actual = dw[(o * positions + i) * taps + tap];
                    Assert.True(Math.Abs(actual - expected) <= 1e-5, $"output 1 at {o}, input 1 at {i}, tap {tap}: {actual}, expected {expected}");
                }
    }

    /// <summary>F(4x4, 3x3)'s matrices, as FastWinograd4x4's comment gives them (its code has them only as combinations).</summary>
    private static readonly double[,] InputMatrix3 = { { 4, 0, -5, 0, 1, 0 }, { 0, -4, -4, 1, 1, 0 }, { 0, 4, -4, -1, 1, 0 }, { 0, -2, -1, 2, 1, 0 }, { 0, 2, -1, -2, 1, 0 }, { 0, 4, 0, -5, 0, 1 } };
    private static readonly double[,] KernelMatrix3 = { { 1 / 4.0, 0, 0 }, { -1 / 6.0, -1 / 6.0, -1 / 6.0 }, { -1 / 6.0, 1 / 6.0, -1 / 6.0 }, { 1 / 24.0, 1 / 12.0, 1 / 6.0 }, { 1 / 24.0, -1 / 12.0, 1 / 6.0 }, { 0, 0, 1 } };
    private static readonly double[,] OutputMatrix3 = { { 1, 1, 1, 1, 1, 0 }, { 0, 1, -1, 2, -2, 0 }, { 0, 1, 1, 4, 4, 0 }, { 0, 1, -1, 8, -8, 1 } };

    /// <summary>
    /// The identity the Winograd filter gradient rests on, in float64 with plain loops:
    /// dg = G^T [ sum over tiles of (A dy_tile A^T) .* (B^T d B) ] G equals the direct
    /// dg[ky, kx] = sum over (oy, ox) of dy[oy, ox] d[oy + ky, ox + kx], on a 10 x 11 plane with
    /// padding k / 2 (partial tiles on both edges), to float64 rounding. For 5x5 the matrices are the
    /// ones FastWinograd5x5 computes with (its weights and products go through them directly).
    /// </summary>
    [Theory]
    [InlineData(3)]
    [InlineData(5)]
    public void Filter_gradient_identity_holds_in_float64(int k)
    {
        var (bt, g, at) = k == 3 ? (InputMatrix3, KernelMatrix3, OutputMatrix3)
            : (FastWinograd5x5.InputMatrix, FastWinograd5x5.KernelMatrix, FastWinograd5x5.OutputMatrix);
        int t = k + 3, h = 10, w = 11, p = k / 2, ho = h + 2 * p - k + 1, wo = w + 2 * p - k + 1;
        var random = new System.Random(3);
        var input = new double[h, w];
        var gradient = new double[ho, wo];
        for (int i = 0; i < h; i++) for (int j = 0; j < w; j++) input[i, j] = random.NextDouble() - 0.5;
        for (int i = 0; i < ho; i++) for (int j = 0; j < wo; j++) gradient[i, j] = random.NextDouble() - 0.5;
        double X(int iy, int ix) => iy < 0 || iy >= h || ix < 0 || ix >= w ? 0 : input[iy, ix];   // zero padding, and past the edge
        double Dy(int oy, int ox) => oy >= ho || ox >= wo ? 0 : gradient[oy, ox];                 // zero past the output's edge

        var direct = new double[k, k];
        for (int ky = 0; ky < k; ky++)
            for (int kx = 0; kx < k; kx++)
                for (int oy = 0; oy < ho; oy++)
                    for (int ox = 0; ox < wo; ox++)
                        direct[ky, kx] += gradient[oy, ox] * X(oy + ky - p, ox + kx - p);

        var sum = new double[t, t];   // sum over tiles of (A dy A^T) .* (B^T d B)
        for (int ty = 0; ty < (ho + 3) / 4; ty++)
            for (int tx = 0; tx < (wo + 3) / 4; tx++)
                for (int a = 0; a < t; a++)
                    for (int b = 0; b < t; b++)
                    {
                        double e = 0, v = 0;
                        for (int i = 0; i < 4; i++)
                            for (int j = 0; j < 4; j++)
                                e += at[i, a] * Dy(4 * ty + i, 4 * tx + j) * at[j, b];         // (A dy A^T)[a, b], A = (A^T)^T
                        for (int i = 0; i < t; i++)
                            for (int j = 0; j < t; j++)
                                v += bt[a, i] * X(4 * ty + i - p, 4 * tx + j - p) * bt[b, j];   // (B^T d B)[a, b]
                        sum[a, b] += e * v;
                    }
        for (int ky = 0; ky < k; ky++)
            for (int kx = 0; kx < k; kx++)
            {
                double winograd = 0;   // (G^T sum G)[ky, kx]
                for (int a = 0; a < t; a++)
                    for (int b = 0; b < t; b++)
                        winograd += g[a, ky] * sum[a, b] * g[b, kx];
                Assert.True(Math.Abs(winograd - direct[ky, kx]) <= 1e-11, $"tap ({ky}, {kx}): {winograd}, direct {direct[ky, kx]}");
            }
    }

    /// <summary>
    /// The forward pass gives the same bits for any thread count, also when there are fewer groups of
    /// images than threads and each group splits its transforms and GEMMs over the threads instead.
    /// </summary>
    [Theory]
    [InlineData(3, 1, 12)]   // one image of 9 tiles (conv6's size; FastConvolution sends so few tiles to the direct GEMM)
    [InlineData(5, 1, 24)]   // one image of 36 tiles
    [InlineData(3, 4, 24)]   // 4 images: two groups, fewer than 3 threads' worth
    [InlineData(3, 6, 12, 40)]   // 6 images of 9 tiles and 40 output channels: one group of 54 tiles on 1 thread, and on 3 or 16 the whole batch as one group split over them
    public void Forward_does_not_depend_on_the_thread_count(int k, int n, int size, int cout = 9)
    {
        var shape = new ConvShape(n, 7, size, size, cout, k, k / 2);
        float[] x = Pair(30, n, 7, size, size).Fast.ToArray<float>(), w = Pair(31, cout, 7, k, k).Fast.ToArray<float>(), bias = Pair(32, cout).Fast.ToArray<float>();
        float[] Output(int threads) => CpuThreadsCollection.WithThreads(threads, () =>
        {
            var y = new float[n * cout * size * size];
            Forward(shape, x, w, bias, y);
            return y;
        });
        float[] one = Output(1);
        Assert.Equal(one, Output(3));
        Assert.Equal(one, Output(16));
    }

    /// <summary>The filter gradient over several slabs of images gives the same bits for any thread count.</summary>
    [Theory]
    [InlineData(3, 9, 24)]   // 9 images of 36 tiles: two slabs
    [InlineData(5, 5, 48)]   // 5 images of 144 tiles: three slabs
    public void Filter_gradient_does_not_depend_on_the_thread_count(int k, int n, int size)
    {
        var shape = new ConvShape(n, 5, size, size, 6, k, k / 2);
        float[] x = Pair(28, n, 5, size, size).Fast.ToArray<float>(), dy = Pair(29, n, 6, size, size).Fast.ToArray<float>();
        float[] Gradient(int threads) => CpuThreadsCollection.WithThreads(threads, () =>
        {
            var dw = new float[6 * 5 * k * k];
            BackwardFilter(shape, x, dy, dw, accumulate: false);
            return dw;
        });
        Assert.Equal(Gradient(1), Gradient(3));
    }
}
