using System.CommandLine;
using System.Text;
using FerEngine.Backends.Cuda;

namespace FerEngine.Benchmarks.EndToEnd;

/// <summary>
/// The GPU end-to-end throughput run (needs a GPU): one training step of the paper network
/// (1x48x48, Adam lr 3e-4, joint loss, all heads labelled) at several batch sizes, for FerEngine on
/// the real device (TF32 allowed, eager and replayed from a CUDA graph, and strict float32) and for the host's PyTorch on the same GPU
/// (Benchmarks/Peers/train_step_peer.py: eager with its TF32 default, strict float32, and the whole
/// step captured in one CUDA graph), all in one invocation; then the memory-bound kernels'
/// bandwidth as a percentage of the device-to-device copy bandwidth measured in the same run.
///
///   dotnet FerEngine.Benchmarks.dll gpu-train-step [--batches 32,256,1024] [--seconds 10] [--python python3] [--out FILE.md]
/// </summary>
public static class GpuTrainStepBenchmark
{
    public static Command Command()
    {
        var batches = BenchmarkOptions.Counts("--batches", "32,256,1024", "Batch sizes, comma-separated.", least: 2);
        var seconds = BenchmarkOptions.Seconds(10);
        var python = BenchmarkOptions.Python("python3");
        var outFile = BenchmarkOptions.Out();
        var command = new Command("gpu-train-step", "Needs a GPU: training-step img/s of FerEngine (TF32 eager and CUDA graph, strict) and PyTorch " +
                                                    "(eager, strict, CUDA graph) on the same GPU, and our memory-bound kernels' GB/s vs the device copy (about 3 minutes).")
            { batches, seconds, python, outFile };
        command.SetAction(parse => Run(BenchmarkOptions.Values<int>(parse.GetValue(batches)!), parse.GetValue(seconds), parse.GetValue(python)!, parse.GetValue(outFile)));
        return command;
    }

    private static int Run(int[] batches, double seconds, string python, string? outFile)
    {
        if (!FerEngine.Native.CudaProbe.DriverSeesGpu())
        {
            Console.Error.WriteLine("benchmark: gpu-train-step needs a GPU, and the CUDA driver sees none here (`fer info` says why). The CPU runs are train-step, inference, scaling, primitives, gemm and breakdown.");
            return 1;
        }
        // Made when first used, inside a measurement: a GPU our bindings cannot open costs our columns, not PyTorch's.
        var tf32 = new Lazy<CudaGpu>(() => new CudaGpu(0, tf32: true));
        var strict = new Lazy<CudaGpu>(() => new CudaGpu(0, tf32: false));
        var rows = new StringBuilder();
        string Report() =>
            $"GPU: {(tf32.IsValueCreated ? tf32.Value.Context.DeviceName : "(our CUDA path did not open it: see the log)")}; .NET {Environment.Version}\n\n" +
            "| batch | FerEngine TF32 eager | FerEngine TF32 graph | FerEngine strict fp32 | PyTorch eager (TF32 default) | PyTorch strict fp32 | PyTorch CUDA graph | our eager / eager | our graph / eager | our graph / graph |\n" +
            "|---|---|---|---|---|---|---|---|---|---|\n" + rows +
            "\nimg/s; \"graph\": the whole step (forward, backward, Adam) captured once as a CUDA graph and replayed; \"failed\": see the log. " +
            "TF32: FerEngine lets cuDNN and cuBLAS use it; PyTorch's default lets cuDNN (not its matrix products, under 1 % of the step's FLOPs). " +
            "Strict fp32: no TF32 anywhere; FerEngine then prefers cuDNN's deterministic algorithms, PyTorch does not. " +
            "The PyTorch peers' versions and settings are in the log.\n\n";
        void Save(string text) => BenchmarkOptions.WriteReport(outFile, text);   // after every row: a run cut short keeps what it measured
        foreach (int batch in batches)
        {
            double Ours(string what, Lazy<CudaGpu> gpu, bool graph) => Measured.OrNaN($"FerEngine {what}, batch {batch}",
                () => TrainStepTiming.FerEngine(new CudaDevice(gpu.Value), 1.0, batch, seconds, warmup: 3, minimumSteps: 5, graph: graph));
            double ours = Ours("TF32 eager", tf32, false), oursGraph = Ours("TF32 graph", tf32, true), oursStrict = Ours("strict fp32", strict, false);
            double eager = Peer(python, batch, seconds, "eager"), strictPeer = Peer(python, batch, seconds, "strict"), graph = Peer(python, batch, seconds, "graph");
            string row = $"| {batch} | {Cell(ours)} | {Cell(oursGraph)} | {Cell(oursStrict)} | {Cell(eager)} | {Cell(strictPeer)} | {Cell(graph)} | " +
                         $"{Ratio(ours, eager)} | {Ratio(oursGraph, eager)} | {Ratio(oursGraph, graph)} |";
            Console.WriteLine(row);
            rows.AppendLine(row);
            Save(Report());
        }
        string bandwidth;
        try { bandwidth = Kernels.KernelBandwidth.Table(tf32.Value); }
        catch (Exception e) { Console.Error.WriteLine($"the bandwidth table failed: {e}"); bandwidth = $"The bandwidth table failed: {e.Message}\n"; }
        string report = Report() + bandwidth;
        Console.WriteLine();
        Console.WriteLine(report);
        Save(report);
        return 0;
    }

    private static string Cell(double imagesPerSecond) => double.IsNaN(imagesPerSecond) ? "failed" : $"{imagesPerSecond:F0}";

    private static string Ratio(double ours, double theirs) => double.IsNaN(ours) || double.IsNaN(theirs) ? "-" : $"{ours / theirs:F2}x";

    private static double Peer(string python, int batch, double seconds, string mode) =>
        Measured.OrNaN($"PyTorch {mode}, batch {batch}",
            () => TrainStepTiming.PyTorch(python, $"--device cuda --mode {mode} --width 1 --batch {batch} --seconds {seconds}", seconds, Console.Out));
}
