using BenchmarkDotNet.Running;

namespace FerEngine.Benchmarks;

/// <summary>
/// dotnet run --project Benchmarks -c Release -- [suite arguments]
/// Without arguments BenchmarkDotNet lists the kernel microbenchmark suites to choose from.
/// </summary>
public static class Program
{
    public static int Main(string[] args)
    {
        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
        return 0;
    }
}
