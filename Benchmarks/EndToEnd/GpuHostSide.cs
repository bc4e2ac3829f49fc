using System.CommandLine;
using System.Diagnostics;
using FerEngine.Backends.Cuda;

namespace FerEngine.Benchmarks.EndToEnd;

/// <summary>
/// The host's side of an eager GPU training step, measured without a GPU: the CUDA backend's step
/// (the paper network at width 1) on <see cref="HostOnlyGpu"/>, which computes nothing, so the time
/// is what the host spends per step (autograd, the step arena, launch shapes, argument packing).
/// Not included: the driver's own cost per call (cuLaunchKernel, cuDNN, cuBLAS), which needs a GPU.
/// An eager step on a GPU takes at least this plus those calls; a replayed CUDA graph pays neither.
///   dotnet run --project Benchmarks -c Release -- gpu-host-side [--batches 32,256,1024] [--seconds 3]
/// </summary>
public static class GpuHostSide
{
    public static Command Command()
    {
        var batches = BenchmarkOptions.Counts("--batches", "32,256,1024", "Batch sizes, comma-separated.", least: 2);
        var seconds = BenchmarkOptions.Seconds(3);
        var command = new Command("gpu-host-side", "The host's share of the CUDA backend's eager training step, measured without a GPU: " +
                                                   "ms per step and µs per GPU call (about 10 s).") { batches, seconds };
        command.SetAction(parse => Run(BenchmarkOptions.Values<int>(parse.GetValue(batches)!), parse.GetValue(seconds)));
        return command;
    }

    private static int Run(int[] batches, double seconds)
    {
        Console.WriteLine($"The host's side of the CUDA backend's eager training step (width 1), no GPU work; .NET {Environment.Version}, {Environment.ProcessorCount} cores");
        Console.WriteLine();
        Console.WriteLine("| batch | host ms / step | GPU calls / step | µs / call | img/s if the GPU took no time |");
        Console.WriteLine("|---|---:|---:|---:|---:|");
        foreach (int batch in batches)
        {
            var gpu = new HostOnlyGpu();
            var (step, x, labels) = TrainStepTiming.Prepare(new CudaDevice(gpu), 1.0, batch);
            using var _ = step;
            const int warmup = 3;
            for (int w = 0; w < warmup; w++) step.Run(x, labels, (ulong)w);
            long callsBefore = gpu.Operations;
            int steps = 0;
            var clock = Stopwatch.StartNew();
            while (clock.Elapsed.TotalSeconds < seconds || steps < 10) step.Run(x, labels, (ulong)(warmup + steps++));
            double milliseconds = clock.Elapsed.TotalMilliseconds / steps, calls = (double)(gpu.Operations - callsBefore) / steps;
            Console.WriteLine($"| {batch} | {milliseconds:F3} | {calls:F0} | {1000 * milliseconds / calls:F2} | {1000 * batch / milliseconds:N0} |");
        }
        return 0;
    }
}
