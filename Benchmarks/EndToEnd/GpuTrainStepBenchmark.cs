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
        var tf32 = new CudaGpu(0, tf32: true);
        var strict = new CudaGpu(0, tf32: false);
        var report = new StringBuilder($"GPU: {tf32.Context.DeviceName}; .NET {Environment.Version}\n\n");
        report.AppendLine("| batch | FerEngine TF32 eager | FerEngine TF32 graph | FerEngine strict fp32 | PyTorch eager (TF32 default) | PyTorch strict fp32 | PyTorch CUDA graph | our eager / eager | our graph / eager | our graph / graph |");
        report.AppendLine("|---|---|---|---|---|---|---|---|---|---|");
        foreach (int batch in batches)
        {
            double ours = Measured.OrNaN($"FerEngine TF32 eager, batch {batch}", () => TrainStepTiming.FerEngine(new CudaDevice(tf32), 1.0, batch, seconds, warmup: 3, minimumSteps: 5));
            double oursGraph = Measured.OrNaN($"FerEngine TF32 graph, batch {batch}", () => TrainStepTiming.FerEngine(new CudaDevice(tf32), 1.0, batch, seconds, warmup: 3, minimumSteps: 5, graph: true));
            double oursStrict = Measured.OrNaN($"FerEngine strict fp32, batch {batch}", () => TrainStepTiming.FerEngine(new CudaDevice(strict), 1.0, batch, seconds, warmup: 3, minimumSteps: 5));
            double eager = Peer(python, batch, seconds, "eager"), strictPeer = Peer(python, batch, seconds, "strict"), graph = Peer(python, batch, seconds, "graph");
            string row = $"| {batch} | {Cell(ours)} | {Cell(oursGraph)} | {Cell(oursStrict)} | {Cell(eager)} | {Cell(strictPeer)} | {Cell(graph)} | " +
                         $"{Ratio(ours, eager)} | {Ratio(oursGraph, eager)} | {Ratio(oursGraph, graph)} |";
            Console.WriteLine(row);
            report.AppendLine(row);
        }
        report.AppendLine("\nimg/s; \"graph\": the whole step (forward, backward, Adam) captured once as a CUDA graph and replayed; \"failed\": see the log.\n");
        try { report.Append(Kernels.KernelBandwidth.Table(tf32)); }
        catch (Exception e) { Console.Error.WriteLine($"the bandwidth table failed: {e}"); report.AppendLine($"The bandwidth table failed: {e.Message}"); }
        Console.WriteLine();
        Console.WriteLine(report);
        if (outFile is not null) File.WriteAllText(outFile, report.ToString());
        return 0;
    }

    private static string Cell(double imagesPerSecond) => double.IsNaN(imagesPerSecond) ? "failed" : $"{imagesPerSecond:F0}";

    private static string Ratio(double ours, double theirs) => double.IsNaN(ours) || double.IsNaN(theirs) ? "-" : $"{ours / theirs:F2}x";

    private static double Peer(string python, int batch, double seconds, string mode) =>
        Measured.OrNaN($"PyTorch {mode}, batch {batch}", () => TrainStepTiming.PyTorch(python, $"--device cuda --mode {mode} --width 1 --batch {batch} --seconds {seconds}"));
}
