using System.Text;
using FerEngine.Backends.Cuda;
using FerEngine.Backends;

namespace FerEngine.Benchmarks.Kernels;

/// <summary>
/// Bandwidth of our memory-bound PTX kernels on a real GPU against the device-to-device copy
/// (cuMemcpyDtoDAsync) measured in the same run, counting the bytes every pass of the kernel reads
/// and writes (a batch norm that reads x three times counts it three times: how fast each pass streams), timed
/// with CUDA events over repeated launches on 64 Mi floats (256 MiB per tensor).
/// </summary>
public static class KernelBandwidth
{
    private const int Elements = 64 << 20;
    private const int Repeats = 20;

    public static string Table(CudaGpu gpu)
    {
        var device = new CudaDevice(gpu);
        var backend = device.Backend;
        Tensor Floats(ulong stream) => Tensor.Uniform(new Shape(Elements), -1, 1, 1, stream, DType.Float32, device);
        Tensor a = Floats(1), b = Floats(2), c = Floats(3), d = Floats(4);
        var mask = Tensor.Zeros(new Shape(Elements), DType.UInt8, device);
        var step = Tensor.Zeros(new Shape(1), DType.Int64, device);
        var adam = new AdamHyperparameters(1e-3);
        var stepScalars = adam.StepScalarsTensor(2, DType.Float32, device);
        var sum = Tensor.Zeros(Shape.Scalar, DType.Float32, device);
        long n4 = Elements * 4L;

        var rows = new List<(string Kernel, long Bytes, double Milliseconds)>
        {
            ("copy (cuMemcpyDtoD)", 2 * n4, Time(gpu, () => gpu.CopyDeviceToDevice(((CudaStorage)a.Storage).Address, ((CudaStorage)b.Storage).Address, n4))),
            ("copy_f32", 2 * n4, Time(gpu, () => backend.Copy(a, b))),
            ("scale_f32", 2 * n4, Time(gpu, () => backend.Scale(a, 0.5, b))),
            ("add_f32", 3 * n4, Time(gpu, () => backend.Add(a, b, c))),
            ("axpy_f32", 3 * n4, Time(gpu, () => backend.Axpy(0.5, a, b))),
            ("elu_forward_f32", 2 * n4, Time(gpu, () => backend.EluForward(a, null, b, 1.0))),
            ("elu_backward_f32", 3 * n4, Time(gpu, () => backend.EluBackward(a, b, c, 1.0))),
            ("dropout_forward_f32", 2 * n4 + Elements, Time(gpu, () => backend.DropoutForward(a, 0.4, 1, 2, step, b, mask))),
            ("dropout_backward_f32", 2 * n4 + Elements, Time(gpu, () => backend.DropoutBackward(a, mask, 0.4, b))),
            ("adam_f32", 7 * n4, Time(gpu, () => backend.AdamUpdate([new(a, b, c, d)], adam, stepScalars))),
            ("sum_f32", n4, Time(gpu, () => backend.Sum(a, sum))),
        };
        rows.AddRange(MaxPoolRows(gpu, device, a, b));
        rows.AddRange(BatchNormRows(gpu, device));
        double copy = rows[0].Bytes / rows[0].Milliseconds / 1e6;
        var table = new StringBuilder($"Memory-bound kernels, {Elements:N0} floats per input (max-pool: [256, 64, 64, 64]; batch norm: " +
            $"conv1's output at batch 256, [256, 64, 48, 48]), {Repeats} launches each (bytes read + written):\n\n");
        table.AppendLine("| kernel | GB/s | % of copy |");
        table.AppendLine("|---|---:|---:|");
        foreach (var (kernel, bytes, ms) in rows)
        {
            double gbs = bytes / ms / 1e6;
            table.AppendLine(double.IsNaN(ms) ? $"| {kernel} | failed | - |" : $"| {kernel} | {gbs:F0} | {100 * gbs / copy:F0} % |");
        }
        return table.ToString();
    }

    /// <summary>
    /// 2x2 max-pool of <paramref name="x"/> viewed as [256, 64, 64, 64]: the forward reads x and writes y and
    /// its int32 argmax (a quarter of x each); the backward reads dy and argmax and writes dx (into <paramref name="dx"/>).
    /// </summary>
    private static IEnumerable<(string Kernel, long Bytes, double Milliseconds)> MaxPoolRows(CudaGpu gpu, CudaDevice device, Tensor x, Tensor dx)
    {
        var backend = device.Backend;
        var input = new Shape(256, 64, 64, 64);
        var pooled = new Shape(256, 64, 32, 32);
        Tensor y = Tensor.Zeros(pooled, DType.Float32, device), argmax = Tensor.Zeros(pooled, DType.Int32, device);
        long bytes = Elements * 4L;
        yield return ("maxpool2x2_forward_f32", bytes * 3 / 2, Time(gpu, () => backend.MaxPool2x2Forward(x.View(input), y, argmax)));
        yield return ("maxpool2x2_backward_f32", bytes * 3 / 2, Time(gpu, () => backend.MaxPool2x2Backward(y, argmax, dx.View(input))));
    }

    /// <summary>
    /// Batch norm on conv1's output at batch 256, [256, 64, 48, 48]: what the backend runs (BatchNormSliced.ptx,
    /// three kernels each way, inside a step so their scratch comes from an arena) against BatchNorm.ptx's
    /// one block per channel. Bytes: the forward reads x twice and writes y; the backward reads x and dy twice and writes dx.
    /// </summary>
    private static IEnumerable<(string Kernel, long Bytes, double Milliseconds)> BatchNormRows(CudaGpu gpu, CudaDevice device)
    {
        const int n = 256, c = 64, s = 48 * 48;
        var backend = device.Backend;
        var shape = new Shape(n, c, 48, 48);
        Tensor x = Tensor.Uniform(shape, -1, 3, 1, 5, DType.Float32, device), dy = Tensor.Uniform(shape, -1, 1, 1, 6, DType.Float32, device);
        Tensor y = Tensor.Zeros(shape, DType.Float32, device), dx = Tensor.Zeros(shape, DType.Float32, device);
        Tensor PerChannel() => Tensor.Ones(new Shape(c), DType.Float32, device);
        Tensor gamma = PerChannel(), beta = PerChannel(), runningMean = PerChannel(), runningVar = PerChannel();
        Tensor mean = PerChannel(), invStd = PerChannel(), dgamma = PerChannel(), dbeta = PerChannel();
        ulong P(Tensor t) => ((CudaStorage)t.Storage).Address;
        long bytes = shape.ElementCount * 4L;
        using var arena = device.CreateArena("bandwidth");
        Action InStep(Action call) => () => { using (device.BeginStep(arena)) call(); };

        yield return ("batch norm forward: BatchNormSliced.ptx", 3 * bytes, Time(gpu, InStep(() =>
            backend.BatchNormForwardTraining(x, gamma, beta, runningMean, runningVar, 0.01, 1e-3, y, mean, invStd))));
        // The network's forward: x = ELU(u + bias) made and written by the statistics pass (read u, write x, then as above).
        Tensor bias = PerChannel(), activated = Tensor.Zeros(shape, DType.Float32, device);
        yield return ("bias + elu + batch norm forward: BatchNormSliced.ptx", 4 * bytes, Time(gpu, InStep(() =>
            backend.EluBatchNormForwardTraining(x, bias, 1.0, activated, gamma, beta, runningMean, runningVar, 0.01, 1e-3, y, mean, invStd))));
        // The per-channel kernel reads x three times (mean, centred squares, normalise) and writes y: 4 passes.
        yield return ("batch norm forward: batchnorm_forward_training_f32", 4 * bytes, Time(gpu, () =>
            gpu.Launch("batchnorm_forward_training_f32", c, P(x), P(gamma), P(beta), P(runningMean), P(runningVar), P(y), P(mean), P(invStd),
                (uint)n, (uint)c, (uint)s, 0.01f, 1e-3f)));
        yield return ("batch norm backward: BatchNormSliced.ptx", 5 * bytes, Time(gpu, InStep(() =>
            backend.BatchNormBackward(x, dy, gamma, mean, invStd, dx, dgamma, dbeta, accumulate: false))));
        yield return ("batch norm backward: batchnorm_backward_f32", 5 * bytes, Time(gpu, () =>
            gpu.Launch("batchnorm_backward_f32", c, P(x), P(dy), P(gamma), P(mean), P(invStd), P(dx), P(dgamma), P(dbeta), (uint)n, (uint)c, (uint)s, 0u)));
        // The network's backward: through the ELU whose output x is, in the same 5 passes (separately: 8).
        yield return ("batch norm + elu backward: BatchNormSliced.ptx", 5 * bytes, Time(gpu, InStep(() =>
            backend.BatchNormEluBackward(x, dy, gamma, mean, invStd, 1.0, dx, dgamma, dbeta))));
    }

    /// <summary>
    /// Milliseconds per call, by CUDA events around <see cref="Repeats"/> calls after one warm-up call; NaN (a
    /// "failed" row, the reason in the log) if a call fails, so one kernel does not cost the others' rows.
    /// </summary>
    private static double Time(CudaGpu gpu, Action call) => Measured.OrNaN("a bandwidth row", () =>
    {
        call();
        IntPtr start = gpu.Context.CreateEvent(), end = gpu.Context.CreateEvent();
        gpu.Context.Record(start);
        for (int i = 0; i < Repeats; i++) call();
        gpu.Context.Record(end);
        double ms = gpu.Context.ElapsedMilliseconds(start, end) / Repeats;
        gpu.Context.DestroyEvent(start);
        gpu.Context.DestroyEvent(end);
        return ms;
    });
}
