using System.Diagnostics;
using FerEngine.Backends.Cpu;
using FerEngine.Model.Network;
using FerEngine.Model.Training;
using FerEngine.Optim;

namespace FerEngine.Benchmarks.EndToEnd;

/// <summary>
/// Where the time of one CPU training step goes, per primitive, summed over a few steps:
///   dotnet run --project Benchmarks -c Release -- breakdown [--width 1] [--batch 32] [--steps 5] [--threads 2]
/// The last line compares the sum of primitive times with the measured step time (the rest is
/// autograd bookkeeping, allocation and host reads).
/// </summary>
public static class StepBreakdown
{
    public static int Run(string[] args)
    {
        double width = double.Parse(Arguments.Option(args, "--width", "1"));
        int batch = int.Parse(Arguments.Option(args, "--batch", "32")), steps = int.Parse(Arguments.Option(args, "--steps", "5"));
        CpuFastBackend.Threads = int.Parse(Arguments.Option(args, "--threads", "2"));
        var timing = new TimingBackend(new CpuFastBackend());
        var device = new CpuDevice("cpu-timed", timing);
        var model = new FerNet(new FerNetConfig(width), device, seed: 0);
        var step = new TrainStep(model, new Adam(model.NamedParameters(), 3e-4), new TaskWeights());
        var x = Tensor.Uniform(new Shape(batch, 1, 48, 48), 0, 1, 1, 1, DType.Float32, device);
        var labels = FerNet.ClassCounts.Select((k, t) => Tensor.FromArray(Enumerable.Range(0, batch).Select(i => (long)((i + t) % k)).ToArray(), new Shape(batch), device)).ToArray();
        step.Run(x, labels, 0).Total.Item(); // warm-up
        timing.Reset();
        var clock = Stopwatch.StartNew();
        for (int s = 1; s <= steps; s++) step.Run(x, labels, (ulong)s).Total.Item();
        double stepMs = clock.Elapsed.TotalMilliseconds / steps;

        Console.WriteLine($"Training step breakdown: width {width}, batch {batch}, {CpuFastBackend.Threads} threads, {steps} steps, CPU {CpuTrainStepBenchmark.CpuModel()}");
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
        return 0;
    }
}
