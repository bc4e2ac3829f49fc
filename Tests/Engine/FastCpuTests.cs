using FerEngine.Backends;

namespace FerEngine.Tests.Engine;

/// <summary>
/// The fast float32 CPU path (Device.Cpu) against the float64 reference (Device.CpuReference) on
/// the same values: norm-wise relative error ||fast - reference|| / ||reference|| below 1e-4, on
/// odd sizes and on the paper network's real layer shapes.
/// </summary>
[Collection(CpuThreadsCollection.Name)]
public class FastCpuTests
{
    internal const double Tolerance = 1e-4;

    /// <summary>The same random values as a float32 tensor on the fast device and a float64 one on the reference.</summary>
    internal static (Tensor Fast, Tensor Reference) Pair(ulong stream, params int[] dims)
    {
        var reference = Tensor.Normal(new Shape(dims), 0, 1, seed: 11, stream, DType.Float64, Device.CpuReference);
        return (Tensor.FromDoubles(reference.ToDoubles(), reference.Shape, DType.Float32, Device.Cpu), reference);
    }

    internal static (Tensor Fast, Tensor Reference) Empty(params int[] dims) =>
        (Tensor.Zeros(new Shape(dims), DType.Float32, Device.Cpu), Tensor.Zeros(new Shape(dims), DType.Float64, Device.CpuReference));

    internal static void AssertClose(Tensor fast, Tensor reference, string what, double tolerance = Tolerance)
    {
        double[] a = fast.ToDoubles(), b = reference.ToDoubles();
        double difference = 0, norm = 0;
        for (int i = 0; i < a.Length; i++) { difference += (a[i] - b[i]) * (a[i] - b[i]); norm += b[i] * b[i]; }
        double relative = norm == 0 ? Math.Sqrt(difference) : Math.Sqrt(difference / norm);
        Assert.True(relative < tolerance, $"{what}: relative error {relative:E2} >= {tolerance:E0}");
    }

    /// <summary>Besides the norm-wise check: every element within the tolerance of the largest, so that a single wrong output cannot hide in the norm.</summary>
    internal static void AssertElementsClose(Tensor fast, Tensor reference, string what)
    {
        double[] a = fast.ToDoubles(), b = reference.ToDoubles();
        double largest = b.Max(Math.Abs);
        for (int i = 0; i < a.Length; i++)
            Assert.True(Math.Abs(a[i] - b[i]) <= Tolerance * largest, $"{what}: element {i} is {a[i]}, the reference {b[i]}");
    }

    private static IBackend Fast => Device.Cpu.Backend;
    private static IBackend Reference => Device.CpuReference.Backend;

    [Theory]
    [InlineData(1, 1, 1)]
    [InlineData(7, 3, 5)]
    [InlineData(33, 65, 31)]
    [InlineData(129, 40, 300)]
    [InlineData(32, 128, 9216)]   // the fully-connected layer: x [32, 9216] times w^T
    [InlineData(1, 128, 9216)]    // the same for one image: dot products with w's rows
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
    [InlineData(2, 1, 48, 48, 64, 5, 2)]     // conv1 (its filter gradient by dot products: FastFilterGradientFewChannels)
    [InlineData(2, 3, 48, 48, 16, 5, 2)]     // conv1 on colour images
    [InlineData(3, 1, 40, 37, 6, 5, 0)]      // conv1's filter gradient with dy rows of 33, not a whole number of vectors
    [InlineData(2, 2, 9, 21, 3, 5, 1)]       // and of 19, padding 1
    [InlineData(1, 64, 48, 48, 64, 5, 2)]    // conv2
    [InlineData(2, 128, 24, 24, 128, 3, 1)]  // conv4
    [InlineData(1, 256, 12, 12, 256, 3, 1)]  // conv6 (one image: direct, too few tiles for Winograd; its channels split over the threads)
    [InlineData(1, 64, 24, 24, 128, 3, 1)]   // conv3 at batch 1: direct too
    [InlineData(8, 16, 12, 12, 24, 3, 1)]    // 72 tiles: Winograd
    [InlineData(3, 3, 7, 9, 5, 3, 0)]        // no padding: a row's reads run into the next row's pixels
    [InlineData(2, 3, 5, 6, 4, 3, 2)]        // padding K - 1 (a full convolution, as backward-data of no padding)
    [InlineData(2, 2, 5, 4, 3, 1, 1)]        // padding >= K: rows keep their own right padding
    [InlineData(3, 16, 48, 48, 16, 5, 2)]    // conv2 at width 0.25: its filter gradient with the 25 taps in registers (FilterGradientTaps5x5)
    [InlineData(2, 5, 13, 21, 32, 5, 1)]     // the same, two vectors of output channels, rows of 19 outputs, padding 1
    [InlineData(2, 4, 9, 9, 16, 5, 0)]       // and no padding: the last taps' reads run past the plane
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

    [Theory]
    [InlineData(2, 1, 48, 48, 64, 2, true)]    // conv1: one block of 48 columns, eight blocks of 8 channels
    [InlineData(1, 3, 20, 100, 11, 2, false)]  // colour, no bias: blocks of 48, 48 and 4 columns; 8 + 3 channels
    [InlineData(3, 2, 12, 17, 5, 0, true)]     // no padding: 13 columns, 5 channels
    [InlineData(1, 1, 6, 6, 9, 4, true)]       // padding beyond the kernel's reach: outputs of the bias alone at the edges
    public void Direct_forward_of_few_channels_has_every_element_right(int n, int cin, int h, int w, int cout, int padding, bool withBias)
    {
        Assert.True(FerEngine.Backends.Cpu.Fast.FastForwardFewChannels.Supports(new(n, cin, h, w, cout, 5, padding)));
        var x = Pair(30, n, cin, h, w);
        var weight = Pair(31, cout, cin, 5, 5);
        var bias = withBias ? Pair(32, cout) : default;
        var y = Empty(n, cout, h + 2 * padding - 4, w + 2 * padding - 4);
        Fast.ConvolutionForward(x.Fast, weight.Fast, bias.Fast, y.Fast, padding);
        Reference.ConvolutionForward(x.Reference, weight.Reference, bias.Reference, y.Reference, padding);
        AssertElementsClose(y.Fast, y.Reference, $"direct forward {n}x{cin}x{h}x{w} -> {cout}, padding {padding}");
    }

    [Theory]
    [InlineData(5, 3, 3, 4)]
    [InlineData(5, 1, 5, 4)]    // conv1's filter gradient by dot products
    [InlineData(5, 16, 5, 16)]  // a 5x5 filter gradient with its taps in registers, images summed chunk by chunk
    [InlineData(1, 3, 3, 20)]   // one image: with more than one thread they split its 20 output channels (3 row panels)
    public void Convolution_results_do_not_depend_on_the_thread_count(int n, int cin, int k, int cout)
    {
        var x = Pair(9, n, cin, 9, 9).Fast;
        var w = Pair(10, cout, cin, k, k).Fast;
        var dy = Pair(11, n, cout, 9, 9).Fast;
        float[] AllThree(int threads) => CpuThreadsCollection.WithThreads<float[]>(threads, () =>   // y, dx and dw, one after the other
        {
            var y = Tensor.Zeros(new Shape(n, cout, 9, 9), DType.Float32, Device.Cpu);
            var dx = Tensor.Zeros(new Shape(n, cin, 9, 9), DType.Float32, Device.Cpu);
            var dw = Tensor.Zeros(new Shape(cout, cin, k, k), DType.Float32, Device.Cpu);
            Fast.ConvolutionForward(x, w, null, y, k / 2);
            Fast.ConvolutionBackwardData(dy, w, dx, k / 2);
            Fast.ConvolutionBackwardFilter(x, dy, dw, k / 2, accumulate: false);
            return [.. y.ToArray<float>(), .. dx.ToArray<float>(), .. dw.ToArray<float>()];
        });
        Assert.Equal(AllThree(2), AllThree(2));          // bitwise reproducible run to run
        Assert.Equal(AllThree(1), AllThree(3));          // and for any number of threads
    }

    [Theory]
    [InlineData(16, 16, 16, 16)]      // one block
    [InlineData(37, 50, 50, 40)]      // whole blocks, a right edge and a bottom edge; destination rows wider than the source's row count
    [InlineData(5, 7, 7, 5)]          // no whole block
    [InlineData(64, 2304, 2304, 64)]  // conv2's dy of one image, [Cout, Ho Wo]
    [InlineData(20, 256, 9216, 32)]   // a GEMM panel of a transposed B: 20 of its rows, a slice of 256 columns
    public void Transpose_moves_every_float_and_leaves_the_rest_of_each_row_alone(int rows, int columns, int sourceStride, int width)
    {
        var source = Enumerable.Range(0, rows * sourceStride).Select(i => (float)i).ToArray();
        var destination = Enumerable.Repeat(-1f, columns * width).ToArray();
        FerEngine.Backends.Cpu.Fast.FastTranspose.Transpose(source, rows, columns, sourceStride, destination, width);
        for (int c = 0; c < columns; c++)
            for (int r = 0; r < width; r++)
                Assert.Equal(r < rows ? source[r * sourceStride + c] : -1f, destination[c * width + r]);
    }

    [Fact]
    public void A_big_gemm_split_over_threads_gives_the_same_bits()
    {
        var x = Pair(12, 32, 9216).Fast;      // the fully-connected layer: x [32, 9216] times w^T
        var w = Pair(13, 136, 9216).Fast;     // 136 outputs: four whole column panels and a partial one
        float[] Product(int threads) => CpuThreadsCollection.WithThreads(threads, () =>
        {
            var y = Tensor.Zeros(new Shape(32, 136), DType.Float32, Device.Cpu);
            Fast.Gemm(false, true, 1.0, x, w, 0.0, y);
            return y.ToArray<float>();
        });
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
        Fast.EluForward(x.Fast, null, y.Fast, 1.0);
        Reference.EluForward(x.Reference, null, y.Reference, 1.0);
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
        Fast.BatchNormBackward(x.Fast, dy.Fast, gamma.Fast, saveMeanF, invF, dx.Fast, dgF, dbF, accumulate: true);
        Reference.BatchNormBackward(x.Reference, dy.Reference, gamma.Reference, saveMeanR, invR, dx.Reference, dgR, dbR, accumulate: true);
        AssertClose(dgF, dgR, "batch norm backward dgamma, accumulated");
        AssertClose(dbF, dbR, "batch norm backward dbeta, accumulated");
        var runningMean = Pair(16, c);   // running statistics far from 0 and 1, so that each of them matters
        var runningVar = (Fast: Tensor.FromDoubles(runningMean.Reference.ToDoubles().Select(v => 0.5 + v * v).ToArray(), gamma.Fast.Shape, DType.Float32, Device.Cpu),
            Reference: Tensor.FromDoubles(runningMean.Reference.ToDoubles().Select(v => 0.5 + v * v).ToArray(), gamma.Reference.Shape, DType.Float64, Device.CpuReference));
        Fast.BatchNormForwardInference(x.Fast, gamma.Fast, beta.Fast, runningMean.Fast, runningVar.Fast, 1e-3, y.Fast);
        Reference.BatchNormForwardInference(x.Reference, gamma.Reference, beta.Reference, runningMean.Reference, runningVar.Reference, 1e-3, y.Reference);
        AssertClose(y.Fast, y.Reference, "batch norm inference");
        AssertElementsClose(y.Fast, y.Reference, "batch norm inference");

        // Batch norm of an ELU's output, backward through both in one pass: against the reference, and
        // bit for bit what the fast path's two passes give.
        var (eluF, eluR) = Empty(n, c, h, w);
        Fast.EluForward(x.Fast, null, eluF, 1.0);
        Reference.EluForward(x.Reference, null, eluR, 1.0);
        Fast.BatchNormForwardTraining(eluF, gamma.Fast, beta.Fast, meanF, varF, 0.01, 1e-3, y.Fast, saveMeanF, invF);
        Reference.BatchNormForwardTraining(eluR, gamma.Reference, beta.Reference, meanR, varR, 0.01, 1e-3, y.Reference, saveMeanR, invR);
        var (duF, duR) = Empty(n, c, h, w);
        Fast.BatchNormEluBackward(eluF, dy.Fast, gamma.Fast, saveMeanF, invF, 1.0, duF, dgF, dbF);
        Reference.BatchNormEluBackward(eluR, dy.Reference, gamma.Reference, saveMeanR, invR, 1.0, duR, dgR, dbR);
        AssertClose(duF, duR, "batch norm + elu backward du");
        AssertClose(dgF, dgR, "batch norm + elu backward dgamma");
        AssertClose(dbF, dbR, "batch norm + elu backward dbeta");
        var (twoPasses, _) = Empty(n, c, h, w);
        Fast.BatchNormBackward(eluF, dy.Fast, gamma.Fast, saveMeanF, invF, dx.Fast, dgF, dbF, false);
        Fast.EluBackward(eluF, dx.Fast, twoPasses, 1.0);
        Assert.Equal(twoPasses.ToArray<float>(), duF.ToArray<float>());

        // ELU of x + bias (alpha 0.8: read, not assumed 1), alone and under a batch norm, against the
        // reference; the fused primitive gives bit for bit what the fast path's two primitives give.
        var bias = Pair(17, c);
        Fast.EluForward(x.Fast, bias.Fast, eluF, 0.8);
        Reference.EluForward(x.Reference, bias.Reference, eluR, 0.8);
        AssertClose(eluF, eluR, "elu of x + bias");
        var (twoPrimitives, _) = Empty(n, c, h, w);
        Fast.BatchNormForwardTraining(eluF, gamma.Fast, beta.Fast, meanF, varF, 0.01, 1e-3, twoPrimitives, saveMeanF, invF);
        var (fusedElu, _) = Empty(n, c, h, w);
        Fast.EluBatchNormForwardTraining(x.Fast, bias.Fast, 0.8, fusedElu, gamma.Fast, beta.Fast, meanF, varF, 0.01, 1e-3, y.Fast, saveMeanF, invF);
        Reference.EluBatchNormForwardTraining(x.Reference, bias.Reference, 0.8, eluR, gamma.Reference, beta.Reference, meanR, varR, 0.01, 1e-3, y.Reference, saveMeanR, invR);
        AssertClose(fusedElu, eluR, "elu of x + bias, made by the batch norm");
        AssertClose(y.Fast, y.Reference, "batch norm of elu of x + bias");
        Assert.Equal(eluF.ToArray<float>(), fusedElu.ToArray<float>());
        Assert.Equal(twoPrimitives.ToArray<float>(), y.Fast.ToArray<float>());

        Fast.AddBias(y.Fast, beta.Fast);
        Reference.AddBias(y.Reference, beta.Reference);
        AssertClose(y.Fast, y.Reference, "add bias");
        Fast.BiasBackward(dy.Fast, dbF, accumulate: true);
        Reference.BiasBackward(dy.Reference, dbR, accumulate: true);
        AssertClose(dbF, dbR, "bias backward, accumulated");
        Fast.BiasBackward(dy.Fast, dbF, accumulate: false);
        Reference.BiasBackward(dy.Reference, dbR, accumulate: false);
        AssertClose(dbF, dbR, "bias backward, overwritten");

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
    [InlineData(1, 2, 4, 5)]     // even height, odd width: only a last column is uncovered
    [InlineData(1, 2, 5, 4)]     // odd height, even width: only a last row
    [InlineData(1, 1, 2, 64)]    // two full blocks
    [InlineData(8, 64, 12, 12)]  // pool3's rows: 6 windows, a block running on into the rows after; 512 planes in two chunks
    [InlineData(4, 64, 24, 24)]  // pool2's, the same with 12 windows a row, in more chunks
    [InlineData(3, 5, 13, 26)]   // odd height: forward runs on past the row, backward writes each row alone
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

    [Fact]
    public void Gemm_with_beta_zero_writes_over_NaN_in_C()
    {
        // A step arena's slot holds whatever the last step left there, NaN included: beta 0 must not read it (0 * NaN = NaN).
        foreach (var device in new[] { Device.CpuReference, Device.Cpu })
            foreach (var dtype in new[] { DType.Float32, DType.Float64 })
            {
                var a = Tensor.Full(new Shape(2, 3), 1, dtype, device);
                var b = Tensor.Full(new Shape(3, 2), 2, dtype, device);
                var c = Tensor.Full(new Shape(2, 2), double.NaN, dtype, device);
                device.Backend.Gemm(false, false, 1.0, a, b, 0.0, c);
                Assert.All(c.ToDoubles(), value => Assert.Equal(6.0, value));

                var row = Tensor.Full(new Shape(1, 3), 1, dtype, device);   // one row times a transposed B: dot products
                var rowOut = Tensor.Full(new Shape(1, 2), double.NaN, dtype, device);
                device.Backend.Gemm(false, true, 1.0, row, Tensor.Full(new Shape(2, 3), 2, dtype, device), 0.0, rowOut);
                Assert.All(rowOut.ToDoubles(), value => Assert.Equal(6.0, value));
            }
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
            Fast.AdamUpdate([new(fastP, fastG, fastM, fastV)], adam, scalars);
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

    [Theory]
    [InlineData(16, 300)]
    [InlineData(13, 600)]   // a partial row panel and a second slice
    public void Gemm_reading_B_in_place_takes_a_last_half_panel_with_the_columns_a_whole_panel_gives(int m, int k)
    {
        int wide = 2 * FerEngine.Backends.Cpu.Fast.Sgemm.NR, n = wide - FerEngine.Backends.Cpu.Fast.Sgemm.ColumnStep;   // 64 and 48 columns
        var random = new System.Random(6);
        float[] weights = Enumerable.Range(0, m * k).Select(_ => (float)random.NextDouble() - 0.5f).ToArray();
        float[] source = Enumerable.Range(0, k * wide).Select(_ => (float)random.NextDouble() - 0.5f).ToArray();
        int[] rows = Enumerable.Range(0, k).Select(p => p * wide).ToArray();   // B [k, 64]; the narrow product reads its first 48 columns
        using var a = FerEngine.Backends.Cpu.Fast.Sgemm.Pack(false, m, k, 1f, weights, k);
        var whole = new float[m * wide];
        FerEngine.Backends.Cpu.Fast.Sgemm.Multiply(a, wide, source, rows, whole, wide, overwrite: true);
        var half = Enumerable.Repeat(float.NaN, m * wide).ToArray();
        FerEngine.Backends.Cpu.Fast.Sgemm.Multiply(a, n, source, rows, half, wide, overwrite: true);
        for (int i = 0; i < m; i++)
        {
            Assert.Equal(whole.AsSpan(i * wide, n).ToArray(), half.AsSpan(i * wide, n).ToArray());   // bit for bit: each column is summed in the same order
            Assert.All(half.AsSpan(i * wide + n, wide - n).ToArray(), value => Assert.True(float.IsNaN(value), "a column past n was written"));
        }
        Assert.Throws<ArgumentException>(() => FerEngine.Backends.Cpu.Fast.Sgemm.Multiply(a, n - 8, source, rows, half, wide));
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
        float[] before = p.Fast.ToArray<float>();
        for (int step = 1; step <= 3; step++)
        {
            Fast.AdamUpdate([new(p.Fast, g.Fast, m.Fast, v.Fast)], adam, adam.StepScalarsTensor(step, DType.Float32, Device.Cpu));
            Reference.AdamUpdate([new(p.Reference, g.Reference, m.Reference, v.Reference)], adam, adam.StepScalarsTensor(step, DType.Float64, Device.CpuReference));
        }
        // The updates, not the parameters: the parameters are about 1000x larger than three steps of lr 3e-4,
        // so comparing them would hide an update that is a few % wrong (a dropped weight decay: about 9 %).
        // The float32 parameters round each update to about 1e-4 of itself: hence 1e-3.
        var updateFast = Tensor.FromArray(p.Fast.ToArray<float>().Zip(before, (after, b) => after - b).ToArray(), new Shape(1001), Device.Cpu);
        var updateReference = Tensor.FromArray(p.Reference.ToArray<double>().Zip(before, (after, b) => after - b).ToArray(), new Shape(1001), Device.CpuReference);
        AssertClose(updateFast, updateReference, "adam update", tolerance: 1e-3);
        AssertClose(m.Fast, m.Reference, "adam first moment");
        AssertClose(v.Fast, v.Reference, "adam second moment");
    }

    [Fact]
    public void Argmax_matches_the_reference_with_ties_and_NaN()
    {
        var (fast, reference) = Pair(19, 40, 7);
        var f = fast.AsSpan<float>();
        var r = reference.AsSpan<double>();
        for (int k = 0; k < 7; k++) { f[7 + k] = 1; r[7 + k] = 1; }               // row 1: all tied, class 0 wins
        f[14 + 3] = f[14 + 5] = 9; r[14 + 3] = r[14 + 5] = 9;                       // row 2: a tie for the largest, class 3 wins
        f[21 + 2] = float.NaN; r[21 + 2] = double.NaN;                              // row 3: NaN is skipped
        f[28] = float.NaN; r[28] = double.NaN;                                      // row 4: NaN first is never beaten
        var (fastIndices, referenceIndices) = (Tensor.Zeros(new Shape(40), DType.Int64, Device.Cpu), Tensor.Zeros(new Shape(40), DType.Int64, Device.CpuReference));
        Fast.Argmax(fast, fastIndices);
        Reference.Argmax(reference, referenceIndices);
        Assert.Equal(referenceIndices.AsSpan<long>().ToArray(), fastIndices.AsSpan<long>().ToArray());
        long[] got = fastIndices.AsSpan<long>().ToArray();
        Assert.Equal((0L, 3L, 0L), (got[1], got[2], got[4]));
    }

    [Theory]
    [InlineData(5, 7, 1)]    // [N, C]: the fully-connected layer and the heads
    [InlineData(3, 4, 35)]   // [N, C, H, W] with a plane that is not a whole number of vectors
    public void Add_and_add_bias_are_bit_identical_to_the_float32_reference(int n, int c, int spatial)
    {
        int[] dims = spatial == 1 ? [n, c] : [n, c, 5, spatial / 5];
        Tensor OnBoth(Device device, ulong stream, params int[] shape) => Tensor.Normal(new Shape(shape), 0, 1, seed: 3, stream, DType.Float32, device);
        var (fast, reference) = (OnBoth(Device.Cpu, 1, dims), OnBoth(Device.CpuReference, 1, dims));
        var (fastOther, referenceOther) = (OnBoth(Device.Cpu, 2, dims), OnBoth(Device.CpuReference, 2, dims));
        Fast.Add(fastOther, fast, fast);                          // in place, as autograd accumulates
        Reference.Add(referenceOther, reference, reference);
        Fast.AddBias(fast, OnBoth(Device.Cpu, 3, c));
        Reference.AddBias(reference, OnBoth(Device.CpuReference, 3, c));
        Assert.Equal(reference.AsSpan<float>().ToArray(), fast.AsSpan<float>().ToArray());
        Assert.NotEqual(fastOther.AsSpan<float>().ToArray(), fast.AsSpan<float>().ToArray());
    }

    [Fact]
    public void Elu_forward_is_within_float_rounding_of_the_exact_value_over_the_whole_negative_range()
    {
        // The fast path's own vectorised exp: every x from -100 to 100 in steps of 1/1024, elementwise.
        float[] x = Enumerable.Range(-102_400, 204_801).Select(i => i / 1024f).ToArray();
        var y = Tensor.Zeros(new Shape(x.Length), DType.Float32, Device.Cpu);
        Fast.EluForward(Tensor.FromArray(x, new Shape(x.Length), Device.Cpu), null, y, 1.5);
        float[] ours = y.ToArray<float>();
        for (int i = 0; i < x.Length; i++)
        {
            double exact = x[i] > 0 ? x[i] : 1.5 * (Math.Exp(x[i]) - 1);
            Assert.True(Math.Abs(ours[i] - exact) <= 4e-7 * Math.Max(1, Math.Abs(exact)), $"elu({x[i]}) = {ours[i]}, exactly {exact}");
        }
    }
}
