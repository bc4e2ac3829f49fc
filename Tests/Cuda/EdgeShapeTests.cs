using FerEngine.Backends;
using FerEngine.Backends.Cuda;
using FerEngine.Kernels;
using FerEngine.Kernels.Emulator;
using FerEngine.Model.Network;
using FerEngine.Model.Training;
using FerEngine.Optim;
using FerEngine.Random;
using static FerEngine.Tests.GoldenFiles;

namespace FerEngine.Tests.Cuda;

/// <summary>
/// The CUDA backend on the emulated GPU against the CPU reference over edge-case shapes: sizes that
/// are all tail (n &lt; 4), exactly one float4, odd H / W, S = 1 / S % 4 != 0 / several slices per
/// channel, single rows, K = 1, all-unlabelled batches, ties and NaNs. Outputs are views at the start of
/// a larger buffer pre-filled with a sentinel, so an element left unwritten, or one written past the
/// end, shows as a mismatch. Tolerances are <see cref="CudaBackendTests"/>'. The emulator runs blocks and
/// threads here in reverse (<see cref="ExecutionOrder.Reversed"/>; the other CUDA backend tests run them
/// in the usual order), so a kernel whose answer depends on its threads' order fails one of the two.
/// </summary>
public class EdgeShapeTests
{
    private static readonly CudaDevice Gpu = new(new EmulatedGpu { Order = ExecutionOrder.Reversed });
    private static readonly Device Cpu = Device.CpuReference;
    private static IBackend G => Gpu.Backend;
    private static IBackend R => Cpu.Backend;

    /// <summary>Elements after an output view that must keep the sentinel (a float4 or a 32-bit mask store reaches 3 past the end).</summary>
    private const int Guard = 5;
    private const float Sentinel = 7;

    private static (Tensor Gpu, Tensor Cpu) Pair(ulong stream, params int[] dims)
    {
        var cpu = Tensor.Normal(new Shape(dims), 0, 1, 21, stream, DType.Float32, Cpu);
        return (To(cpu, Gpu, DType.Float32), cpu);
    }

    private static (Tensor Gpu, Tensor Cpu) Both<T>(T[] values, params int[] dims) where T : unmanaged =>
        (Tensor.FromArray(values, new Shape(dims), Gpu), Tensor.FromArray(values, new Shape(dims), Cpu));

    /// <summary>An output of shape <paramref name="dims"/> at the start of a buffer <see cref="Guard"/> elements longer, all <paramref name="fill"/>.</summary>
    private static ((Tensor Gpu, Tensor Cpu) View, (Tensor Gpu, Tensor Cpu) Whole) OutOf<T>(T fill, params int[] dims) where T : unmanaged
    {
        var shape = new Shape(dims);
        var whole = Both(Enumerable.Repeat(fill, (int)shape.ElementCount + Guard).ToArray(), (int)shape.ElementCount + Guard);
        return ((whole.Gpu.Slice(0, (int)shape.ElementCount).View(shape), whole.Cpu.Slice(0, (int)shape.ElementCount).View(shape)), whole);
    }

    private static ((Tensor Gpu, Tensor Cpu) View, (Tensor Gpu, Tensor Cpu) Whole) Out(params int[] dims) => OutOf(Sentinel, dims);

    /// <summary>The <see cref="Guard"/> elements after an output still hold the sentinel on the GPU.</summary>
    private static void Untouched((Tensor Gpu, Tensor Cpu) whole, string what) =>
        Assert.True(whole.Gpu.ToDoubles()[^Guard..].SequenceEqual(whole.Cpu.ToDoubles()[^Guard..]), $"{what}: written past the end");

    /// <summary>Norm-wise relative error below <paramref name="tolerance"/> (0 = bit-identical; NaN matches NaN).</summary>
    private static void Same((Tensor Gpu, Tensor Cpu) t, string what, double tolerance = 1e-5)
    {
        if (tolerance == 0) Assert.True(t.Gpu.ToDoubles().SequenceEqual(t.Cpu.ToDoubles()),
            $"{what}: not bit-identical: gpu [{string.Join(", ", t.Gpu.ToDoubles().Take(12))}] vs cpu [{string.Join(", ", t.Cpu.ToDoubles().Take(12))}]");
        else Assert.True(RelativeError(t.Gpu, t.Cpu) < tolerance, $"{what}: relative error {RelativeError(t.Gpu, t.Cpu):E2}");
    }

    // ---- elementwise ---------------------------------------------------------------------------------

    [Theory]   // n < 4: all tail; 4: one float4, no tail; 5, 17: float4s and a tail; 1031: 257 float4s and a tail of 3
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    [InlineData(17)]
    [InlineData(1031)]
    public void Elementwise_ops_write_every_element_and_nothing_past_the_end(int n)
    {
        var (a, b, dy) = (Pair(1, n), Pair(2, n), Pair(3, n));
        var (y, whole) = Out(n);
        void Check(string what, double tolerance = 0) { Same(y, what, tolerance); Untouched(whole, what); }
        G.Add(a.Gpu, b.Gpu, y.Gpu); R.Add(a.Cpu, b.Cpu, y.Cpu); Check("add");
        G.Scale(a.Gpu, -1.5, y.Gpu); R.Scale(a.Cpu, -1.5, y.Cpu); Check("scale");
        G.Axpy(0.3, b.Gpu, y.Gpu); R.Axpy(0.3, b.Cpu, y.Cpu); Check("axpy");
        var s = Both(new[] { 0.7f }, 1);
        G.MultiplyByScalar(a.Gpu, s.Gpu, y.Gpu); R.MultiplyByScalar(a.Cpu, s.Cpu, y.Cpu); Check("multiply by scalar");
        G.MultiplyByScalar(y.Gpu, s.Gpu, y.Gpu); R.MultiplyByScalar(y.Cpu, s.Cpu, y.Cpu); Check("multiply by scalar, in place");
        G.Copy(a.Gpu, y.Gpu); R.Copy(a.Cpu, y.Cpu); Check("copy");
        G.Fill(y.Gpu, -2.5); R.Fill(y.Cpu, -2.5); Check("fill");
        G.EluForward(a.Gpu, null, y.Gpu, 0.8); R.EluForward(a.Cpu, null, y.Cpu, 0.8); Check("elu", 1e-6);
        var (dx, dxWhole) = Out(n);
        G.EluBackward(y.Gpu, dy.Gpu, dx.Gpu, 0.8); R.EluBackward(y.Cpu, dy.Cpu, dx.Cpu, 0.8);
        Same(dx, "elu backward", 1e-6); Untouched(dxWhole, "elu backward");
        G.EluForward(y.Gpu, null, y.Gpu, 1.0); R.EluForward(y.Cpu, null, y.Cpu, 1.0); Check("elu, in place", 1e-6);
    }

    [Theory]   // ELU of x + bias[c]: [N, C] (S = 1), odd S, and n = 3 / 5 elements (all tail / one float4 and a tail)
    [InlineData(1, 3)]
    [InlineData(5, 1)]
    [InlineData(3, 2, 1, 1)]
    [InlineData(1, 1, 1, 5)]
    [InlineData(2, 3, 3, 5)]
    public void Elu_of_x_plus_a_bias_over_edge_layouts(params int[] dims)
    {
        var x = Pair(4, dims);
        var bias = Pair(5, dims[1]);
        var (y, whole) = Out(dims);
        G.EluForward(x.Gpu, bias.Gpu, y.Gpu, 0.8); R.EluForward(x.Cpu, bias.Cpu, y.Cpu, 0.8);
        Same(y, "elu of x + bias", 1e-6);
        Untouched(whole, "elu of x + bias");
        G.EluForward(y.Gpu, bias.Gpu, y.Gpu, 1.0); R.EluForward(y.Cpu, bias.Cpu, y.Cpu, 1.0);
        Same(y, "elu of x + bias, in place", 1e-6);
    }

    /// <summary>
    /// A launch of a vectorised kernel covers 4,096 blocks x 256 threads x 4 floats = 4 M elements (16 MB a tensor,
    /// ~1.5 s a launch in the emulator), so the grid-stride loop is run here on a 2 x 32 grid instead (the kernel
    /// itself, not the backend): every thread takes 5 float4s before the tail.
    /// </summary>
    [Theory]
    [InlineData("fill_f32")]
    [InlineData("copy_f32")]
    [InlineData("add_f32")]
    [InlineData("scale_f32")]
    [InlineData("scale_by_f32")]
    [InlineData("axpy_f32")]
    [InlineData("elu_forward_f32")]
    [InlineData("elu_backward_f32")]
    public void Vectorised_kernels_loop_when_the_grid_is_smaller_than_the_data(string kernel)
    {
        const int n = 1283;   // 320 float4s (5 per thread of 64) and a tail of 3
        var (a, b) = (Pair(6, n), Pair(7, n));
        var expected = Tensor.Full(new Shape(n + Guard), Sentinel, DType.Float32, Cpu);
        var memory = new EmulatedMemory();
        ulong pa = memory.Upload<float>(a.Cpu.ToArray<float>()), pb = memory.Upload<float>(b.Cpu.ToArray<float>());
        ulong py = memory.Upload<float>(expected.ToArray<float>()), ps = memory.Upload<float>([0.7f]);
        var yCpu = expected.Slice(0, n);
        object[] arguments = kernel switch
        {
            "fill_f32" => [py, (uint)n, -2.5f],
            "copy_f32" => [pa, py, (uint)n],
            "add_f32" => [pa, pb, py, (uint)n],
            "scale_f32" => [pa, py, (uint)n, -1.5f],
            "scale_by_f32" => [pa, py, (uint)n, ps],
            "axpy_f32" => [pa, py, (uint)n, 0.3f],
            "elu_forward_f32" => [pa, py, (uint)n, 0.8f],
            _ => [pa, pb, py, (uint)n, 0.8f],
        };
        switch (kernel)
        {
            case "fill_f32": R.Fill(yCpu, -2.5); break;
            case "copy_f32": R.Copy(a.Cpu, yCpu); break;
            case "add_f32": R.Add(a.Cpu, b.Cpu, yCpu); break;
            case "scale_f32": R.Scale(a.Cpu, -1.5, yCpu); break;
            case "scale_by_f32": R.MultiplyByScalar(a.Cpu, Tensor.FromArray([0.7f], new Shape(1), Cpu), yCpu); break;
            case "axpy_f32": R.Axpy(0.3, a.Cpu, yCpu); break;
            case "elu_forward_f32": R.EluForward(a.Cpu, null, yCpu, 0.8); break;
            default: R.EluBackward(a.Cpu, b.Cpu, yCpu, 0.8); break;
        }
        PtxInterpreter.Launch(KernelCatalog.Emulated(kernel), LaunchGrid.Linear(2, 32), memory, arguments);
        var actual = Tensor.FromArray(memory.Read<float>(py, n + Guard), new Shape(n + Guard), Cpu);
        Same((actual.Slice(0, n), yCpu), kernel, kernel == "elu_forward_f32" ? 1e-6 : 0);
        Untouched((actual, expected), kernel);
    }

    // ---- more work than one launch's grid (4,096 blocks at most) through the backend ---------------------------

    [Theory]   // [2, 4097]: per-channel kernels, 4,097 channels; [1, 4097, 2, 2]: 4,097 (channel, slice) blocks
    [InlineData(2, 4097, 1, 1)]
    [InlineData(1, 4097, 2, 2)]
    public void Batch_norm_with_more_blocks_than_a_grid_holds(int n, int c, int h, int w)
    {
        int[] dims = h * w == 1 ? [n, c] : [n, c, h, w];
        var (x, dy, gamma, beta) = (Pair(100, dims), Pair(101, dims), Pair(102, c), Pair(103, c));
        var (runningMean, runningVar, mean, inv) = (Pair(104, c), Pair(105, c), Out(c).View, Out(c).View);
        var y = Out(dims).View;
        G.BatchNormForwardTraining(x.Gpu, gamma.Gpu, beta.Gpu, runningMean.Gpu, runningVar.Gpu, 0.1, 1e-3, y.Gpu, mean.Gpu, inv.Gpu);
        R.BatchNormForwardTraining(x.Cpu, gamma.Cpu, beta.Cpu, runningMean.Cpu, runningVar.Cpu, 0.1, 1e-3, y.Cpu, mean.Cpu, inv.Cpu);
        Same(y, "y"); Same(mean, "mean"); Same(inv, "1 / std"); Same(runningVar, "running variance");
        var (dx, dgamma, dbeta) = (Out(dims).View, Out(c).View, Out(c).View);
        G.BatchNormBackward(x.Gpu, dy.Gpu, gamma.Gpu, mean.Gpu, inv.Gpu, dx.Gpu, dgamma.Gpu, dbeta.Gpu, accumulate: false);
        R.BatchNormBackward(x.Cpu, dy.Cpu, gamma.Cpu, mean.Cpu, inv.Cpu, dx.Cpu, dgamma.Cpu, dbeta.Cpu, accumulate: false);
        Same(dx, "dx", 1e-4); Same(dgamma, "dgamma", 1e-4); Same(dbeta, "dbeta", 1e-4);
    }

    /// <summary>
    /// 32,769 rows: one more than 4,096 blocks of 8 warps, so warp 0 also takes the last row. (Not the loss:
    /// each of its warps counts all the labels first, rows^2 / 32 loads, 45 s in the emulator at this size.)
    /// </summary>
    [Fact]
    public void Argmax_with_more_rows_than_a_grid_holds()
    {
        const int rows = 32_769;
        var logits = Pair(110, rows, 2);
        var indices = Both(Enumerable.Repeat(5L, rows).ToArray(), rows);
        G.Argmax(logits.Gpu, indices.Gpu); R.Argmax(logits.Cpu, indices.Cpu);
        Same(indices, "argmax", 0);
    }

    [Fact]   // 4,097 images of 1x1x3: one block per image, so block 0 also converts the last one
    public void Image_batch_with_more_images_than_a_grid_holds()
    {
        const int images = 4097;
        var pixels = Both(Enumerable.Range(0, images * 3).Select(i => (byte)(i * 53 + 1)).ToArray(), images, 1, 1, 3);
        foreach (var augmentation in new ImageAugmentation?[] { null, new ImageAugmentation(2, 9, 7) })
        {
            var (x, whole) = Out(images, 1, 1, 3);
            G.ImageBatch(pixels.Gpu, x.Gpu, augmentation); R.ImageBatch(pixels.Cpu, x.Cpu, augmentation);
            Same(whole, augmentation is null ? "image batch" : "image batch, augmented", 0);
        }
    }

    [Fact]   // views that start 4 bytes past a 16-byte boundary: Copy takes the memcpy path, batch norm with S % 4 == 0 the per-channel kernels
    public void Copy_and_batch_norm_of_views_off_the_16_byte_grid()
    {
        var (a, whole) = (Pair(120, 17), Out(17));
        (Tensor Gpu, Tensor Cpu) Off((Tensor Gpu, Tensor Cpu) t, params int[] dims) => (t.Gpu.Slice(1, 16).View(new Shape(dims)), t.Cpu.Slice(1, 16).View(new Shape(dims)));
        var (x, y) = (Off(a, 16), Off(whole.View, 16));
        G.Copy(x.Gpu, y.Gpu); R.Copy(x.Cpu, y.Cpu);
        Same(whole.Whole, "copy between unaligned views", 0);

        (x, y) = (Off(a, 2, 2, 2, 2), Off(whole.View, 2, 2, 2, 2));   // [2, 2, 2, 2]: S = 4, but not 16-byte aligned
        var (gamma, beta, runningMean, runningVar, mean, inv) = (Pair(121, 2), Pair(122, 2), Pair(123, 2), Pair(124, 2), Out(2).View, Out(2).View);
        G.BatchNormForwardTraining(x.Gpu, gamma.Gpu, beta.Gpu, runningMean.Gpu, runningVar.Gpu, 0.1, 1e-3, y.Gpu, mean.Gpu, inv.Gpu);
        R.BatchNormForwardTraining(x.Cpu, gamma.Cpu, beta.Cpu, runningMean.Cpu, runningVar.Cpu, 0.1, 1e-3, y.Cpu, mean.Cpu, inv.Cpu);
        Same(y, "batch norm of an unaligned view"); Same(mean, "mean"); Same(inv, "1 / std");
        Assert.Equal(whole.Whole.Cpu.ToDoubles()[0], whole.Whole.Gpu.ToDoubles()[0]);   // the element before the view is untouched
        Untouched(whole.Whole, "batch norm of an unaligned view");
    }

    [Fact]   // a batch of 3 (an epoch's last, short batch): the joint loss's per-task gradients are views at offsets of 21, 30, 39 floats
    public void A_training_step_of_an_odd_batch()
    {
        var config = new FerNetConfig(Width: 0.125, Height: 8, ImageWidth: 8);
        var cpuModel = new FerNet(config, Cpu, seed: 9);
        var gpuModel = new FerNet(config, Gpu, seed: 9);
        gpuModel.LoadStateDict(cpuModel.StateDict().ToDictionary(p => p.Name, p => To(p.Tensor, Gpu, DType.Float32)));
        var x = Tensor.Uniform(new Shape(3, 1, 8, 8), 0, 1, 3, 3, DType.Float32, Cpu);
        long[][] labels = [[0, 3, -1], [-1, 1, 2], [2, 0, 1], [-1, -1, -1]];
        JointLossResult Step(FerNet model, Device device) =>
            new TrainStep(model, new Adam(model.NamedParameters(), 3e-4), new TaskWeights())
                .Run(To(x, device, DType.Float32), labels.Select(l => Tensor.FromArray(l, new Shape(3), device)).ToArray(), step: 5);
        var (cpu, gpu) = (Step(cpuModel, Cpu), Step(gpuModel, Gpu));
        Assert.True(RelativeError(gpu.All, cpu.All) < 1e-5, $"losses: relative error {RelativeError(gpu.All, cpu.All):E2}");
        foreach (var ((name, p), (_, q)) in gpuModel.NamedParameters().Zip(cpuModel.NamedParameters()))
            Assert.True(RelativeError(p.Grad!, q.Grad!) < 1e-4, $"grad.{name}: relative error {RelativeError(p.Grad!, q.Grad!):E2}");
    }

    // ---- max-pool ----------------------------------------------------------------------------------------

    [Theory]   // odd H and W (a row and a column in no window), even ones, H or W of 1 (no window at all), a single window
    [InlineData(1, 1, 5, 7)]
    [InlineData(2, 3, 4, 6)]
    [InlineData(3, 2, 7, 5)]
    [InlineData(1, 1, 2, 2)]
    [InlineData(2, 1, 3, 3)]
    [InlineData(1, 2, 1, 6)]
    [InlineData(2, 1, 5, 1)]
    public void Max_pool_with_odd_sides_and_ties(int n, int c, int h, int w)
    {
        // Values in {0, 1, 2}: most windows hold ties, and the first maximum (row-major) must win.
        var values = Tensor.Uniform(new Shape(n, c, h, w), 0, 3, 9, 40, DType.Float32, Cpu).ToArray<float>().Select(MathF.Floor).ToArray();
        var x = Both(values, n, c, h, w);
        var (y, yWhole) = Out(n, c, h / 2, w / 2);
        var (arg, argWhole) = OutOf(-1, n, c, h / 2, w / 2);
        G.MaxPool2x2Forward(x.Gpu, y.Gpu, arg.Gpu); R.MaxPool2x2Forward(x.Cpu, y.Cpu, arg.Cpu);
        Same(yWhole, "max-pool", 0);
        Same(argWhole, "max-pool argmax (first max wins)", 0);
        var dy = Pair(41, n, c, h / 2, w / 2);
        var (dx, dxWhole) = Out(n, c, h, w);   // starts at 7 everywhere: the backward must write every element
        G.MaxPool2x2Backward(dy.Gpu, arg.Gpu, dx.Gpu); R.MaxPool2x2Backward(dy.Cpu, arg.Cpu, dx.Cpu);
        Same(dxWhole, "max-pool backward", 0);
        Assert.DoesNotContain((double)Sentinel, dx.Gpu.ToDoubles());
    }

    [Fact]   // windows of four equal values, of equal maxima in each position pair, and of -0 / +0: argmax is the first
    public void Max_pool_ties_go_to_the_first_position()
    {
        float[] values =
        [
            3, 3, 1, 5, 5, 2,
            3, 3, 5, 1, 2, 5,
            -0f, 0, 1, 2, 9, 9,
            0, -0f, 4, 4, 9, 9,
        ];
        var x = Both(values, 1, 1, 4, 6);
        var (y, arg) = (Out(1, 1, 2, 3).View, OutOf(-1, 1, 1, 2, 3).View);
        G.MaxPool2x2Forward(x.Gpu, y.Gpu, arg.Gpu); R.MaxPool2x2Forward(x.Cpu, y.Cpu, arg.Cpu);
        Assert.Equal(new[] { 0, 1, 0, 0, 2, 0 }, arg.Cpu.ToArray<int>());
        Same(arg, "argmax", 0);
        Assert.Equal(BitConverter.SingleToInt32Bits(-0f), BitConverter.SingleToInt32Bits(y.Gpu.ToArray<float>()[3]));   // -0 came first
    }

    // ---- batch norm --------------------------------------------------------------------------------------

    /// <summary>
    /// [N, C] (S = 1, and N = 1: one value per channel), S = 9 and 5 (BatchNorm.ptx), S = 4 with 2 units per
    /// channel (BatchNormSliced.ptx, one short slice), and S = 1,440 / 4,480: 1,080 and 2,240 float4 units per
    /// channel, 2 and 3 slices of 1,024 with slice boundaries inside a row.
    /// </summary>
    [Theory]
    [InlineData(4, 3, 1, 1)]
    [InlineData(1, 3, 1, 1)]
    [InlineData(2, 3, 3, 3)]
    [InlineData(3, 2, 1, 5)]
    [InlineData(2, 2, 2, 2)]
    [InlineData(3, 2, 40, 36)]
    [InlineData(2, 3, 64, 70)]
    public void Batch_norm_forward_and_backward_over_edge_layouts(int n, int c, int h, int w)
    {
        int[] dims = h * w == 1 ? [n, c] : [n, c, h, w];
        var (x, dy) = (Pair(10, dims), Pair(11, dims));
        var (gamma, beta, bias) = (Pair(12, c), Pair(13, c), Pair(14, c));
        var (runningMean, runningVar) = (Pair(15, c), Pair(16, c));
        var (mean, inv) = (Out(c).View, Out(c).View);
        var (y, yWhole) = Out(dims);
        G.BatchNormForwardTraining(x.Gpu, gamma.Gpu, beta.Gpu, runningMean.Gpu, runningVar.Gpu, 0.1, 1e-3, y.Gpu, mean.Gpu, inv.Gpu);
        R.BatchNormForwardTraining(x.Cpu, gamma.Cpu, beta.Cpu, runningMean.Cpu, runningVar.Cpu, 0.1, 1e-3, y.Cpu, mean.Cpu, inv.Cpu);
        Same(y, "y"); Untouched(yWhole, "y");
        Same(mean, "mean"); Same(inv, "1 / std");
        Same(runningMean, "running mean"); Same(runningVar, "running variance");
        var variance = Both(Enumerable.Range(0, c).Select(i => 0.5f + i).ToArray(), c);
        G.BatchNormForwardInference(x.Gpu, gamma.Gpu, beta.Gpu, mean.Gpu, variance.Gpu, 1e-3, y.Gpu);
        R.BatchNormForwardInference(x.Cpu, gamma.Cpu, beta.Cpu, mean.Cpu, variance.Cpu, 1e-3, y.Cpu);
        Same(y, "inference"); Untouched(yWhole, "inference");

        var (dx, dxWhole) = Out(dims);
        var (dgamma, dbeta) = (Pair(17, c), Pair(18, c));
        G.BatchNormBackward(x.Gpu, dy.Gpu, gamma.Gpu, mean.Gpu, inv.Gpu, dx.Gpu, dgamma.Gpu, dbeta.Gpu, accumulate: true);
        R.BatchNormBackward(x.Cpu, dy.Cpu, gamma.Cpu, mean.Cpu, inv.Cpu, dx.Cpu, dgamma.Cpu, dbeta.Cpu, accumulate: true);
        Same(dx, "dx", 1e-4); Untouched(dxWhole, "dx");
        Same(dgamma, "dgamma (accumulated)", 1e-4); Same(dbeta, "dbeta (accumulated)", 1e-4);

        // x = ELU(u + bias) made by the forward (the sliced statistics pass when S % 4 == 0), then the backward through it.
        foreach (var withBias in new[] { true, false })
        {
            var (elu, eluWhole) = Out(dims);
            G.EluBatchNormForwardTraining(x.Gpu, withBias ? bias.Gpu : null, 0.8, elu.Gpu, gamma.Gpu, beta.Gpu, runningMean.Gpu, runningVar.Gpu, 0.1, 1e-3, y.Gpu, mean.Gpu, inv.Gpu);
            R.EluBatchNormForwardTraining(x.Cpu, withBias ? bias.Cpu : null, 0.8, elu.Cpu, gamma.Cpu, beta.Cpu, runningMean.Cpu, runningVar.Cpu, 0.1, 1e-3, y.Cpu, mean.Cpu, inv.Cpu);
            string what = withBias ? "elu + batch norm, bias" : "elu + batch norm, no bias";
            Same(elu, $"{what}: x", 1e-6); Untouched(eluWhole, $"{what}: x");
            Same(y, $"{what}: y"); Untouched(yWhole, $"{what}: y");
            Same(inv, $"{what}: 1 / std"); Same(runningVar, $"{what}: running variance");
        }
        var eluOutput = Tensor.Empty(new Shape(dims), DType.Float32, Cpu);
        R.EluForward(x.Cpu, bias.Cpu, eluOutput, 0.8);
        var xElu = (Gpu: To(eluOutput, Gpu, DType.Float32), Cpu: eluOutput);
        var (du, duWhole) = Out(dims);
        G.BatchNormEluBackward(xElu.Gpu, dy.Gpu, gamma.Gpu, mean.Gpu, inv.Gpu, 0.8, du.Gpu, dgamma.Gpu, dbeta.Gpu);
        R.BatchNormEluBackward(xElu.Cpu, dy.Cpu, gamma.Cpu, mean.Cpu, inv.Cpu, 0.8, du.Cpu, dgamma.Cpu, dbeta.Cpu);
        Same(du, "batch norm + elu backward: du", 1e-4); Untouched(duWhole, "du");
        Same(dgamma, "batch norm + elu backward: dgamma (overwritten)", 1e-4);
        Same(dbeta, "batch norm + elu backward: dbeta (overwritten)", 1e-4);
    }

    // ---- loss, argmax, reductions ---------------------------------------------------------------------------

    [Theory]   // a single row (K = 1, 2, 7, 40), K = 1 and K = 2 batches, all rows unlabelled, more rows than a warp
    [InlineData(1, new long[] { 0 })]
    [InlineData(2, new long[] { 1 })]
    [InlineData(7, new long[] { 6 })]
    [InlineData(40, new long[] { 39 })]
    [InlineData(1, new long[] { 0, -1, 0 })]
    [InlineData(2, new long[] { 1, 0, -1, 1, 0 })]
    [InlineData(2, new long[] { -1, -1, -1, -1 })]
    [InlineData(1, new long[] { -1 })]
    [InlineData(3, new long[] { 2, -1, 0, 1, 1, -1, 2, 0, 0, 1, 2, 2, -1, 0, 1, 1, 0, 2, 2, -1, 1, 0, 0, 2, 1, -1, 0, 2, 1, 1, 0, 2, 1, -1 })]
    public void Softmax_cross_entropy_over_edge_shapes(int classes, long[] labelValues)
    {
        int rows = labelValues.Length;
        var logits = Pair(20, rows, classes);
        var labels = Both(labelValues, rows);
        var (loss, d) = (Out(1).View, Out(rows, classes));
        G.SoftmaxCrossEntropy(logits.Gpu, labels.Gpu, loss.Gpu, d.View.Gpu);
        R.SoftmaxCrossEntropy(logits.Cpu, labels.Cpu, loss.Cpu, d.View.Cpu);
        Same(loss, "loss");
        Same(d.View, "dlogits");
        Untouched(d.Whole, "dlogits");
        if (labelValues.All(l => l < 0))
        {
            Assert.Equal(0.0, loss.Gpu.Item());
            Assert.All(d.View.Gpu.ToDoubles(), v => Assert.Equal(0.0, v));
        }
    }

    [Theory]   // one to four tasks of K = 1, 2, 7, 3 classes; a single row; a task with no labelled row
    [InlineData(new[] { 1 }, new long[] { 0 })]
    [InlineData(new[] { 2, 7 }, new long[] { 1, -1 })]
    [InlineData(new[] { 1, 2, 7, 3 }, new long[] { 0, 1, 6, 2 })]
    [InlineData(new[] { 1, 2, 7, 3 }, new long[] { 0, -1, 0, -1, -1, -1, 6, 0, 5, 2, -1, 1 })]   // 3 rows a task; task 1 unlabelled
    public void Joint_softmax_cross_entropy_over_edge_shapes(int[] classes, long[] labelValues)
    {
        int tasks = classes.Length, rows = labelValues.Length / tasks;
        var logits = classes.Select((k, t) => Pair(30 + (ulong)t, rows, k)).ToArray();
        var labels = Enumerable.Range(0, tasks).Select(t => Both(labelValues[(t * rows)..((t + 1) * rows)], rows)).ToArray();
        double[] weights = [0.5, 1.25, 2, 0.75];
        var losses = Out(1 + tasks).View;
        var d = Out(rows * classes.Sum());
        G.JointSoftmaxCrossEntropy(logits.Select(l => l.Gpu).ToList(), labels.Select(l => l.Gpu).ToList(), weights[..tasks], losses.Gpu, d.View.Gpu);
        R.JointSoftmaxCrossEntropy(logits.Select(l => l.Cpu).ToList(), labels.Select(l => l.Cpu).ToList(), weights[..tasks], losses.Cpu, d.View.Cpu);
        Same(losses, "losses (total, then each task)");
        Same(d.View, "dlogits of all tasks");
        Untouched(d.Whole, "dlogits of all tasks");
        for (int t = 0; t < tasks; t++)
            if (labels[t].Cpu.ToArray<long>().All(l => l < 0)) Assert.Equal(0.0, losses.Gpu.ToDoubles()[1 + t]);

        // Its backward (segment t of dlogits times weights[t] * s[0], segments of odd lengths) on the same input: bit for bit.
        var (s, dy) = (Both(new[] { 1.7f }, 1), (Gpu: To(d.View.Cpu, Gpu, DType.Float32), d.View.Cpu));
        var dx = Out(rows * classes.Sum());
        long[] lengths = [.. classes.Select(k => (long)rows * k)];
        G.ScaleSegments(dy.Gpu, lengths, weights[..tasks], s.Gpu, dx.View.Gpu);
        R.ScaleSegments(dy.Cpu, lengths, weights[..tasks], s.Cpu, dx.View.Cpu);
        Same(dx.Whole, "scale segments", 0);
    }

    [Fact]   // ties go to the first index (within a lane and across lanes), a NaN never wins, a NaN at index 0 is never left
    public void Argmax_ties_and_nans()
    {
        const int classes = 40;   // more than a warp: lanes combine
        float nan = float.NaN, inf = float.PositiveInfinity;
        var rows = new List<float[]>();
        void Row(params (int At, float Value)[] set) { var r = Enumerable.Repeat(-5f, classes).ToArray(); foreach (var (at, v) in set) r[at] = v; rows.Add(r); }
        Row();                                   // all equal: 0
        Row((3, 2), (35, 2));                    // tie across lanes: 3
        Row((33, 2), (64 % classes, 2));         // 33 (lane 1) against 24 (lane 24): 24
        Row((1, 2), (33, 2));                    // tie in one lane: 1
        Row((0, nan), (7, 9));                   // a NaN at 0 is never left: 0
        Row((5, nan), (9, 1));                   // a NaN elsewhere never wins: 9
        Row((0, -inf), (2, -inf));               // -inf at 0, -5 from 1: 1
        Row((39, inf), (38, nan));               // 39
        rows.Add(Enumerable.Repeat(nan, classes).ToArray());                        // all NaN: 0
        rows.Add(Enumerable.Repeat(-inf, classes).ToArray());                       // all -inf: 0
        rows.Add([-inf, .. Enumerable.Repeat(nan, classes - 1)]);                   // -inf then NaNs: 0
        var x = Both(rows.SelectMany(r => r).ToArray(), rows.Count, classes);
        var indices = Both(Enumerable.Repeat(-7L, rows.Count).ToArray(), rows.Count);
        G.Argmax(x.Gpu, indices.Gpu); R.Argmax(x.Cpu, indices.Cpu);
        Assert.Equal(new long[] { 0, 3, 24, 1, 0, 9, 1, 39, 0, 0, 0 }, indices.Cpu.ToArray<long>());
        Assert.Equal(indices.Cpu.ToArray<long>(), indices.Gpu.ToArray<long>());
    }

    [Theory]   // K = 1 (the only index is 0), K = 2, and a single row
    [InlineData(1, 1)]
    [InlineData(5, 1)]
    [InlineData(3, 2)]
    [InlineData(1, 7)]
    [InlineData(9, 33)]
    public void Argmax_over_edge_shapes(int rows, int classes)
    {
        var x = Pair(50, rows, classes);
        var indices = Both(Enumerable.Repeat(5L, rows).ToArray(), rows);   // 5: no row's answer at K = 1, 2
        G.Argmax(x.Gpu, indices.Gpu); R.Argmax(x.Cpu, indices.Cpu);
        Same(indices, "argmax", 0);
    }

    [Theory]   // n = 1, odd n below and above a float4, a warp, a block
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(5)]
    [InlineData(17)]
    [InlineData(1023)]
    public void Sum_and_max_over_odd_sizes(int n)
    {
        var x = Pair(60, n);
        var (sum, max) = (Out(1).View, Out(1).View);
        G.Sum(x.Gpu, sum.Gpu); R.Sum(x.Cpu, sum.Cpu);
        double absolute = x.Cpu.ToDoubles().Sum(Math.Abs);
        Assert.True(Math.Abs(sum.Gpu.Item() - sum.Cpu.Item()) <= 1e-6 * absolute, $"sum: {sum.Gpu.Item()} vs {sum.Cpu.Item()}");
        G.Max(x.Gpu, max.Gpu); R.Max(x.Cpu, max.Cpu); Same(max, "max", 0);

        // All negative (a max that starts at 0 would be wrong), then a NaN in the last (tail) element.
        var negative = x.Cpu.ToArray<float>().Select(v => -MathF.Abs(v) - 1).ToArray();
        var y = Both(negative, n);
        G.Max(y.Gpu, max.Gpu); R.Max(y.Cpu, max.Cpu); Same(max, "max of negatives", 0);
        negative[^1] = float.NaN;
        y = Both(negative, n);
        G.Max(y.Gpu, max.Gpu); R.Max(y.Cpu, max.Cpu);
        Assert.True(float.IsNaN(max.Gpu.ToArray<float>()[0]), "a NaN makes the max NaN");
    }

    // ---- dropout, image batch, Adam ------------------------------------------------------------------------

    [Theory]   // n not a multiple of 4: the last Philox block is partial; masks and outputs next to a guard
    [InlineData(1, 0.5)]
    [InlineData(3, 0.3)]
    [InlineData(5, 0.5)]
    [InlineData(17, 0.1)]
    [InlineData(1023, 0.9)]
    public void Dropout_masks_at_sizes_not_a_multiple_of_4(int n, double p)
    {
        var (x, dy) = (Pair(70, n), Pair(71, n));
        var (y, yWhole) = Out(n);
        var (mask, maskWhole) = OutOf((byte)7, n);
        var step = Both(new[] { 11L }, 1);
        G.DropoutForward(x.Gpu, p, 5, 77, step.Gpu, y.Gpu, mask.Gpu); R.DropoutForward(x.Cpu, p, 5, 77, step.Cpu, y.Cpu, mask.Cpu);
        Same(maskWhole, "mask (and the bytes after it)", 0);
        Same(y, "dropout", 1e-6); Untouched(yWhole, "dropout");
        var (dx, dxWhole) = Out(n);
        G.DropoutBackward(dy.Gpu, mask.Gpu, p, dx.Gpu); R.DropoutBackward(dy.Cpu, mask.Cpu, p, dx.Cpu);
        Same(dx, "dropout backward", 1e-6); Untouched(dxWhole, "dropout backward");
    }

    [Theory]   // odd sizes, a 1x1 image, one column; with and without the crop-and-flip augmentation
    [InlineData(1, 1, 1, 1)]
    [InlineData(3, 1, 5, 7)]
    [InlineData(2, 3, 9, 1)]
    [InlineData(5, 2, 3, 11)]
    public void Image_batch_with_odd_sizes(int n, int c, int h, int w)
    {
        var pixels = Both(Enumerable.Range(0, n * c * h * w).Select(i => (byte)(i * 37 + 11)).ToArray(), n, c, h, w);
        foreach (var augmentation in new ImageAugmentation?[] { null, new ImageAugmentation(5, 3, 1021) })
        {
            var (x, whole) = Out(n, c, h, w);
            G.ImageBatch(pixels.Gpu, x.Gpu, augmentation); R.ImageBatch(pixels.Cpu, x.Cpu, augmentation);
            Same(whole, augmentation is null ? "image batch" : "image batch, augmented", 0);
        }
    }

    [Theory]   // tensors of 1, 3, 5 elements (tails only / a float4 and a tail) and one of more than a chunk (8,192), in either order
    [InlineData(new[] { 1, 3, 5, 8193 })]
    [InlineData(new[] { 8195, 5, 1, 3 })]
    [InlineData(new[] { 1 })]
    public void Adam_over_tiny_tensors_and_a_chunk_and_a_tail(int[] sizes)
    {
        var tensors = sizes.Select((n, i) => (P: Pair(80 + (ulong)i, n), Grad: Pair(90 + (ulong)i, n), M: Out(n), V: Out(n))).ToList();
        foreach (var t in tensors) { G.Fill(t.M.View.Gpu, 0); R.Fill(t.M.View.Cpu, 0); G.Fill(t.V.View.Gpu, 0); R.Fill(t.V.View.Cpu, 0); }
        var adam = new AdamHyperparameters(3e-4, WeightDecay: 0.01);
        for (int step = 1; step <= 2; step++)
        {
            G.AdamUpdate(tensors.Select(t => new AdamTensors(t.P.Gpu, t.Grad.Gpu, t.M.View.Gpu, t.V.View.Gpu)).ToList(), adam, adam.StepScalarsTensor(step, DType.Float32, Gpu));
            R.AdamUpdate(tensors.Select(t => new AdamTensors(t.P.Cpu, t.Grad.Cpu, t.M.View.Cpu, t.V.View.Cpu)).ToList(), adam, adam.StepScalarsTensor(step, DType.Float32, Cpu));
        }
        foreach (var (t, i) in tensors.Select((t, i) => (t, i)))
        {
            Same(t.P, $"adam parameter {i} ({sizes[i]} elements)", 0);
            Same(t.M.Whole, $"adam first moment {i} (and its guard)", 0);
            Same(t.V.Whole, $"adam second moment {i} (and its guard)", 0);
        }
    }
}
