using FerEngine.Backends;
using FerEngine.Backends.Cuda;
using FerEngine.Model.Network;
using FerEngine.Model.Training;
using FerEngine.Optim;
using static FerEngine.Tests.GoldenFiles;

namespace FerEngine.Tests.Cuda;

/// <summary>
/// The CUDA backend against the float32 CPU reference: every primitive on odd sizes and a whole
/// training step of the paper network. Run twice: on the emulated GPU (<see cref="EmulatedDeviceTests"/>,
/// every test run) and on a real GPU (<see cref="RealGpuTests"/>, when there is one).
/// </summary>
public abstract class CudaBackendTests
{
    /// <summary>The device under test (a real-GPU subclass skips here when there is none).</summary>
    protected abstract CudaDevice Gpu { get; }

    /// <summary>Loss and gradient tolerances of the whole-step test, and the gradient below which Adam's update is rounding noise.</summary>
    protected virtual (double Loss, double Gradient, double NoiseFloor) StepTolerances => (1e-5, 1e-4, 1e-6);

    /// <summary>cuDNN and cuBLAS results against the reference (the emulated GPU computes them with the reference's loops).</summary>
    protected virtual double LibraryTolerance => 1e-5;

    /// <summary>Kernels that use ex2/lg2.approx (ELU, the loss): exact .NET math in the emulator, a few ulp off on a GPU.</summary>
    protected virtual double ApproximateMathTolerance => 1e-6;

    private IBackend G => Gpu.Backend;
    private static IBackend R => Device.CpuReference.Backend;

    private (Tensor Gpu, Tensor Cpu) Pair(ulong stream, params int[] dims)
    {
        var cpu = Tensor.Normal(new Shape(dims), 0, 1, 21, stream, DType.Float32, Device.CpuReference);
        return (To(cpu, Gpu, DType.Float32), cpu);
    }

    private (Tensor Gpu, Tensor Cpu) Zeros(DType dtype, params int[] dims) =>
        (Tensor.Zeros(new Shape(dims), dtype, Gpu), Tensor.Zeros(new Shape(dims), dtype, Device.CpuReference));

    /// <summary>Norm-wise relative error below <paramref name="tolerance"/> (0 = bit-identical).</summary>
    private static void Same((Tensor Gpu, Tensor Cpu) t, string what, double tolerance = 1e-5)
    {
        if (tolerance == 0) Assert.True(t.Gpu.ToDoubles().SequenceEqual(t.Cpu.ToDoubles()), $"{what}: not bit-identical");
        else Assert.True(RelativeError(t.Gpu, t.Cpu) < tolerance, $"{what}: relative error {RelativeError(t.Gpu, t.Cpu):E2}");
    }

    [Fact]
    public void Uploads_arrive_whole_although_the_host_reuses_its_array_at_once()
    {
        // 3 M floats (12 MB) pass through more than one half of a real GPU's staging ring, and the
        // small uploads after them wrap around it, all queued before anything is read back.
        var source = new float[3 << 20];
        var big = Tensor.Empty(new Shape(source.Length), DType.Float32, Gpu);
        for (int i = 0; i < source.Length; i++) source[i] = i;
        Gpu.Backend.CopyFromHost<float>(source, big);
        var small = Enumerable.Range(0, 300).Select(_ => Tensor.Empty(new Shape(1000), DType.Float32, Gpu)).ToArray();
        for (int t = 0; t < small.Length; t++)
        {
            for (int i = 0; i < 1000; i++) source[i] = t * 1000 + i;   // the same array, rewritten before the GPU ran the copy
            Gpu.Backend.CopyFromHost<float>(source.AsSpan(0, 1000), small[t]);
        }

        var back = big.ToArray<float>();
        Assert.True(Enumerable.Range(0, back.Length).All(i => back[i] == i), "the big upload changed on its way");
        for (int t = 0; t < small.Length; t++)
            Assert.True(small[t].ToArray<float>().Select((v, i) => v == t * 1000 + i).All(ok => ok), $"small upload {t} changed on its way");
    }

    [Theory]
    [InlineData(1, 1, 3, 3, 1)]
    [InlineData(3, 2, 7, 9, 5)]
    [InlineData(2, 5, 12, 12, 3)]
    public void Convolution_gemm_and_bias(int n, int cin, int h, int w, int k)
    {
        var x = Pair(1, n, cin, h, w);
        var weight = Pair(2, 4, cin, k, k);
        var bias = Pair(3, 4);
        var y = Zeros(DType.Float32, n, 4, h, w);
        G.ConvolutionForward(x.Gpu, weight.Gpu, bias.Gpu, y.Gpu, k / 2);
        R.ConvolutionForward(x.Cpu, weight.Cpu, bias.Cpu, y.Cpu, k / 2);
        Same(y, "convolution forward", LibraryTolerance);
        var dx = Zeros(DType.Float32, n, cin, h, w);
        G.ConvolutionBackwardData(y.Gpu, weight.Gpu, dx.Gpu, k / 2);
        R.ConvolutionBackwardData(y.Cpu, weight.Cpu, dx.Cpu, k / 2);
        Same(dx, "backward data", LibraryTolerance);
        var dw = Pair(4, 4, cin, k, k);
        G.ConvolutionBackwardFilter(x.Gpu, y.Gpu, dw.Gpu, k / 2, accumulate: true);
        R.ConvolutionBackwardFilter(x.Cpu, y.Cpu, dw.Cpu, k / 2, accumulate: true);
        Same(dw, "backward filter", LibraryTolerance);
        var db = Pair(5, 4);
        G.BiasBackward(y.Gpu, db.Gpu, false);
        R.BiasBackward(y.Cpu, db.Cpu, false);
        Same(db, "bias backward", LibraryTolerance);
        G.BiasBackward(y.Gpu, db.Gpu, true);
        R.BiasBackward(y.Cpu, db.Cpu, true);
        Same(db, "bias backward, accumulated", LibraryTolerance);
        var a = Pair(6, 7, 33);
        var b = Pair(7, 5, 33);
        var c = Pair(8, 7, 5);
        G.Gemm(false, true, 0.5, a.Gpu, b.Gpu, 1.0, c.Gpu);
        R.Gemm(false, true, 0.5, a.Cpu, b.Cpu, 1.0, c.Cpu);
        Same(c, "gemm", LibraryTolerance);
    }

    [Theory]   // batch norm: S = 63 runs BatchNorm.ptx's per-channel kernels, S = 4 and 144 BatchNormSliced.ptx
    [InlineData(1, 1, 2, 2)]
    [InlineData(3, 5, 7, 9)]
    [InlineData(4, 8, 12, 12)]
    public void Elementwise_batch_norm_pooling_and_dropout(int n, int c, int h, int w)
    {
        var x = Pair(10, n, c, h, w);
        var dy = Pair(11, n, c, h, w);
        var y = Zeros(DType.Float32, n, c, h, w);
        G.EluForward(x.Gpu, null, y.Gpu, 1.0); R.EluForward(x.Cpu, null, y.Cpu, 1.0); Same(y, "elu forward", ApproximateMathTolerance);
        var dx = Zeros(DType.Float32, n, c, h, w);
        G.EluBackward(y.Gpu, dy.Gpu, dx.Gpu, 1.0); R.EluBackward(y.Cpu, dy.Cpu, dx.Cpu, 1.0); Same(dx, "elu backward (from the forward outputs above)", ApproximateMathTolerance);
        G.ReluForward(x.Gpu, y.Gpu); R.ReluForward(x.Cpu, y.Cpu); Same(y, "relu", 0);
        G.ReluBackward(y.Gpu, dy.Gpu, dx.Gpu); R.ReluBackward(y.Cpu, dy.Cpu, dx.Cpu); Same(dx, "relu backward (no gradient where the output is 0)", 0);
        G.Add(x.Gpu, dy.Gpu, y.Gpu); R.Add(x.Cpu, dy.Cpu, y.Cpu); Same(y, "add", 0);
        G.Multiply(x.Gpu, dy.Gpu, y.Gpu); R.Multiply(x.Cpu, dy.Cpu, y.Cpu); Same(y, "multiply", 0);
        G.Axpy(-0.5, x.Gpu, y.Gpu); R.Axpy(-0.5, x.Cpu, y.Cpu); Same(y, "axpy", 0);

        var gamma = Pair(12, c);
        var beta = Pair(13, c);
        var (rmG, rmC) = Zeros(DType.Float32, c);
        var (rvG, rvC) = (Tensor.Ones(new Shape(c), DType.Float32, Gpu), Tensor.Ones(new Shape(c), DType.Float32, Device.CpuReference));
        var mean = Zeros(DType.Float32, c);
        var inv = Zeros(DType.Float32, c);
        G.BatchNormForwardTraining(x.Gpu, gamma.Gpu, beta.Gpu, rmG, rvG, 0.01, 1e-3, y.Gpu, mean.Gpu, inv.Gpu);
        R.BatchNormForwardTraining(x.Cpu, gamma.Cpu, beta.Cpu, rmC, rvC, 0.01, 1e-3, y.Cpu, mean.Cpu, inv.Cpu);
        Same(y, "batch norm forward");
        Same((rvG, rvC), "running variance");
        var dg = Zeros(DType.Float32, c);
        var dbeta = Zeros(DType.Float32, c);
        G.BatchNormBackward(x.Gpu, dy.Gpu, gamma.Gpu, mean.Gpu, inv.Gpu, dx.Gpu, dg.Gpu, dbeta.Gpu, false);
        R.BatchNormBackward(x.Cpu, dy.Cpu, gamma.Cpu, mean.Cpu, inv.Cpu, dx.Cpu, dg.Cpu, dbeta.Cpu, false);
        Same(dx, "batch norm backward", 1e-4);
        Same(dg, "dgamma", 1e-4);
        var du = Zeros(DType.Float32, n, c, h, w);
        G.BatchNormEluBackward(x.Gpu, dy.Gpu, gamma.Gpu, mean.Gpu, inv.Gpu, 1.0, du.Gpu, dg.Gpu, dbeta.Gpu);
        R.BatchNormEluBackward(x.Cpu, dy.Cpu, gamma.Cpu, mean.Cpu, inv.Cpu, 1.0, du.Cpu, dg.Cpu, dbeta.Cpu);
        Same(du, "batch norm + elu backward", 1e-4);
        Same(dg, "batch norm + elu backward dgamma", 1e-4);
        Same(dbeta, "batch norm + elu backward dbeta", 1e-4);
        G.BatchNormForwardInference(x.Gpu, gamma.Gpu, beta.Gpu, rmG, rvG, 1e-3, y.Gpu);
        R.BatchNormForwardInference(x.Cpu, gamma.Cpu, beta.Cpu, rmC, rvC, 1e-3, y.Cpu);
        Same(y, "batch norm inference");

        // ELU of x + bias, alone and made inside the batch norm's statistics pass (sliced: S = 4 and 144).
        var bias = Pair(14, c);
        var elu = Zeros(DType.Float32, n, c, h, w);
        G.EluForward(x.Gpu, bias.Gpu, elu.Gpu, 0.8); R.EluForward(x.Cpu, bias.Cpu, elu.Cpu, 0.8); Same(elu, "elu of x + bias", ApproximateMathTolerance);
        G.EluBatchNormForwardTraining(x.Gpu, bias.Gpu, 0.8, elu.Gpu, gamma.Gpu, beta.Gpu, rmG, rvG, 0.01, 1e-3, y.Gpu, mean.Gpu, inv.Gpu);
        R.EluBatchNormForwardTraining(x.Cpu, bias.Cpu, 0.8, elu.Cpu, gamma.Cpu, beta.Cpu, rmC, rvC, 0.01, 1e-3, y.Cpu, mean.Cpu, inv.Cpu);
        Same(elu, "elu of x + bias, made by the batch norm", ApproximateMathTolerance);
        Same(y, "batch norm of elu of x + bias");
        Same(inv, "batch norm of elu of x + bias: 1 / std");

        var p = Zeros(DType.Float32, n, c, h / 2, w / 2);
        var arg = Zeros(DType.Int32, n, c, h / 2, w / 2);
        G.MaxPool2x2Forward(x.Gpu, p.Gpu, arg.Gpu); R.MaxPool2x2Forward(x.Cpu, p.Cpu, arg.Cpu);
        Same(p, "max-pool", 0); Same(arg, "max-pool argmax", 0);
        G.MaxPool2x2Backward(p.Gpu, arg.Gpu, dx.Gpu); R.MaxPool2x2Backward(p.Cpu, arg.Cpu, dx.Cpu); Same(dx, "max-pool backward", 0);

        var mask = Zeros(DType.UInt8, n, c, h, w);
        var (gpuStep, cpuStep) = (Tensor.FromArray([3L], new Shape(1), Gpu), Tensor.FromArray([3L], new Shape(1), Device.CpuReference));
        G.DropoutForward(x.Gpu, 0.4, 5, 77, gpuStep, y.Gpu, mask.Gpu); R.DropoutForward(x.Cpu, 0.4, 5, 77, cpuStep, y.Cpu, mask.Cpu);
        Same(mask, "dropout mask (Philox on both sides)", 0); Same(y, "dropout", 1e-6);
        G.DropoutBackward(dy.Gpu, mask.Gpu, 0.4, dx.Gpu); R.DropoutBackward(dy.Cpu, mask.Cpu, 0.4, dx.Cpu); Same(dx, "dropout backward", 1e-6);

        var sum = Zeros(DType.Float32);
        G.Sum(x.Gpu, sum.Gpu); R.Sum(x.Cpu, sum.Cpu);
        // sum_f32 adds its blocks' sums with float atomics, in whatever order the blocks finish: docs/KERNELS.md's bound.
        double bound = 1e-6 * x.Cpu.ToDoubles().Sum(Math.Abs);
        Assert.True(Math.Abs(sum.Gpu.Item() - sum.Cpu.Item()) <= bound, $"sum: {sum.Gpu.Item()} vs {sum.Cpu.Item()} (bound {bound:E2})");
        G.Max(x.Gpu, sum.Gpu); R.Max(x.Cpu, sum.Cpu); Same(sum, "max", 0);
    }

    [Fact]
    public void Batch_norm_over_many_slices_of_a_channel()
    {
        // [8, 16, 48, 48]: 4,608 float4 units per channel, 5 slices of BatchNormSliced.ptx (the last one short).
        var x = Pair(30, 8, 16, 48, 48);
        var dy = Pair(31, 8, 16, 48, 48);
        var (gamma, beta, mean, inv) = (Pair(32, 16), Pair(33, 16), Zeros(DType.Float32, 16), Zeros(DType.Float32, 16));
        var (runningMean, runningVar) = (Pair(34, 16), Pair(35, 16));
        var y = Zeros(DType.Float32, 8, 16, 48, 48);
        G.BatchNormForwardTraining(x.Gpu, gamma.Gpu, beta.Gpu, runningMean.Gpu, runningVar.Gpu, 0.1, 1e-3, y.Gpu, mean.Gpu, inv.Gpu);
        R.BatchNormForwardTraining(x.Cpu, gamma.Cpu, beta.Cpu, runningMean.Cpu, runningVar.Cpu, 0.1, 1e-3, y.Cpu, mean.Cpu, inv.Cpu);
        Same(y, "y");
        Same(mean, "mean");
        Same(inv, "1 / std");
        Same(runningVar, "running variance");
        var dx = Zeros(DType.Float32, 8, 16, 48, 48);
        var (dgamma, dbeta) = (Pair(36, 16), Pair(37, 16));
        G.BatchNormBackward(x.Gpu, dy.Gpu, gamma.Gpu, mean.Gpu, inv.Gpu, dx.Gpu, dgamma.Gpu, dbeta.Gpu, accumulate: true);
        R.BatchNormBackward(x.Cpu, dy.Cpu, gamma.Cpu, mean.Cpu, inv.Cpu, dx.Cpu, dgamma.Cpu, dbeta.Cpu, accumulate: true);
        Same(dx, "dx", 1e-4);
        Same(dgamma, "dgamma (accumulated)", 1e-4);
        Same(dbeta, "dbeta (accumulated)", 1e-4);
    }

    [Theory]
    [InlineData(new long[] { 2, -1, 0, 6, 3 })]
    [InlineData(new long[] { -1, -1, -1 })]
    public void Loss_argmax_and_accuracy(long[] labelValues)
    {
        int rows = labelValues.Length;
        var logits = Pair(20, rows, 7);
        var labels = (Tensor.FromArray(labelValues, new Shape(rows), Gpu), Tensor.FromArray(labelValues, new Shape(rows), Device.CpuReference));
        var loss = Zeros(DType.Float32);
        var d = Zeros(DType.Float32, rows, 7);
        G.SoftmaxCrossEntropy(logits.Gpu, labels.Item1, loss.Gpu, d.Gpu);
        R.SoftmaxCrossEntropy(logits.Cpu, labels.Item2, loss.Cpu, d.Cpu);
        // ex2/lg2.approx, over a row's sum of exponentials and a log: ten times an ELU element's tolerance.
        Same(loss, "loss", 10 * ApproximateMathTolerance);
        Same(d, "dlogits", 10 * ApproximateMathTolerance);
        if (labelValues.All(l => l < 0)) Assert.Equal(0.0, loss.Gpu.Item());
        var arg = Zeros(DType.Int64, rows);
        G.Argmax(logits.Gpu, arg.Gpu); R.Argmax(logits.Cpu, arg.Cpu); Same(arg, "argmax", 0);
        var (correct, labelled) = (Zeros(DType.Int64), Zeros(DType.Int64));
        G.CountCorrect(arg.Gpu, labels.Item1, correct.Gpu, labelled.Gpu);
        R.CountCorrect(arg.Cpu, labels.Item2, correct.Cpu, labelled.Cpu);
        Same(correct, "correct", 0);
        Same(labelled, "labelled", 0);
    }

    /// <summary>
    /// Adam over 70 tensors in one call, so two launches (64 + 6 table entries): tensors of 1 to 67
    /// elements (float4 vectors and tails), exactly one chunk (8,192), a chunk and a tail (8,195), three chunks (20,001).
    /// </summary>
    [Fact]
    public void Adam_over_many_tensors_matches_the_reference_bit_for_bit()
    {
        int[] sizes = [.. Enumerable.Range(1, 67), 8195, 20_001, 8192];
        var tensors = sizes.Select((n, i) => (P: Pair(100 + (ulong)i, n), G: Pair(300 + (ulong)i, n), M: Zeros(DType.Float32, n), V: Zeros(DType.Float32, n))).ToList();
        var adam = new AdamHyperparameters(3e-4, WeightDecay: 0.01);
        for (int step = 1; step <= 3; step++)
        {
            G.AdamUpdate(tensors.Select(t => new AdamTensors(t.P.Gpu, t.G.Gpu, t.M.Gpu, t.V.Gpu)).ToList(), adam, adam.StepScalarsTensor(step, DType.Float32, Gpu));
            R.AdamUpdate(tensors.Select(t => new AdamTensors(t.P.Cpu, t.G.Cpu, t.M.Cpu, t.V.Cpu)).ToList(), adam, adam.StepScalarsTensor(step, DType.Float32, Device.CpuReference));
        }
        foreach (var (t, i) in tensors.Select((t, i) => (t, i)))
        {
            Same(t.P, $"adam parameter {i} ({sizes[i]} elements)", 0);
            Same(t.V, $"adam second moment {i} ({sizes[i]} elements)", 0);
        }
    }

    [Fact]
    public void Sgd_matches_the_reference()
    {
        var p = Pair(30, 1001);
        var g = Pair(31, 1001);
        var buffer = Zeros(DType.Float32, 1001);
        for (int step = 1; step <= 2; step++)
        {
            G.SgdUpdate(p.Gpu, g.Gpu, buffer.Gpu, 0.1, 0.9, 0.0, step);
            R.SgdUpdate(p.Cpu, g.Cpu, buffer.Cpu, 0.1, 0.9, 0.0, step);
        }
        Same(p, "sgd", 1e-6);
    }

    [Fact]
    public void A_training_step_of_the_paper_network_matches_the_cpu()
    {
        var config = new FerNetConfig(Width: 0.25);   // the paper network at width 0.25, 1x48x48 input
        var cpuModel = new FerNet(config, Device.CpuReference, seed: 9);
        var gpuModel = new FerNet(config, Gpu, seed: 9);
        gpuModel.LoadStateDict(cpuModel.StateDict().ToDictionary(p => p.Name, p => To(p.Tensor, Gpu, DType.Float32)));
        var x = Tensor.Uniform(new Shape(4, 1, 48, 48), 0, 1, 3, 3, DType.Float32, Device.CpuReference);
        long[][] labels = [[0, 3, -1, 6], [-1, -1, -1, -1], [2, 0, 1, -1], [4, 1, 0, 2]];
        JointLossResult Step(FerNet model, Device device) =>
            new TrainStep(model, new Adam(model.NamedParameters(), 3e-4), new TaskWeights())
                .Run(To(x, device, DType.Float32), labels.Select(l => Tensor.FromArray(l, new Shape(4), device)).ToArray(), step: 5);

        var cpu = Step(cpuModel, Device.CpuReference);
        var gpu = Step(gpuModel, Gpu);
        var tolerance = StepTolerances;
        foreach (var task in Enum.GetValues<FaceTask>())
            Assert.True(Math.Abs(gpu[task].Item() - cpu[task].Item()) <= tolerance.Loss * Math.Max(1e-12, Math.Abs(cpu[task].Item())), $"loss {task}");
        Assert.Equal(0.0, gpu.Gender.Item());
        foreach (var ((name, p), (_, q)) in gpuModel.NamedParameters().Zip(cpuModel.NamedParameters()))
        {
            Assert.True(RelativeError(p.Grad!, q.Grad!) < tolerance.Gradient, $"grad.{name}: relative error {RelativeError(p.Grad!, q.Grad!):E2}");
            // After Adam's first step, wherever the gradient is not rounding noise (a bias before a
            // batch norm has a true gradient of 0, and Adam turns noise into +-lr).
            double[] ours = p.ToDoubles(), reference = q.ToDoubles(), gradient = q.Grad!.ToDoubles();
            for (int i = 0; i < ours.Length; i++)
                if (Math.Abs(gradient[i]) >= tolerance.NoiseFloor)
                    Assert.True(Math.Abs(ours[i] - reference[i]) <= 1e-6, $"{name}[{i}] after Adam: {ours[i]} vs {reference[i]}");
        }
    }

    /// <summary>How close a replayed graph's results must be to eager steps' (0: bit-identical, as in the emulator).</summary>
    protected virtual double GraphTolerance => 0;

    [Fact]
    public void Steps_replayed_from_a_captured_graph_train_exactly_like_eager_steps()
    {
        // Two copies of one network on the GPU, dropout on, Adam: one runs every step eagerly, the
        // other captures step 3 and replays it. If anything that changes between steps were a launch
        // argument (Adam's bias corrections, the learning rate, the dropout step) the replays would
        // repeat step 3's values and drift from the eager copy.
        var config = new FerNetConfig(Width: 0.125, Height: 8, ImageWidth: 8);
        var (eagerModel, graphModel) = (new FerNet(config, Gpu, seed: 4), new FerNet(config, Gpu, seed: 4));
        var eagerAdam = new Adam(eagerModel.NamedParameters(), 1e-2);
        var graphAdam = new Adam(graphModel.NamedParameters(), 1e-2);
        using var eager = new TrainStep(eagerModel, eagerAdam, new TaskWeights());
        using var graph = new TrainStep(graphModel, graphAdam, new TaskWeights(), captureGraph: true);
        var x = Tensor.Uniform(new Shape(4, 1, 8, 8), 0, 1, 5, 5, DType.Float32, Gpu);
        long[][] labels = [[0, 3, -1, 6], [1, -1, 2, 0], [2, 0, 1, -1], [4, 1, 0, 2]];
        var labelTensors = labels.Select(l => Tensor.FromArray(l, new Shape(4), Gpu)).ToArray();

        for (ulong s = 0; s < 6; s++)
        {
            if (s == 4) eagerAdam.LearningRate = graphAdam.LearningRate = 2e-3;   // what reduce-on-plateau does
            double expected = eager.Run(x, labelTensors, s).Total.Item();
            double replayed = graph.Run(x, labelTensors, s).Total.Item();
            Assert.True(Math.Abs(replayed - expected) <= GraphTolerance * Math.Abs(expected), $"step {s}: loss {replayed} replayed vs {expected} eager");
        }
        Assert.Null(graph.GraphUnavailable);
        Assert.Equal((1, 4L), (graph.Captures, graph.Replays));   // steps 0 and 1 warm up, 2 is captured, 2-5 replay
        foreach (var ((name, p), (_, q)) in graphModel.StateDict().Zip(eagerModel.StateDict()))
            Assert.True(RelativeError(p, q) <= GraphTolerance, $"{name} after 6 steps: relative error {RelativeError(p, q):E2}");
    }
}
