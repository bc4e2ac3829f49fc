using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using FerEngine.Backends;
using FerEngine.Backends.Cpu;
using FerEngine.Backends.Cuda;
using FerEngine.Benchmarks.EndToEnd;
using FerEngine.Model.Network;

namespace FerEngine.Benchmarks.Kernels;

/// <summary>
/// Every primitive of the paper network at its real shapes, on the fast CPU path or a GPU, next to
/// the same operation in PyTorch on the same device (Peers/primitives_peer.py, same invocation) and
/// to the machine's limit measured in this run:
///   dotnet run --project Benchmarks -c Release -- primitives [--batch 32] [--threads 2] [--repeats 5] [--device cpu|cuda|emulated] [--python /usr/bin/python3] [--only TEXT]
/// --only runs the cases whose name contains TEXT ("conv2", "backward-filter", "adam"), here and in the peer.
/// FLOP-bound rows: GFLOP/s = 2 x multiply-adds / time, against threads x the single-core FMA peak
/// (CPU) or a large cuBLAS SGEMM in the device's math mode (GPU, TF32 as PyTorch's convolutions).
/// A convolution's multiply-adds are the direct algorithm's, so a rate is effective: an algorithm
/// that needs fewer (Winograd on the CPU's 3x3 layers and conv2, perhaps cuDNN's) can pass 100 %.
/// Memory-bound rows: GB/s = the bytes a one-pass kernel must read and write / time, against the
/// measured copy bandwidth (bytes read + written; cuMemcpyDtoD on a GPU). A rate is effective, as for
/// the FLOPs: a kernel that makes several passes (batch norm reads x three times forward and x and dy
/// twice backward) shows below the speed each pass streams at; `gpu-train-step`'s bandwidth table counts every pass.
/// CPU times: medians of samples that each average back-to-back calls over at least 50 ms. GPU times
/// are CUDA-event times of each call; "emulated" only checks the run end to end (tiny batches).
/// </summary>
public static class PrimitiveThroughput
{
    internal sealed record Case(string Name, string Shape, double Flops, double Bytes, Action Run);

    /// <summary>A tensor of the given shape on the cases' device, filled with normal random values.</summary>
    private delegate Tensor MakeTensor(params int[] dims);

    public static Command Command()
    {
        var batch = BenchmarkOptions.Batch(32, least: 1);
        var threads = BenchmarkOptions.Threads();
        var repeats = new Option<int>("--repeats") { Description = "Samples per case; the table shows their median.", DefaultValueFactory = _ => 5 }
            .Require(r => r is >= 1 and <= 1000, "must be from 1 to 1000.");
        var device = new Option<string>("--device") { Description = "cpu, cuda (needs a GPU) or emulated (the GPU code path in the PTX emulator; its times mean nothing).", DefaultValueFactory = _ => "cpu" };
        device.AcceptOnlyFromAmong("cpu", "cuda", "emulated");
        var only = new Option<string>("--only") { Description = "Only the cases whose name contains this text (conv2, backward-filter, adam).", DefaultValueFactory = _ => "" };
        only.Validators.Add(result =>   // the names do not depend on the batch: check them on batch 1, before the real cases are made
        {
            var names = Cases(1, Device.Cpu).ConvertAll(c => c.Name);
            string text = result.GetValueOrDefault<string>();
            if (!names.Exists(name => name.Contains(text))) result.AddError($"--only {text}: no case's name contains it. The cases: {string.Join(", ", names)}.");
        });
        var python = BenchmarkOptions.Python("/usr/bin/python3");
        var command = new Command("primitives", "Every primitive at the paper's shapes, FerEngine vs PyTorch on the same device, against the machine's measured limits (CPU: about 30 s at batch 32, 1.5 min at 256).")
            { batch, threads, repeats, device, only, python };
        command.SetAction(parse => Run(parse.GetValue(batch), parse.GetValue(threads), parse.GetValue(repeats), parse.GetValue(device)!,
            parse.GetValue(only)!, parse.GetValue(python)!));
        return command;
    }

    private static int Run(int batch, int threads, int repeats, string deviceName, string only, string python)
    {
        CpuFastBackend.Threads = threads;
        Device device = deviceName switch
        {
            "cpu" => Device.Cpu,
            "cuda" => new CudaDevice(new CudaGpu(0, tf32: true)),
            "emulated" => CudaDevice.Emulated(),
            _ => throw new ArgumentException($"--device {deviceName}: expected cpu, cuda or emulated."),
        };
        var gpu = (device as CudaDevice)?.Gpu as CudaGpu;
        // Scratch memory (batch norm's partial sums, the loss's row losses) comes from an arena, as in a
        // training step, so that no timed call allocates device memory.
        using var arena = device.CreateArena("primitives");
        var cases = Cases(batch, device, only).ConvertAll(c => c with { Run = () => { using (device.BeginStep(arena)) c.Run(); } });
        // A case or the peer that fails is reported and left out of the table, not the end of the run: on a
        // GPU lent for minutes, one failure should not cost every other number.
        var ours = cases.ToDictionary(c => c.Name, c => Measured.OrNaN(c.Name, () => gpu is null ? MedianMs(c.Run, repeats) : MedianGpuMs(gpu, c.Run, repeats)));
        var theirs = new Dictionary<string, double>();
        if (deviceName != "emulated")
            try { theirs = PyTorch(python, deviceName, batch, threads, repeats, only); }
            catch (Exception e) when (e is InvalidOperationException or JsonException) { Console.Error.WriteLine($"no PyTorch column: {e.Message}"); }
        bool emulated = deviceName == "emulated";   // the PTX emulator on the CPU: no limit to compare with
        int cores = Math.Min(threads, Environment.ProcessorCount);   // more threads than cores add no FMA units
        double peak = emulated ? double.NaN : gpu is null ? GemmThroughput.PeakGflops() * cores : Measured.OrNaN("the SGEMM limit", () => GpuGemmGflops(gpu));
        double copy = emulated ? double.NaN : gpu is null ? CopyBandwidth(threads) : Measured.OrNaN("the copy bandwidth", () => GpuCopyBandwidth(gpu));

        string machine = gpu is null ? $"{threads} threads, CPU {CpuTrainStepBenchmark.CpuModel()}" : $"GPU {gpu.Context.DeviceName}, TF32";
        string peakName = gpu is null ? "FMA peak" : "cuBLAS SGEMM 8192^3 (TF32)";
        Console.WriteLine(emulated
            ? $"Primitives at batch {batch} on the emulated GPU: a check that every case runs; its times mean nothing"
            : $"Primitives at batch {batch} on {device.Name}, {machine}: limits measured now: {peak:F0} GFLOP/s {peakName}, {copy:F1} GB/s copy bandwidth (read + write)");
        Console.WriteLine();
        Console.WriteLine("| primitive | shape | FerEngine ms | PyTorch ms | PyTorch / FerEngine | FerEngine rate | % of limit |");
        Console.WriteLine("|---|---|---:|---:|---:|---:|---:|");
        bool cached = false;
        foreach (var c in cases)
        {
            double ms = ours[c.Name], seconds = ms / 1e3;
            if (double.IsNaN(ms)) { Console.WriteLine($"| {c.Name} | {c.Shape} | failed | - | - | - | - |"); continue; }
            string rate = c.Flops > 0 ? $"{c.Flops / seconds / 1e9:F1} GFLOP/s" : $"{c.Bytes / seconds / 1e9:F1} GB/s";
            double share = c.Flops > 0 ? c.Flops / seconds / 1e9 / peak : c.Bytes / seconds / 1e9 / copy;
            string pytorch = theirs.TryGetValue(c.Name, out double t) ? Milliseconds(t) : "-";
            string ratio = theirs.TryGetValue(c.Name, out t) ? $"{t / ms:F2}x" : "-";
            cached |= c.Flops == 0 && share > 1;
            Console.WriteLine($"| {c.Name} | {c.Shape} | {Milliseconds(ms)} | {pytorch} | {ratio} | {rate} | {(emulated ? "-" : share.ToString("P0"))} |");
        }
        Console.WriteLine("\nRates are effective: a convolution counts the direct algorithm's FLOPs (Winograd needs 4 to 6 times fewer multiplies, so it can pass 100 %), " +
            "a memory-bound row the bytes a one-pass kernel must move (a kernel that makes several passes shows below its streaming speed).");
        if (cached && !emulated)
            Console.WriteLine("A memory-bound row over 100 % kept its operands in the caches between back-to-back calls, or writes in place what it has just read (Adam): " +
                "the copy that sets the limit (256 MB) probably also reads each destination line before writing it, traffic the limit does not count.");
        return ours.Values.Any(double.IsNaN) ? 1 : 0;   // a failed case is in the table and the log; the exit code says so too
    }

    /// <summary>Two decimals, or three significant digits below a millisecond (a 4.2 µs loss is 0.0042, not 0.00).</summary>
    private static string Milliseconds(double ms) => ms >= 1 ? ms.ToString("F2") : ms.ToString("G3");

    /// <summary>
    /// The cases whose name contains <paramref name="only"/> (every case for ""), at batch n. Each group of cases
    /// makes its tensors only when one of its cases is wanted: `--only adam` at batch 1024 needs 38 MB, not 6 GB.
    /// A group that makes a case its names do not list throws: the `--only` check builds every group (batch 1) on
    /// every run, so a renamed case whose list was not updated stops the benchmark rather than vanishing from it.
    /// </summary>
    internal static List<Case> Cases(int n, Device device, string only = "")
    {
        IBackend b = device.Backend;
        Tensor T(params int[] dims) => Tensor.Normal(new Shape(dims), 0, 1, 1, 1, DType.Float32, device);
        var cases = new List<Case>();
        void Group(string[] names, Action addCases)
        {
            if (!names.Any(name => name.Contains(only))) return;
            int before = cases.Count;
            addCases();
            if (cases.Skip(before).FirstOrDefault(c => !names.Contains(c.Name)) is { } undeclared)
                throw new InvalidOperationException($"primitives: the case \"{undeclared.Name}\" is missing from its group's names.");
        }
        foreach (var (name, cin, cout, hw, k) in new[] { ("conv1", 1, 64, 48, 5), ("conv2", 64, 64, 48, 5), ("conv3", 64, 128, 24, 3),
                     ("conv4", 128, 128, 24, 3), ("conv5", 128, 256, 12, 3), ("conv6", 256, 256, 12, 3) })
            Group([$"{name} forward", $"{name} backward-data", $"{name} backward-filter"], () =>
            {
                var (x, w, bias, y) = (T(n, cin, hw, hw), T(cout, cin, k, k), T(cout), T(n, cout, hw, hw));
                var dx = T(n, cin, hw, hw);
                var dw = T(cout, cin, k, k);
                double flops = 2.0 * n * cout * cin * k * k * hw * hw;
                string shape = $"[{n},{cin},{hw},{hw}] * [{cout},{cin},{k},{k}]";
                cases.Add(new($"{name} forward", shape, flops, 0, () => b.ConvolutionForward(x, w, bias, y, k / 2)));
                cases.Add(new($"{name} backward-data", shape, flops, 0, () => b.ConvolutionBackwardData(y, w, dx, k / 2)));
                cases.Add(new($"{name} backward-filter", shape, flops, 0, () => b.ConvolutionBackwardFilter(x, y, dw, k / 2, false)));
            });
        Group(["fc gemm", "fc backward-data gemm", "fc backward-weight gemm", "fc add-bias"], () => FullyConnectedCases(n, b, T, cases));
        Group(["head gemms (4 heads)", "head backward-data gemms (4 heads)", "head backward-weight gemms (4 heads)", "add (head input gradients)"], () => HeadCases(n, b, T, cases));
        Group(["batch-norm forward", "batch-norm backward", "batch-norm inference", "elu forward", "bias + elu + batch-norm forward", "conv2 bias backward",
               "elu backward", "batch-norm + elu backward", "max-pool forward", "max-pool backward", "dropout forward", "dropout backward"], () => ActivationCases(n, device, T, cases));
        Group(["image batch (crop + flip)"], () => ImageBatchCase(n, device, T, cases));
        Group(["softmax cross-entropy", "joint loss (4 heads)", "joint loss backward (scale segments)", "argmax (4 heads)"], () => LossCases(n, device, T, cases));
        Group(["adam (2.39 M parameters)"], () => AdamCase(device, T, cases));
        return cases.FindAll(c => c.Name.Contains(only));
    }

    private static void FullyConnectedCases(int n, IBackend b, MakeTensor T, List<Case> cases)
    {
        var (fx, fw, fy) = (T(n, 9216), T(128, 9216), T(n, 128));
        var (dfx, dfw) = (T(n, 9216), T(128, 9216));
        double fcFlops = 2.0 * n * 9216 * 128;
        cases.Add(new("fc gemm", $"[{n},9216] * [128,9216]^T", fcFlops, 0, () => b.Gemm(false, true, 1, fx, fw, 0, fy)));
        cases.Add(new("fc backward-data gemm", $"[{n},128] * [128,9216]", fcFlops, 0, () => b.Gemm(false, false, 1, fy, fw, 0, dfx)));
        cases.Add(new("fc backward-weight gemm", $"[{n},128]^T * [{n},9216]", fcFlops, 0, () => b.Gemm(true, false, 1, fy, fx, 0, dfw)));
        var fcBias = T(128);
        cases.Add(new("fc add-bias", $"[{n},128]", 0, 2 * fy.ElementCount * 4.0, () => b.AddBias(fy, fcBias)));
    }

    private static void HeadCases(int n, IBackend b, MakeTensor T, List<Case> cases)
    {
        // The four heads (7, 3, 3, 5 classes) read the same [n, 128] features; each row times all four.
        var hx = T(n, 128);
        Tensor[] headW = [.. FerNet.ClassCounts.Select(k => T(k, 128))], headY = [.. FerNet.ClassCounts.Select(k => T(n, k))], headDw = [.. FerNet.ClassCounts.Select(k => T(k, 128))];
        var dhx = T(n, 128);
        double headFlops = 2.0 * n * 128 * FerNet.ClassCounts.Sum();
        cases.Add(new("head gemms (4 heads)", $"[{n},128] * [7+3+3+5,128]^T", headFlops, 0, () => { for (int t = 0; t < 4; t++) b.Gemm(false, true, 1, hx, headW[t], 0, headY[t]); }));
        cases.Add(new("head backward-data gemms (4 heads)", $"[{n},7+3+3+5] * [7+3+3+5,128]", headFlops, 0, () => { for (int t = 0; t < 4; t++) b.Gemm(false, false, 1, headY[t], headW[t], 0, dhx); }));
        cases.Add(new("head backward-weight gemms (4 heads)", $"[{n},7+3+3+5]^T * [{n},128]", headFlops, 0, () => { for (int t = 0; t < 4; t++) b.Gemm(true, false, 1, headY[t], hx, 0, headDw[t]); }));
        // Autograd adds the heads' four gradients of their shared input: three adds per step.
        cases.Add(new("add (head input gradients)", $"3 x [{n},128]", 0, 3 * 3 * hx.ElementCount * 4.0, () => { for (int i = 0; i < 3; i++) b.Add(hx, dhx, dhx); }));
    }

    /// <summary>The per-element and per-channel passes, at conv2's output [n, 64, 48, 48] (the largest), and dropout at its pooled size.</summary>
    private static void ActivationCases(int n, Device device, MakeTensor T, List<Case> cases)
    {
        IBackend b = device.Backend;
        var act = T(n, 64, 48, 48);
        var (dy, outp, dx2) = (T(n, 64, 48, 48), T(n, 64, 48, 48), T(n, 64, 48, 48));
        var (g, beta, rm, rv, sm, si, dg, db) = (T(64), T(64), T(64), T(64), T(64), T(64), T(64), T(64));
        double size = act.ElementCount * 4.0;
        string actShape = $"[{n},64,48,48]";
        cases.Add(new("batch-norm forward", actShape, 0, 2 * size, () => b.BatchNormForwardTraining(act, g, beta, rm, rv, 0.01, 1e-3, outp, sm, si)));
        cases.Add(new("batch-norm backward", actShape, 0, 3 * size, () => b.BatchNormBackward(act, dy, g, sm, si, dx2, dg, db, false)));
        cases.Add(new("batch-norm inference", actShape, 0, 2 * size, () => b.BatchNormForwardInference(act, g, beta, rm, rv, 1e-3, outp)));
        cases.Add(new("elu forward", actShape, 0, 2 * size, () => b.EluForward(act, null, outp, 1.0)));
        var (channelBias, elu) = (T(64), T(n, 64, 48, 48));   // bytes: read u, write x and y
        cases.Add(new("bias + elu + batch-norm forward", actShape, 0, 3 * size,
            () => b.EluBatchNormForwardTraining(act, channelBias, 1.0, elu, g, beta, rm, rv, 0.01, 1e-3, outp, sm, si)));
        // A convolution's bias gradient, at conv2's output (the largest of the step's eleven).
        cases.Add(new("conv2 bias backward", actShape, 0, size, () => b.BiasBackward(dy, db, false)));
        cases.Add(new("elu backward", actShape, 0, 3 * size, () => b.EluBackward(outp, dy, dx2, 1.0)));
        cases.Add(new("batch-norm + elu backward", actShape, 0, 3 * size, () => b.BatchNormEluBackward(outp, dy, g, sm, si, 1.0, dx2, dg, db)));
        var pooled = T(n, 64, 24, 24);
        var argmax = Tensor.Zeros(pooled.Shape, DType.Int32, device);
        cases.Add(new("max-pool forward", actShape, 0, 1.5 * size, () => b.MaxPool2x2Forward(act, pooled, argmax)));
        cases.Add(new("max-pool backward", actShape, 0, 1.5 * size, () => b.MaxPool2x2Backward(pooled, argmax, dx2)));
        var mask = Tensor.Zeros(pooled.Shape, DType.UInt8, device);
        var (dropped, step) = (T(n, 64, 24, 24), Tensor.Zeros(new Shape(1), DType.Int64, device));
        cases.Add(new("dropout forward", $"[{n},64,24,24]", 0, 2.25 * pooled.ElementCount * 4, () => b.DropoutForward(pooled, 0.6, 1, 2, step, dropped, mask)));
        cases.Add(new("dropout backward", $"[{n},64,24,24]", 0, 2.25 * pooled.ElementCount * 4, () => b.DropoutBackward(dropped, mask, 0.6, pooled)));
    }

    private static void ImageBatchCase(int n, Device device, MakeTensor T, List<Case> cases)
    {
        IBackend b = device.Backend;
        var pixels = Tensor.FromArray(Enumerable.Range(0, n * 48 * 48).Select(i => (byte)(i * 7)).ToArray(), new Shape(n, 1, 48, 48), device);
        var images = T(n, 1, 48, 48);
        var augmentation = new FerEngine.Random.ImageAugmentation(Seed: 1, Stream: 2, FirstPosition: 0);
        cases.Add(new("image batch (crop + flip)", $"[{n},1,48,48] u8", 0, 5.0 * pixels.ElementCount, () => b.ImageBatch(pixels, images, augmentation)));
    }

    private static void LossCases(int n, Device device, MakeTensor T, List<Case> cases)
    {
        IBackend b = device.Backend;
        var (logits, d, loss) = (T(n, 7), T(n, 7), T(1));
        var labels = Tensor.FromArray(Enumerable.Range(0, n).Select(i => (long)(i % 7)).ToArray(), new Shape(n), device);
        cases.Add(new("softmax cross-entropy", $"[{n},7]", 0, 2 * logits.ElementCount * 4 + n * 8, () => b.SoftmaxCrossEntropy(logits, labels, loss.View(Shape.Scalar), d)));
        // The network's joint loss: four heads (7, 3, 3, 5 classes), weighted, with their gradients.
        Tensor[] heads = [logits, T(n, 3), T(n, 3), T(n, 5)];
        Tensor[] headLabels = [.. heads.Select(h => Tensor.FromArray(Enumerable.Range(0, n).Select(i => (long)(i % h.Shape[1])).ToArray(), new Shape(n), device))];
        var (losses, dHeads) = (T(5), T(n * 18));
        double[] taskWeights = [2, 0.1, 1.5, 4];
        cases.Add(new("joint loss (4 heads)", $"[{n},7+3+3+5]", 0, 2 * 18.0 * n * 4 + 4 * n * 8, () => b.JointSoftmaxCrossEntropy(heads, headLabels, taskWeights, losses, dHeads)));
        var (dTotal, dScaled) = (Tensor.FromArray(new float[] { 1 }, new Shape(1), device), T(n * 18));
        cases.Add(new("joint loss backward (scale segments)", $"[{n},7+3+3+5]", 0, 2 * 18.0 * n * 4,
            () => b.ScaleSegments(dHeads, [.. heads.Select(h => h.ElementCount)], taskWeights, dTotal, dScaled)));
        // Evaluation's predictions: each head's most likely class.
        var predictions = heads.Select(_ => Tensor.Zeros(new Shape(n), DType.Int64, device)).ToArray();
        cases.Add(new("argmax (4 heads)", $"[{n},7+3+3+5]", 0, 18.0 * n * 4 + 4 * n * 8, () => { for (int t = 0; t < 4; t++) b.Argmax(heads[t], predictions[t]); }));
    }

    private static void AdamCase(Device device, MakeTensor T, List<Case> cases)
    {
        IBackend b = device.Backend;
        var (p, pg, m, v) = (T(2_394_962), T(2_394_962), T(2_394_962), T(2_394_962));
        var adam = new AdamHyperparameters(3e-4);
        var stepScalars = adam.StepScalarsTensor(2, DType.Float32, device);
        cases.Add(new("adam (2.39 M parameters)", "[2394962]", 0, 7 * 4.0 * p.ElementCount, () => b.AdamUpdate([new(p, pg, m, v)], adam, stepScalars)));
    }

    /// <summary>The median time of <paramref name="repeats"/> calls after one warm-up call (JIT, pools, cuDNN plans).</summary>
    private static double Median(Action run, int repeats, Func<Action, double> milliseconds)
    {
        run();
        var times = Enumerable.Range(0, repeats).Select(_ => milliseconds(run)).Order().ToList();
        return times[times.Count / 2];
    }

    /// <summary>
    /// Each sample is the mean of back-to-back calls that fill at least <see cref="SampleMs"/>
    /// (the peer script does the same): a lone call after another primitive runs on cold caches,
    /// which a training step does not (conv4 forward: 39 ms alone, 31 ms back to back, 29 ms in a step).
    /// </summary>
    private static double MedianMs(Action run, int repeats)
    {
        long first = Stopwatch.GetTimestamp();
        run();
        int calls = (int)Math.Clamp(Math.Ceiling(SampleMs / Math.Max(Stopwatch.GetElapsedTime(first).TotalMilliseconds, 1e-3)), 1, 10_000);
        return Median(run, repeats, call =>
        {
            long start = Stopwatch.GetTimestamp();
            for (int i = 0; i < calls; i++) call();
            return Stopwatch.GetElapsedTime(start).TotalMilliseconds / calls;
        });
    }

    private const double SampleMs = 50;

    /// <summary>
    /// Each sample is back-to-back calls between two CUDA events, enough to fill <see cref="GpuSampleMs"/>
    /// of GPU time (the peer script does the same): a lone call of a few microseconds would time its
    /// launch more than its kernels, and in a training step launches overlap the GPU's work.
    /// </summary>
    private static double MedianGpuMs(CudaGpu gpu, Action run, int repeats)
    {
        var context = gpu.Context;
        IntPtr start = context.CreateEvent(), end = context.CreateEvent();
        try
        {
            double Sample(Action call, int calls)
            {
                context.Record(start);
                for (int i = 0; i < calls; i++) call();
                context.Record(end);
                return context.ElapsedMilliseconds(start, end) / calls;
            }
            run();
            int calls = (int)Math.Clamp(Math.Ceiling(GpuSampleMs / Math.Max(Sample(run, 1), 1e-4)), 1, 1000);
            return Median(run, repeats, call => Sample(call, calls));
        }
        finally
        {
            context.DestroyEvent(start);
            context.DestroyEvent(end);
        }
    }

    private const double GpuSampleMs = 2;

    /// <summary>GFLOP/s of an 8192^3 cuBLAS SGEMM in the device's math mode: the FLOP limit of the GPU rows.</summary>
    private static double GpuGemmGflops(CudaGpu gpu)
    {
        var device = new CudaDevice(gpu);
        // Random operands: on zeros a GPU draws less power and may clock higher than on real data.
        Tensor Matrix(ulong stream) => Tensor.Uniform(new Shape(8192, 8192), -1, 1, 1, stream, DType.Float32, device);
        var (a, b, c) = (Matrix(1), Matrix(2), Matrix(3));
        double ms = MedianGpuMs(gpu, () => device.Backend.Gemm(false, false, 1, a, b, 0, c), 5);
        foreach (var t in new[] { a, b, c }) t.Storage.Release();
        return 2.0 * 8192 * 8192 * 8192 / (ms / 1e3) / 1e9;
    }

    /// <summary>cuMemcpyDtoD of 256 MiB, bytes read + written per second (GB/s).</summary>
    private static double GpuCopyBandwidth(CudaGpu gpu)
    {
        const long bytes = 256L << 20;
        ulong source = gpu.Allocate(bytes), destination = gpu.Allocate(bytes);
        double ms = MedianGpuMs(gpu, () => gpu.CopyDeviceToDevice(source, destination, bytes), 10);
        gpu.Free(source);
        gpu.Free(destination);
        return 2.0 * bytes / (ms / 1e3) / 1e9;
    }

    private static Dictionary<string, double> PyTorch(string python, string device, int batch, int threads, int repeats, string only)
    {
        string script = Path.Combine(CpuTrainStepBenchmark.PeersFolder(), "primitives_peer.py");
        string line = TrainStepTiming.RunPeer(python, $"\"{script}\" --device {device} --batch {batch} --threads {threads} --repeats {repeats} --only \"{only}\"",
            "the PyTorch peer", TimeSpan.FromMinutes(device == "cpu" ? 15 : 2));   // every case at batch 256: about a minute on the CPU; the limit leaves room for a slow machine
        return JsonSerializer.Deserialize<Dictionary<string, double>>(line)!;
    }

    /// <summary>Copy bandwidth (bytes read + written per second) of 256 MB split over the threads.</summary>
    private static double CopyBandwidth(int threads)
    {
        var source = new float[64 << 20];
        var destination = new float[64 << 20];
        double best = 0;
        for (int trial = 0; trial < 5; trial++)
        {
            long start = Stopwatch.GetTimestamp();
            Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, t =>
            {
                int chunk = source.Length / threads;
                source.AsSpan(t * chunk, chunk).CopyTo(destination.AsSpan(t * chunk, chunk));
            });
            best = Math.Max(best, 2.0 * source.Length * 4 / Stopwatch.GetElapsedTime(start).TotalSeconds / 1e9);
        }
        return best;
    }
}
