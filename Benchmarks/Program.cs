using System.CommandLine;
using BenchmarkDotNet.Running;
using FerEngine.Benchmarks.EndToEnd;
using FerEngine.Benchmarks.Kernels;

namespace FerEngine.Benchmarks;

/// <summary>
/// The benchmark runners, one command each (`--help` after a command lists its options):
///   train-step       end-to-end CPU throughput vs PyTorch
///   inference        evaluation-mode CPU throughput vs ONNX Runtime and PyTorch
///   scaling          CPU img/s for batch x width x threads
///   gpu-train-step   end-to-end GPU throughput vs PyTorch, and kernel bandwidth (needs a GPU)
///   gpu-host-side    the host's share of an eager GPU step, measured without a GPU
///   primitives       every primitive vs PyTorch and the machine's limits
///   gemm             single-core SGEMM vs the FMA peak
///   cross-core       overwriting what the other thread has just read, against what the writer read
///   breakdown        where one training step's time goes
/// Arguments that start with an option other than --help (`--filter '*PrimitiveBenchmarks*' --inProcess`,
/// `--list flat`) go to BenchmarkDotNet; none print this list. Exit codes: 0 done, 1 failed, 2 usage error.
/// </summary>
public static class Program
{
    public static int Main(string[] args)
    {
        if (args.Length == 0) args = ["--help"];   // the commands, rather than BenchmarkDotNet's interactive prompt
        if (args[0].StartsWith('-') && args[0] is not ("--help" or "-h" or "-?"))
        {
            var summaries = BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
            if (args.Any(a => a is "--list" or "--info" or "--version") || summaries.Any()) return 0;   // these only print
            Console.Error.WriteLine($"benchmark: no benchmark ran for `{string.Join(' ', args)}` (an option BenchmarkDotNet does not know, or a --filter that matches no benchmark).");
            return 2;
        }
        var root = new RootCommand("FerEngine's benchmarks. Arguments that start with an option go to BenchmarkDotNet " +
                                   "(e.g. --filter '*PrimitiveBenchmarks*' --inProcess: the primitives as a BenchmarkDotNet suite; --list flat: its cases).")
        {
            CpuTrainStepBenchmark.Command(),
            InferenceBenchmark.Command(),
            ScalingTable.Command(),
            GpuTrainStepBenchmark.Command(),
            GpuHostSide.Command(),
            PrimitiveThroughput.Command(),
            GemmThroughput.Command(),
            CrossCoreWrites.Command(),
            StepBreakdown.Command(),
        };
        var parsed = root.Parse(args);
        if (parsed.Errors.Count > 0)
        {
            foreach (var e in parsed.Errors) Console.Error.WriteLine($"benchmark: {OptionChecks.WithoutTypeNames(e.Message)}");
            Console.Error.WriteLine("Run with --help (or <command> --help) for usage.");
            return 2;
        }
        try
        {
            return parsed.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
        }
        catch (Exception e) when (e is InvalidOperationException or IOException or FormatException or ArgumentException
                                      or UnauthorizedAccessException or Native.CudaUnavailableException or Native.Cuda.CudaException)
        {
            Console.Error.WriteLine($"benchmark: {e.Message}");
            return 1;
        }
    }
}
