using BenchmarkDotNet.Running;

namespace FerEngine.Benchmarks;

/// <summary>
/// dotnet run --project Benchmarks -c Release -- train-step [options]   end-to-end CPU throughput vs PyTorch
/// dotnet run --project Benchmarks -c Release -- scaling [options]      CPU img/s for batch x width x threads
/// dotnet run --project Benchmarks -c Release -- gpu-train-step [options]   end-to-end GPU throughput vs PyTorch, kernel bandwidth (needs a GPU)
/// dotnet run --project Benchmarks -c Release -- primitives | gemm | breakdown      per-primitive tables (see each class)
/// dotnet run --project Benchmarks -c Release -- --filter '*PrimitiveBenchmarks*' --inProcess   the primitives as a BenchmarkDotNet suite
/// Without arguments BenchmarkDotNet lists its suites to choose from.
/// </summary>
public static class Program
{
    public static int Main(string[] args)
    {
        try
        {
            if (args.Length > 0 && args[0] == "breakdown") return EndToEnd.StepBreakdown.Run(args[1..]);
            if (args.Length > 0 && args[0] == "gemm") return Kernels.GemmThroughput.Run();
            if (args.Length > 0 && args[0] == "primitives") return Kernels.PrimitiveThroughput.Run(args[1..]);
            if (args.Length > 0 && args[0] == "train-step") return EndToEnd.CpuTrainStepBenchmark.Run(args[1..]);
            if (args.Length > 0 && args[0] == "scaling") return EndToEnd.ScalingTable.Run(args[1..]);
            if (args.Length > 0 && args[0] == "gpu-train-step") return EndToEnd.GpuTrainStepBenchmark.Run(args[1..]);
        }
        catch (Exception e) when (e is InvalidOperationException or IOException or FormatException
                                      or Native.CudaUnavailableException or Native.Cuda.CudaException)
        {
            Console.Error.WriteLine($"benchmark: {e.Message}");
            return 1;
        }
        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
        return 0;
    }
}
