using BenchmarkDotNet.Attributes;
using FerEngine.Backends.Cpu;

namespace FerEngine.Benchmarks.Kernels;

/// <summary>
/// The per-primitive cases of <see cref="PrimitiveThroughput"/> as a BenchmarkDotNet suite, for
/// BenchmarkDotNet's statistics (mean, error, deviation) on the fast CPU path at batch 32 and 256:
///   dotnet run --project Benchmarks -c Release -- --filter '*PrimitiveBenchmarks*' --inProcess                (all 88: about 35 min)
///   dotnet run --project Benchmarks -c Release -- --filter '*PrimitiveBenchmarks*' --inProcess --job short    (quicker, rougher)
/// `primitives` prints the same cases faster, next to PyTorch and the machine's limits.
/// </summary>
public class PrimitiveBenchmarks
{
    [Params(32, 256)] public int Batch;

    [ParamsSource(nameof(Primitives))] public string Primitive = "";

    public static IEnumerable<string> Primitives => PrimitiveThroughput.Cases(1, Device.Cpu).Select(c => c.Name);

    private Action _run = () => { };

    /// <summary>Every case's tensors for one batch size, made once (in process) for all of its benchmarks.</summary>
    private static readonly Dictionary<int, List<PrimitiveThroughput.Case>> CasesByBatch = [];

    [GlobalSetup]
    public void Setup()
    {
        CpuFastBackend.Threads = 2;
        if (!CasesByBatch.TryGetValue(Batch, out var cases)) CasesByBatch[Batch] = cases = PrimitiveThroughput.Cases(Batch, Device.Cpu);
        _run = cases.Single(c => c.Name == Primitive).Run;
    }

    [Benchmark]
    public void Run() => _run();
}
