using System.CommandLine;
using System.Diagnostics;
using FerEngine.Backends.Cpu;
using FerEngine.Backends.Cuda;
using FerEngine.Model.Network;
using FerEngine.Model.Training;
using FerEngine.Optim;

namespace FerEngine.Benchmarks.EndToEnd;

/// <summary>
/// Where the time of one training step goes, per primitive, summed over a few steps:
///   dotnet run --project Benchmarks -c Release -- breakdown [--width 1] [--batch 32] [--steps 5] [--threads 2] [--device cpu|cuda] [--inference]
/// With --inference the step is one evaluation-mode forward pass (no gradients, logits read back), as
/// `fer predict` and the inference benchmark run it; its batch may be 1.
/// The last line compares the sum of primitive times with the measured step time (the rest is
/// autograd bookkeeping, allocation and host reads). On a GPU (TF32) the device is synchronised
/// around every primitive so that each one's time is its work; the step is then slower than an
/// unsynchronised eager step or a graph replay, which are measured after the table for comparison.
/// </summary>
public static class StepBreakdown
{
    public static Command Command()
    {
        var width = new Option<double>("--width") { Description = "Width multiplier.", DefaultValueFactory = _ => 1 }
            .Require(w => w > 0 && w <= 8, "must be a number in (0, 8].");
        var batch = BenchmarkOptions.Batch(32, least: 1);
        var steps = new Option<int>("--steps") { Description = "Timed steps.", DefaultValueFactory = _ => 5 }
            .Require(s => s is >= 1 and <= 100000, "must be at least 1.");
        var threads = BenchmarkOptions.Threads();
        var device = new Option<string>("--device") { Description = "cpu, or cuda (needs a GPU).", DefaultValueFactory = _ => "cpu" };
        device.AcceptOnlyFromAmong("cpu", "cuda");
        var inference = new Option<bool>("--inference") { Description = "Time an evaluation-mode forward pass instead of a training step (the batch may be 1)." };
        var command = new Command("breakdown", "Where one training step spends its time, per primitive (about 10 s on the CPU).")
            { width, batch, steps, threads, device, inference };
        command.Validators.Add(parse =>
        {
            if (!parse.GetValue(inference) && parse.GetResult(batch) is { } given && given.GetValueOrDefault<int>() < 2) parse.AddError("--batch must be at least 2 for a training step (training batch norm needs two samples); --inference takes 1.");
        });
        command.SetAction(parse => Run(parse.GetValue(width), parse.GetValue(batch), parse.GetValue(steps), parse.GetValue(threads), parse.GetValue(device) == "cuda", parse.GetValue(inference)));
        return command;
    }

    private static int Run(double width, int batch, int steps, int threads, bool onGpu, bool inference)
    {
        CpuFastBackend.Threads = threads;
        var gpu = onGpu ? new CudaGpu(0, tf32: true) : null;
        var timing = gpu is null ? new TimingBackend(new CpuFastBackend()) : new TimingBackend(new CudaBackend(), gpu.Context.Synchronize);
        Device device = gpu is null ? new CpuDevice("cpu-timed", timing) : new CudaDevice(gpu, timing);
        var model = new FerNet(new FerNetConfig(width), device, seed: 0);
        var x = Tensor.Uniform(new Shape(batch, 1, 48, 48), 0, 1, 1, 1, DType.Float32, device);
        using var arena = device.CreateArena("inference");
        Action<int> runStep;
        if (inference)
        {
            model.Eval();
            runStep = _ =>
            {
                using var scope = device.BeginStep(arena);
                using var noGrad = Autograd.Autograd.NoGrad();
                var logits = model.ForwardTasks(x);
                foreach (var task in Enum.GetValues<FaceTask>()) logits[task].ToDoubles();
            };
        }
        else
        {
            var step = new TrainStep(model, new Adam(model.NamedParameters(), 3e-4), new TaskWeights());
            var labels = FerNet.ClassCounts.Select((k, t) => Tensor.FromArray(Enumerable.Range(0, batch).Select(i => (long)((i + t) % k)).ToArray(), new Shape(batch), device)).ToArray();
            runStep = s => step.Run(x, labels, (ulong)s).Total.Item();
        }
        runStep(0); // warm-up
        timing.Reset();
        var clock = Stopwatch.StartNew();
        for (int s = 1; s <= steps; s++) runStep(s);
        double stepMs = clock.Elapsed.TotalMilliseconds / steps;

        string machine = gpu is null ? $"{CpuFastBackend.Threads} threads, CPU {CpuTrainStepBenchmark.CpuModel()}" : $"GPU {gpu.Context.DeviceName}, TF32, synchronised per primitive";
        Console.WriteLine($"{(inference ? "Inference (evaluation forward pass)" : "Training step")} breakdown: width {width}, batch {batch}, {steps} steps, {machine}");
        Console.WriteLine();
        Console.WriteLine("| primitive | calls/step | ms/step | share |");
        Console.WriteLine("|---|---|---|---|");
        double accounted = 0;
        foreach (var (name, (calls, time)) in timing.Totals.OrderByDescending(t => t.Value.Time))
        {
            double ms = time.TotalMilliseconds / steps;
            accounted += ms;
            Console.WriteLine($"| {name} | {calls / steps} | {ms:F2} | {ms / stepMs:P1} |");
        }
        Console.WriteLine($"| (autograd, allocation, host reads) | | {stepMs - accounted:F2} | {(stepMs - accounted) / stepMs:P1} |");
        Console.WriteLine($"| **step** | | **{stepMs:F2}** | {batch / (stepMs / 1000):F1} img/s |");
        if (gpu is not null && !inference)
        {
            var plain = new CudaDevice(gpu);
            double eager = TrainStepTiming.FerEngine(plain, width, batch, seconds: 3, warmup: 3, minimumSteps: 5);
            double graph = TrainStepTiming.FerEngine(plain, width, batch, seconds: 3, warmup: 3, minimumSteps: 5, graph: true);
            Console.WriteLine();
            Console.WriteLine($"Without the per-primitive synchronisation: eager {1000.0 * batch / eager:F2} ms/step ({eager:F0} img/s), " +
                              $"CUDA graph replay {1000.0 * batch / graph:F2} ms/step ({graph:F0} img/s).");
        }
        return 0;
    }
}
