using FerEngine.Backends;

namespace FerEngine.Tests.Engine;

/// <summary>
/// The fast float32 CPU path (Device.Cpu) against the float64 reference (Device.CpuReference) on
/// the same values: norm-wise relative error ||fast - reference|| / ||reference|| below 1e-4, on
/// odd sizes and on the paper network's real layer shapes.
/// </summary>
public class FastCpuTests
{
    private const double Tolerance = 1e-4;

    /// <summary>The same random values as a float32 tensor on the fast device and a float64 one on the reference.</summary>
    private static (Tensor Fast, Tensor Reference) Pair(ulong stream, params int[] dims)
    {
        var reference = Tensor.Normal(new Shape(dims), 0, 1, seed: 11, stream, DType.Float64, Device.CpuReference);
        return (Tensor.FromDoubles(reference.ToDoubles(), reference.Shape, DType.Float32, Device.Cpu), reference);
    }

    private static (Tensor Fast, Tensor Reference) Empty(params int[] dims) =>
        (Tensor.Zeros(new Shape(dims), DType.Float32, Device.Cpu), Tensor.Zeros(new Shape(dims), DType.Float64, Device.CpuReference));

    private static void AssertClose(Tensor fast, Tensor reference, string what)
    {
        double[] a = fast.ToDoubles(), b = reference.ToDoubles();
        double difference = 0, norm = 0;
        for (int i = 0; i < a.Length; i++) { difference += (a[i] - b[i]) * (a[i] - b[i]); norm += b[i] * b[i]; }
        double relative = norm == 0 ? Math.Sqrt(difference) : Math.Sqrt(difference / norm);
        Assert.True(relative < Tolerance, $"{what}: relative error {relative:E2} >= {Tolerance:E0}");
    }

    private static IBackend Fast => Device.Cpu.Backend;
    private static IBackend Reference => Device.CpuReference.Backend;

    [Theory]
    [InlineData(1, 1, 1)]
    [InlineData(7, 3, 5)]
    [InlineData(33, 65, 31)]
    [InlineData(129, 40, 300)]
    [InlineData(32, 128, 9216)]   // the fully-connected layer: x [32, 9216] times w^T
    public void Gemm_all_transposes_and_betas(int m, int n, int k)
    {
        foreach (bool ta in new[] { false, true })
            foreach (bool tb in new[] { false, true })
                foreach (double beta in new[] { 0.0, 1.0, 0.5 })
                {
                    var a = ta ? Pair(1, k, m) : Pair(1, m, k);
                    var b = tb ? Pair(2, n, k) : Pair(2, k, n);
                    var c = Pair(3, m, n);
                    Fast.Gemm(ta, tb, 0.75, a.Fast, b.Fast, beta, c.Fast);
                    Reference.Gemm(ta, tb, 0.75, a.Reference, b.Reference, beta, c.Reference);
                    AssertClose(c.Fast, c.Reference, $"gemm {m}x{n}x{k} transposeA={ta} transposeB={tb} beta={beta}");
                }
    }

    [Theory]
    [InlineData(3, 2, 7, 9, 5, 5, 2)]
    [InlineData(1, 3, 5, 6, 4, 3, 1)]
    [InlineData(3, 2, 5, 7, 3, 3, 0)]
    [InlineData(5, 3, 9, 9, 7, 1, 0)]
    [InlineData(19, 5, 6, 6, 4, 3, 0)]       // small images: a whole chunk of them in one GEMM
    [InlineData(24, 3, 16, 16, 5, 3, 1)]     // two images per GEMM, then one left over in each chunk of three
    [InlineData(2, 1, 48, 48, 64, 5, 2)]     // conv1
    [InlineData(1, 64, 48, 48, 64, 5, 2)]    // conv2
    [InlineData(2, 128, 24, 24, 128, 3, 1)]  // conv4
    [InlineData(1, 256, 12, 12, 256, 3, 1)]  // conv6
    [InlineData(3, 3, 7, 9, 5, 3, 0)]        // no padding: a row's reads run into the next row's pixels
    [InlineData(2, 3, 5, 6, 4, 3, 2)]        // padding K - 1 (a full convolution, as backward-data of no padding)
    [InlineData(2, 2, 5, 4, 3, 1, 1)]        // padding >= K: rows keep their own right padding
    public void Convolution_forward_backward_data_and_filter(int n, int cin, int h, int w, int cout, int k, int padding)
    {
        var x = Pair(4, n, cin, h, w);
        var weight = Pair(5, cout, cin, k, k);
        var bias = Pair(6, cout);
        int ho = h + 2 * padding - k + 1, wo = w + 2 * padding - k + 1;
        var y = Empty(n, cout, ho, wo);
        Fast.ConvolutionForward(x.Fast, weight.Fast, bias.Fast, y.Fast, padding);
        Reference.ConvolutionForward(x.Reference, weight.Reference, bias.Reference, y.Reference, padding);
        AssertClose(y.Fast, y.Reference, "convolution forward");

        var dy = Pair(7, n, cout, ho, wo);
        var dx = Empty(n, cin, h, w);
        Fast.ConvolutionBackwardData(dy.Fast, weight.Fast, dx.Fast, padding);
        Reference.ConvolutionBackwardData(dy.Reference, weight.Reference, dx.Reference, padding);
        AssertClose(dx.Fast, dx.Reference, "convolution backward-data");

        foreach (bool accumulate in new[] { false, true })
        {
            var dw = Pair(8, cout, cin, k, k);
            Fast.ConvolutionBackwardFilter(x.Fast, dy.Fast, dw.Fast, padding, accumulate);
            Reference.ConvolutionBackwardFilter(x.Reference, dy.Reference, dw.Reference, padding, accumulate);
            AssertClose(dw.Fast, dw.Reference, $"convolution backward-filter accumulate={accumulate}");
        }
    }

    /// <summary>
    /// Winograd's F(4x4, 3x3) (FastWinograd4x4, which the fast path takes for 3x3 kernels) against the
    /// reference, forward and data gradient, on the edges of its tiling: outputs that are not whole 4x4
    /// tiles, the widest rows it takes (8 tiles, output width 32), channel counts that leave a partial
    /// 8-row weight panel, more input channels than one 256-deep GEMM slice, and paddings 0 to 2.
    /// Besides the norm-wise check, every element must be within 1e-4 of the largest: a single wrong
    /// output (a border, a partial tile) cannot hide in the norm.
    /// </summary>
    [Theory]
    [InlineData(1, 1, 6, 6, 1, 0)]       // a single tile
    [InlineData(2, 3, 7, 7, 5, 1)]       // 7 x 7 outputs: a partial tile row and column; 5 output channels
    [InlineData(3, 4, 10, 29, 9, 1)]     // 29 wide: 8 tiles a row, the last partial; 9 channels: a panel and one row
    [InlineData(2, 5, 30, 32, 3, 1)]     // 32 wide: 8 whole tiles a row
    [InlineData(2, 300, 6, 9, 12, 1)]    // 300 input channels: two GEMM depth slices (and 300 outputs of the data gradient)
    [InlineData(2, 3, 9, 8, 4, 0)]       // no padding (the data gradient: padding 2)
    [InlineData(1, 3, 5, 4, 2, 2)]       // padding 2 (the data gradient: no padding)
    [InlineData(9, 6, 12, 12, 7, 1)]     // 9 images of 9 tiles: more than one group of images
    public void Winograd_4x4_forward_and_data_gradient_match_the_reference(int n, int cin, int h, int w, int cout, int padding)
    {
        var shape = new FerEngine.Backends.Cpu.ConvShape(n, cin, h, w, cout, 3, padding);
        var transposed = new FerEngine.Backends.Cpu.ConvShape(n, cout, shape.Ho, shape.Wo, cin, 3, 2 - padding);
        Assert.True(FerEngine.Backends.Cpu.Fast.FastWinograd4x4.Supports(shape) && FerEngine.Backends.Cpu.Fast.FastWinograd4x4.Supports(transposed),
            "both directions must take the Winograd path");
        var x = Pair(21, n, cin, h, w);
        var weight = Pair(22, cout, cin, 3, 3);
        var bias = Pair(23, cout);
        var y = Empty(n, cout, shape.Ho, shape.Wo);
        Fast.ConvolutionForward(x.Fast, weight.Fast, bias.Fast, y.Fast, padding);
        Reference.ConvolutionForward(x.Reference, weight.Reference, bias.Reference, y.Reference, padding);
        AssertClose(y.Fast, y.Reference, "F(4x4, 3x3) forward");
        AssertElementsClose(y.Fast, y.Reference, "F(4x4, 3x3) forward");

        var dy = Pair(24, n, cout, shape.Ho, shape.Wo);
        var dx = Empty(n, cin, h, w);
        Fast.ConvolutionBackwardData(dy.Fast, weight.Fast, dx.Fast, padding);
        Reference.ConvolutionBackwardData(dy.Reference, weight.Reference, dx.Reference, padding);
        AssertClose(dx.Fast, dx.Reference, "F(4x4, 3x3) backward-data");
        AssertElementsClose(dx.Fast, dx.Reference, "F(4x4, 3x3) backward-data");
    }

    /// <summary>
    /// The filter gradient by F(4x4, 3x3) (FastWinograd4x4.BackwardFilter) against the reference, with
    /// accumulate off and on, on the edges of its tiling: partial tiles (the gradient is zero past the
    /// output's edge), the widest rows, output channel counts that leave a partial vector of 16 and a
    /// partial GEMM panel, more than one 128-row block of input channels, several slabs of images
    /// (about 256 tiles each, unequal), and paddings 0 to 2. Besides the norm-wise check, every
    /// element must be within 1e-4 of the largest.
    /// </summary>
    [Theory]
    [InlineData(1, 1, 6, 6, 1, 0)]       // a single tile
    [InlineData(2, 3, 7, 7, 5, 1)]       // 7 x 7 outputs: a partial tile row and column; 5 output channels
    [InlineData(3, 4, 10, 29, 17, 1)]    // 29 wide: 8 tiles a row, the last partial; 17 channels: a vector and one lane
    [InlineData(2, 5, 30, 32, 3, 1)]     // 32 wide: 8 whole tiles a row
    [InlineData(2, 130, 6, 9, 40, 1)]    // 130 input channels: two 128-row blocks of the GEMM
    [InlineData(2, 3, 9, 8, 4, 0)]       // no padding
    [InlineData(1, 3, 5, 4, 2, 2)]       // padding 2
    [InlineData(9, 6, 12, 12, 7, 1)]     // 9 images of 9 tiles: one slab of 81 tiles
    [InlineData(9, 6, 24, 24, 7, 1)]     // 9 images of 36 tiles: two slabs (4 and 5 images)
    [InlineData(17, 3, 32, 32, 5, 1)]    // 17 images of 64 tiles: five slabs of 3 or 4 images
    [InlineData(2, 128, 24, 24, 128, 1)] // conv4
    [InlineData(3, 256, 12, 12, 256, 1)] // conv6
    public void Winograd_4x4_filter_gradient_matches_the_reference(int n, int cin, int h, int w, int cout, int padding)
    {
        var shape = new FerEngine.Backends.Cpu.ConvShape(n, cin, h, w, cout, 3, padding);
        Assert.True(FerEngine.Backends.Cpu.Fast.FastWinograd4x4.Supports(shape));
        var x = Pair(25, n, cin, h, w);
        var dy = Pair(26, n, cout, shape.Ho, shape.Wo);
        foreach (bool accumulate in new[] { false, true })
        {
            var dw = Pair(27, cout, cin, 3, 3);
            float[] fast = dw.Fast.ToArray<float>();
            FerEngine.Backends.Cpu.Fast.FastWinograd4x4.BackwardFilter(shape, x.Fast.ToArray<float>(), dy.Fast.ToArray<float>(), fast, accumulate);
            Reference.ConvolutionBackwardFilter(x.Reference, dy.Reference, dw.Reference, padding, accumulate);
            var result = Tensor.FromDoubles(fast.Select(v => (double)v).ToArray(), dw.Reference.Shape, DType.Float32, Device.Cpu);
            AssertClose(result, dw.Reference, $"F(4x4, 3x3) backward-filter accumulate={accumulate}");
            AssertElementsClose(result, dw.Reference, $"F(4x4, 3x3) backward-filter accumulate={accumulate}");
        }
    }

    /// <summary>
    /// The filter gradient's transforms, entry by entry: dw is bilinear in x and dy, so with one 6x6
    /// image whose input channel i has a single 1 at position i (36 channels) and whose output
    /// channel o has a single 1 at output position o of the 4x4 tile (16 channels), dw[o, i, ky, kx]
    /// is one coefficient of the map, and must be 1 where output o's tap (ky, kx) reads input i, 0
    /// everywhere else. A wrong entry of A, B or G shows as an error of about 0.01 or more.
    /// </summary>
    [Fact]
    public void Winograd_4x4_filter_gradient_transforms_reproduce_every_tap()
    {
        var shape = new FerEngine.Backends.Cpu.ConvShape(1, 36, 6, 6, 16, 3, 0);
        float[] x = new float[36 * 36], dy = new float[16 * 16], dw = Enumerable.Repeat(float.NaN, 16 * 36 * 9).ToArray();
        for (int i = 0; i < 36; i++) x[i * 36 + i] = 1;
        for (int o = 0; o < 16; o++) dy[o * 16 + o] = 1;
        FerEngine.Backends.Cpu.Fast.FastWinograd4x4.BackwardFilter(shape, x, dy, dw, accumulate: false);
        for (int o = 0; o < 16; o++)
            for (int i = 0; i < 36; i++)
                for (int t = 0; t < 9; t++)
                {
                    // dw[o, i, ky, kx] = sum over (oy, ox) of dy[o, oy, ox] x[i, oy + ky, ox + kx]
                    double expected = (o / 4 + t / 3) * 6 + o % 4 + t % 3 == i ? 1 : 0;
                    float actual = dw[(o * 36 + i) * 9 + t];
                    Assert.True(Math.Abs(actual - expected) <= 1e-5, $"output 1 at {o}, input 1 at {i}, tap {t}: {actual}, expected {expected}");
                }
    }

    /// <summary>
    /// The identity the Winograd filter gradient rests on, in float64 with plain loops:
    /// dg = G^T [ sum over tiles of (A dy_tile A^T) .* (B^T d B) ] G equals the direct
    /// dg[ky, kx] = sum over (oy, ox) of dy[oy, ox] d[oy + ky, ox + kx], on a 10 x 11 plane with
    /// padding 1 (partial tiles on both edges), to float64 rounding.
    /// </summary>
    [Fact]
    public void Winograd_4x4_filter_gradient_identity_holds_in_float64()
    {
        double[,] bt = { { 4, 0, -5, 0, 1, 0 }, { 0, -4, -4, 1, 1, 0 }, { 0, 4, -4, -1, 1, 0 }, { 0, -2, -1, 2, 1, 0 }, { 0, 2, -1, -2, 1, 0 }, { 0, 4, 0, -5, 0, 1 } };
        double[,] g = { { 1 / 4.0, 0, 0 }, { -1 / 6.0, -1 / 6.0, -1 / 6.0 }, { -1 / 6.0, 1 / 6.0, -1 / 6.0 }, { 1 / 24.0, 1 / 12.0, 1 / 6.0 }, { 1 / 24.0, -1 / 12.0, 1 / 6.0 }, { 0, 0, 1 } };
        double[,] at = { { 1, 1, 1, 1, 1, 0 }, { 0, 1, -1, 2, -2, 0 }, { 0, 1, 1, 4, 4, 0 }, { 0, 1, -1, 8, -8, 1 } };
        int h = 10, w = 11, p = 1, ho = h + 2 * p - 2, wo = w + 2 * p - 2;
        var random = new System.Random(3);
        var input = new double[h, w];
        var gradient = new double[ho, wo];
        for (int i = 0; i < h; i++) for (int j = 0; j < w; j++) input[i, j] = random.NextDouble() - 0.5;
        for (int i = 0; i < ho; i++) for (int j = 0; j < wo; j++) gradient[i, j] = random.NextDouble() - 0.5;
        double X(int iy, int ix) => iy < 0 || iy >= h || ix < 0 || ix >= w ? 0 : input[iy, ix];   // zero padding, and past the edge
        double Dy(int oy, int ox) => oy >= ho || ox >= wo ? 0 : gradient[oy, ox];                 // zero past the output's edge

        var direct = new double[3, 3];
        for (int ky = 0; ky < 3; ky++)
            for (int kx = 0; kx < 3; kx++)
                for (int oy = 0; oy < ho; oy++)
                    for (int ox = 0; ox < wo; ox++)
                        direct[ky, kx] += gradient[oy, ox] * X(oy + ky - p, ox + kx - p);

        var sum = new double[6, 6];   // sum over tiles of (A dy A^T) .* (B^T d B)
        for (int ty = 0; ty < (ho + 3) / 4; ty++)
            for (int tx = 0; tx < (wo + 3) / 4; tx++)
                for (int a = 0; a < 6; a++)
                    for (int b = 0; b < 6; b++)
                    {
                        double e = 0, v = 0;
                        for (int i = 0; i < 4; i++)
                            for (int j = 0; j < 4; j++)
                                e += at[i, a] * Dy(4 * ty + i, 4 * tx + j) * at[j, b];         // (A dy A^T)[a, b], A = (A^T)^T
                        for (int i = 0; i < 6; i++)
                            for (int j = 0; j < 6; j++)
                                v += bt[a, i] * X(4 * ty + i - p, 4 * tx + j - p) * bt[b, j];   // (B^T d B)[a, b]
                        sum[a, b] += e * v;
                    }
        for (int ky = 0; ky < 3; ky++)
            for (int kx = 0; kx < 3; kx++)
            {
                double winograd = 0;   // (G^T sum G)[ky, kx]
                for (int a = 0; a < 6; a++)
                    for (int b = 0; b < 6; b++)
                        winograd += g[a, ky] * sum[a, b] * g[b, kx];
                Assert.True(Math.Abs(winograd - direct[ky, kx]) <= 1e-12, $"tap ({ky}, {kx}): {winograd}, direct {direct[ky, kx]}");
            }
    }

    /// <summary>The Winograd filter gradient over several slabs of images gives the same bits for any thread count.</summary>
    [Fact]
    public void Winograd_4x4_filter_gradient_does_not_depend_on_the_thread_count()
    {
        var shape = new FerEngine.Backends.Cpu.ConvShape(9, 5, 24, 24, 6, 3, 1);   // 9 images of 36 tiles: two slabs
        float[] x = Pair(28, 9, 5, 24, 24).Fast.ToArray<float>(), dy = Pair(29, 9, 6, 24, 24).Fast.ToArray<float>();
        float[] Gradient(int threads)
        {
            int saved = FerEngine.Backends.Cpu.CpuFastBackend.Threads;
            FerEngine.Backends.Cpu.CpuFastBackend.Threads = threads;
            try
            {
                var dw = new float[6 * 5 * 9];
                FerEngine.Backends.Cpu.Fast.FastWinograd4x4.BackwardFilter(shape, x, dy, dw, accumulate: false);
                return dw;
            }
            finally { FerEngine.Backends.Cpu.CpuFastBackend.Threads = saved; }
        }
        Assert.Equal(Gradient(1), Gradient(3));
    }

    private static void AssertElementsClose(Tensor fast, Tensor reference, string what)
    {
        double[] a = fast.ToDoubles(), b = reference.ToDoubles();
        double largest = b.Max(Math.Abs);
        for (int i = 0; i < a.Length; i++)
            Assert.True(Math.Abs(a[i] - b[i]) <= Tolerance * largest, $"{what}: element {i} is {a[i]}, the reference {b[i]}");
    }

    /// <summary>
    /// The tile transforms, entry by entry: a convolution is bilinear in the input tile d and the
    /// kernel g, so with d one 1 among 6x6 zeros (36 images) and g one 1 among 3x3 zeros (9 output
    /// channels) every output of the single 4x4 tile is one coefficient of that map, and must be 1
    /// where the kernel's tap lands on the input's 1 and 0 everywhere else. A wrong entry of B, G or A
    /// shows here as an error of about 0.01 or more; float32 rounding stays near 1e-6.
    /// </summary>
    [Fact]
    public void Winograd_4x4_tile_transforms_reproduce_every_tap_of_the_direct_convolution()
    {
        var shape = new FerEngine.Backends.Cpu.ConvShape(36, 1, 6, 6, 9, 3, 0);
        Assert.True(FerEngine.Backends.Cpu.Fast.FastWinograd4x4.Supports(shape));
        float[] x = new float[36 * 36], w = new float[9 * 9], y = Enumerable.Repeat(float.NaN, 36 * 9 * 16).ToArray();
        for (int i = 0; i < 36; i++) x[i * 36 + i] = 1;   // image i: a 1 at input position i
        for (int t = 0; t < 9; t++) w[t * 9 + t] = 1;     // output channel t: a 1 at kernel tap t
        FerEngine.Backends.Cpu.Fast.FastWinograd4x4.Forward(shape, x, w, ReadOnlyMemory<float>.Empty, y);
        for (int i = 0; i < 36; i++)
            for (int t = 0; t < 9; t++)
                for (int oy = 0; oy < 4; oy++)
                    for (int ox = 0; ox < 4; ox++)
                    {
                        // y[oy, ox] = sum over (ky, kx) of w[ky, kx] x[oy + ky, ox + kx]
                        double expected = (oy + t / 3) * 6 + ox + t % 3 == i ? 1 : 0;
                        float actual = y[((i * 9 + t) * 4 + oy) * 4 + ox];
                        Assert.True(Math.Abs(actual - expected) <= 1e-5, $"input 1 at {i}, tap {t}, output ({oy}, {ox}): {actual}, expected {expected}");
                    }
    }

    [Fact]
    public void Convolution_results_do_not_depend_on_the_thread_count()
    {
        var x = Pair(9, 5, 3, 9, 9).Fast;
        var w = Pair(10, 4, 3, 3, 3).Fast;
        var dy = Pair(11, 5, 4, 9, 9).Fast;
        float[] AllThree(int threads)   // y, dx and dw, one after the other
        {
            int saved = FerEngine.Backends.Cpu.CpuFastBackend.Threads;
            FerEngine.Backends.Cpu.CpuFastBackend.Threads = threads;
            try
            {
                var y = Tensor.Zeros(new Shape(5, 4, 9, 9), DType.Float32, Device.Cpu);
                var dx = Tensor.Zeros(new Shape(5, 3, 9, 9), DType.Float32, Device.Cpu);
                var dw = Tensor.Zeros(new Shape(4, 3, 3, 3), DType.Float32, Device.Cpu);
                Fast.ConvolutionForward(x, w, null, y, 1);
                Fast.ConvolutionBackwardData(dy, w, dx, 1);
                Fast.ConvolutionBackwardFilter(x, dy, dw, 1, accumulate: false);
                return [.. y.ToArray<float>(), .. dx.ToArray<float>(), .. dw.ToArray<float>()];
            }
            finally { FerEngine.Backends.Cpu.CpuFastBackend.Threads = saved; }
        }
        Assert.Equal(AllThree(2), AllThree(2));          // bitwise reproducible run to run
        Assert.Equal(AllThree(1), AllThree(3));          // and for any number of threads
    }

    [Fact]
    public void A_big_gemm_split_over_threads_gives_the_same_bits()
    {
        var x = Pair(12, 32, 9216).Fast;      // the fully-connected layer: x [32, 9216] times w^T
        var w = Pair(13, 136, 9216).Fast;     // 136 outputs: four whole column panels and a partial one
        float[] Product(int threads)
        {
            int saved = FerEngine.Backends.Cpu.CpuFastBackend.Threads;
            FerEngine.Backends.Cpu.CpuFastBackend.Threads = threads;
            try
            {
                var y = Tensor.Zeros(new Shape(32, 136), DType.Float32, Device.Cpu);
                Fast.Gemm(false, true, 1.0, x, w, 0.0, y);
                return y.ToArray<float>();
            }
            finally { FerEngine.Backends.Cpu.CpuFastBackend.Threads = saved; }
        }
        var single = Product(1);
        Assert.Equal(single, Product(2));
        Assert.Equal(single, Product(3));
    }

    [Theory]
    [InlineData(1, 3, 5, 7)]
    [InlineData(32, 64, 24, 24)]    // after conv3's ELU
    [InlineData(32, 128, 1, 1)]     // bn_fc as [N, C, 1, 1]
    public void Per_channel_and_elementwise_primitives(int n, int c, int h, int w)
    {
        var x = Pair(12, n, c, h, w);
        var gamma = Pair(13, c);
        var beta = Pair(14, c);
        var dy = Pair(15, n, c, h, w);

        var y = Empty(n, c, h, w);
        Fast.EluForward(x.Fast, y.Fast, 1.0);
        Reference.EluForward(x.Reference, y.Reference, 1.0);
        AssertClose(y.Fast, y.Reference, "elu forward");
        var dx = Empty(n, c, h, w);
        Fast.EluBackward(y.Fast, dy.Fast, dx.Fast, 1.0);
        Reference.EluBackward(y.Reference, dy.Reference, dx.Reference, 1.0);
        AssertClose(dx.Fast, dx.Reference, "elu backward");

        var (meanF, meanR) = Empty(c);
        var (varF, varR) = (Tensor.Ones(new Shape(c), DType.Float32, Device.Cpu), Tensor.Ones(new Shape(c), DType.Float64, Device.CpuReference));
        var (saveMeanF, saveMeanR) = Empty(c);
        var (invF, invR) = Empty(c);
        Fast.BatchNormForwardTraining(x.Fast, gamma.Fast, beta.Fast, meanF, varF, 0.01, 1e-3, y.Fast, saveMeanF, invF);
        Reference.BatchNormForwardTraining(x.Reference, gamma.Reference, beta.Reference, meanR, varR, 0.01, 1e-3, y.Reference, saveMeanR, invR);
        AssertClose(y.Fast, y.Reference, "batch norm forward");
        AssertClose(varF, varR, "batch norm running variance");
        var (dgF, dgR) = Empty(c);
        var (dbF, dbR) = Empty(c);
        Fast.BatchNormBackward(x.Fast, dy.Fast, gamma.Fast, saveMeanF, invF, dx.Fast, dgF, dbF, false);
        Reference.BatchNormBackward(x.Reference, dy.Reference, gamma.Reference, saveMeanR, invR, dx.Reference, dgR, dbR, false);
        AssertClose(dx.Fast, dx.Reference, "batch norm backward dx");
        AssertClose(dgF, dgR, "batch norm backward dgamma");
        AssertClose(dbF, dbR, "batch norm backward dbeta");

        Fast.AddBias(y.Fast, beta.Fast);
        Reference.AddBias(y.Reference, beta.Reference);
        AssertClose(y.Fast, y.Reference, "add bias");
        Fast.BiasBackward(dy.Fast, dbF, accumulate: true);
        Reference.BiasBackward(dy.Reference, dbR, accumulate: true);
        AssertClose(dbF, dbR, "bias backward");

        if (h >= 2 && w >= 2)
        {
            var p = Empty(n, c, h / 2, w / 2);
            var (argF, argR) = (Tensor.Zeros(p.Fast.Shape, DType.Int32, Device.Cpu), Tensor.Zeros(p.Fast.Shape, DType.Int32, Device.CpuReference));
            Fast.MaxPool2x2Forward(x.Fast, p.Fast, argF);
            Reference.MaxPool2x2Forward(x.Reference, p.Reference, argR);
            AssertClose(p.Fast, p.Reference, "max-pool forward");
            Assert.Equal(argR.ToArray<int>(), argF.ToArray<int>());
            Fast.MaxPool2x2Backward(p.Fast, argF, dx.Fast);
            Reference.MaxPool2x2Backward(p.Reference, argR, dx.Reference);
            AssertClose(dx.Fast, dx.Reference, "max-pool backward");
        }
    }

    [Theory]
    [InlineData(2, 3, 48, 48)]   // pool1's rows: 24 windows = a block of 16, then the last 16 (8 of them again)
    [InlineData(2, 2, 24, 24)]   // pool2's rows: 12 windows, fewer than one block
    [InlineData(1, 2, 35, 67)]   // odd sizes: a last row and column that no window covers
    [InlineData(1, 1, 2, 64)]    // two full blocks
    public void Max_pool_picks_the_same_winners_as_the_reference_with_ties_and_NaNs(int n, int c, int h, int w)
    {
        // Values on a coarse grid (many ties: the first maximum wins) with some NaNs (the first NaN wins).
        var values = Tensor.Normal(new Shape(n, c, h, w), 0, 1, seed: 5, stream: 1, DType.Float64, Device.CpuReference).ToDoubles()
            .Select((v, i) => i % 13 == 0 ? double.NaN : Math.Round(v * 2) / 2).ToArray();
        var (x, pooled) = (Tensor.FromDoubles(values, new Shape(n, c, h, w), DType.Float32, Device.Cpu), Tensor.FromDoubles(values, new Shape(n, c, h, w), DType.Float64, Device.CpuReference));
        var p = Empty(n, c, h / 2, w / 2);
        var (argF, argR) = (Tensor.Zeros(p.Fast.Shape, DType.Int32, Device.Cpu), Tensor.Zeros(p.Fast.Shape, DType.Int32, Device.CpuReference));
        Fast.MaxPool2x2Forward(x, p.Fast, argF);
        Reference.MaxPool2x2Forward(pooled, p.Reference, argR);
        Assert.Equal(argR.ToArray<int>(), argF.ToArray<int>());
        Assert.Equal(p.Reference.ToDoubles(), p.Fast.ToDoubles());

        var dy = Pair(3, n, c, h / 2, w / 2);
        var (dxF, dxR) = (Tensor.Full(x.Shape, 7, DType.Float32, Device.Cpu), Tensor.Zeros(x.Shape, DType.Float64, Device.CpuReference));
        Fast.MaxPool2x2Backward(dy.Fast, argF, dxF);     // dx starts non-zero: every element must be written
        Reference.MaxPool2x2Backward(dy.Reference, argR, dxR);
        Assert.Equal(dxR.ToDoubles().Select(v => (double)(float)v), dxF.ToDoubles());
    }

    [Theory]
    [InlineData(37)]        // the scalar tail only
    [InlineData(70_007)]    // two parallel chunks, 16 at a time, and a tail
    public void Dropout_keeps_the_same_elements_and_scales_them_like_the_reference(int n)
    {
        const double p = 0.3;
        var x = Pair(4, n);
        var dy = Pair(5, n);
        var (y, dx) = (Empty(n), Empty(n));
        var (maskF, maskR) = (Tensor.Zeros(new Shape(n), DType.UInt8, Device.Cpu), Tensor.Zeros(new Shape(n), DType.UInt8, Device.CpuReference));
        Fast.DropoutForward(x.Fast, p, 9, 2, Tensor.FromArray([3L], new Shape(1), Device.Cpu), y.Fast, maskF);
        Reference.DropoutForward(x.Reference, p, 9, 2, Tensor.FromArray([3L], new Shape(1), Device.CpuReference), y.Reference, maskR);
        Assert.Equal(maskR.ToArray<byte>(), maskF.ToArray<byte>());
        AssertClose(y.Fast, y.Reference, "dropout forward");
        Fast.DropoutBackward(dy.Fast, maskF, p, dx.Fast);
        Reference.DropoutBackward(dy.Reference, maskR, p, dx.Reference);
        AssertClose(dx.Fast, dx.Reference, "dropout backward");
        Assert.All(dx.Fast.ToArray<float>().Zip(maskF.ToArray<byte>()), pair => Assert.Equal(pair.Second == 0, pair.First == 0f));
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(0.01)]
    public void Vectorised_Adam_matches_the_scalar_float32_loop_bit_for_bit(double weightDecay)
    {
        const int n = 70_007;   // two parallel chunks, 16 at a time, and a tail
        float[] Values(ulong stream) => Tensor.Normal(new Shape(n), 0, 1, seed: 3, stream, DType.Float32, Device.Cpu).ToArray<float>();
        float[] p = Values(1), g = Values(2), m = new float[n], v = new float[n];
        Tensor OnCpu(float[] values) => Tensor.FromArray(values.ToArray(), new Shape(values.Length), Device.Cpu);
        var (fastP, fastG, fastM, fastV) = (OnCpu(p), OnCpu(g), OnCpu(m), OnCpu(v));
        var adam = new AdamHyperparameters(3e-4, WeightDecay: weightDecay);
        for (int step = 1; step <= 3; step++)
        {
            var scalars = adam.StepScalarsTensor(step, DType.Float32, Device.Cpu);
            Fast.AdamUpdate(fastP, fastG, fastM, fastV, adam, scalars);
            FerEngine.Backends.Cpu.ReferenceLoops<float>.AdamUpdate(p, g, m, v, adam, scalars.ToArray<float>());
        }
        Assert.Equal(v, fastV.ToArray<float>());
        Assert.Equal(m, fastM.ToArray<float>());
        Assert.Equal(p, fastP.ToArray<float>());
    }

    [Fact]
    public void Gemm_reading_B_in_place_refuses_rows_outside_its_source()
    {
        using var a = FerEngine.Backends.Cpu.Fast.Sgemm.Pack(false, 8, 2, 1f, new float[16], 2);
        int n = FerEngine.Backends.Cpu.Fast.Sgemm.NR;
        var c = new float[8 * n];
        var source = new float[n + 3];
        FerEngine.Backends.Cpu.Fast.Sgemm.Multiply(a, n, source, [0, 3], c, n);   // the last row ends exactly at the end
        var e = Assert.Throws<ArgumentException>(() => FerEngine.Backends.Cpu.Fast.Sgemm.Multiply(a, n, source, [0, 4], c, n));
        Assert.Contains("outside a source", e.Message);
    }

    [Theory]
    [InlineData(16, 300)]   // one slice of depth: every tile is stored, not added
    [InlineData(13, 600)]   // a partial row panel (edge tiles) and a second slice, which adds to the first
    public void Gemm_reading_B_in_place_can_overwrite_c_without_reading_it(int m, int k)
    {
        int n = 2 * FerEngine.Backends.Cpu.Fast.Sgemm.NR;
        var random = new System.Random(5);
        float[] weights = Enumerable.Range(0, m * k).Select(_ => (float)random.NextDouble() - 0.5f).ToArray();
        float[] source = Enumerable.Range(0, k * n).Select(_ => (float)random.NextDouble() - 0.5f).ToArray();
        int[] rows = Enumerable.Range(0, k).Select(p => p * n).ToArray();
        using var a = FerEngine.Backends.Cpu.Fast.Sgemm.Pack(false, m, k, 1f, weights, k);
        var added = new float[m * n];
        FerEngine.Backends.Cpu.Fast.Sgemm.Multiply(a, n, source, rows, added, n);   // 0 + A x B
        var overwritten = Enumerable.Repeat(float.NaN, m * n).ToArray();            // what C held must not matter
        FerEngine.Backends.Cpu.Fast.Sgemm.Multiply(a, n, source, rows, overwritten, n, overwrite: true);
        Assert.Equal(added, overwritten);
    }

    [Fact]
    public void Loss_and_optimiser_primitives()
    {
        var logits = Pair(16, 33, 7);
        long[] labelValues = Enumerable.Range(0, 33).Select(i => i % 4 == 0 ? -1L : i % 7).ToArray();
        var (lossF, lossR) = (Tensor.Zeros(Shape.Scalar, DType.Float32, Device.Cpu), Tensor.Zeros(Shape.Scalar, DType.Float64, Device.CpuReference));
        var d = Empty(33, 7);
        Fast.SoftmaxCrossEntropy(logits.Fast, Tensor.FromArray(labelValues, new Shape(33), Device.Cpu), lossF, d.Fast);
        Reference.SoftmaxCrossEntropy(logits.Reference, Tensor.FromArray(labelValues, new Shape(33), Device.CpuReference), lossR, d.Reference);
        AssertClose(lossF, lossR, "softmax cross-entropy loss");
        AssertClose(d.Fast, d.Reference, "softmax cross-entropy gradient");

        var p = Pair(17, 1001);
        var g = Pair(18, 1001);
        var m = Empty(1001);
        var v = Empty(1001);
        var adam = new AdamHyperparameters(3e-4, WeightDecay: 0.01);
        for (int step = 1; step <= 3; step++)
        {
            Fast.AdamUpdate(p.Fast, g.Fast, m.Fast, v.Fast, adam, adam.StepScalarsTensor(step, DType.Float32, Device.Cpu));
            Reference.AdamUpdate(p.Reference, g.Reference, m.Reference, v.Reference, adam, adam.StepScalarsTensor(step, DType.Float64, Device.CpuReference));
        }
        AssertClose(p.Fast, p.Reference, "adam");
    }

    [Fact]
    public void Elu_forward_is_within_float_rounding_of_the_exact_value_over_the_whole_negative_range()
    {
        // The fast path's own vectorised exp: every x from -100 to 100 in steps of 1/1024, elementwise.
        float[] x = Enumerable.Range(-102_400, 204_801).Select(i => i / 1024f).ToArray();
        var y = Tensor.Zeros(new Shape(x.Length), DType.Float32, Device.Cpu);
        Fast.EluForward(Tensor.FromArray(x, new Shape(x.Length), Device.Cpu), y, 1.5);
        float[] ours = y.ToArray<float>();
        for (int i = 0; i < x.Length; i++)
        {
            double exact = x[i] > 0 ? x[i] : 1.5 * (Math.Exp(x[i]) - 1);
            Assert.True(Math.Abs(ours[i] - exact) <= 4e-7 * Math.Max(1, Math.Abs(exact)), $"elu({x[i]}) = {ours[i]}, exactly {exact}");
        }
    }
}
