using System.Diagnostics;
using System.Text;
using System.Text.Json;
using FerEngine.Backends.Cuda;
using FerEngine.Model.Network;
using FerEngine.Model.Training;
using FerEngine.Optim;

namespace FerEngine.Benchmarks.EndToEnd;

/// <summary>
/// The GPU end-to-end throughput run (needs a GPU): one training step of the paper network
/// (1x48x48, Adam lr 3e-4, joint loss, all heads labelled) at several batch sizes, for FerEngine on
/// the real device (TF32 allowed, and strict float32) and for the host's PyTorch on the same GPU
/// (Benchmarks/Peers/train_step_peer.py: eager with its TF32 default, strict float32, and the whole
/// step captured in one CUDA graph), all in one invocation; then the memory-bound kernels'
/// bandwidth as a percentage of the device-to-device copy bandwidth measured in the same run.
///
///   dotnet FerEngine.Benchmarks.dll gpu-train-step [--batches 32,256,1024] [--seconds 10] [--python python3] [--out FILE.md]
/// </summary>
public static class GpuTrainStepBenchmark
{
    public static int Run(string[] args)
    {
        var batches = Arguments.Option(args, "--batches", "32,256,1024").Split(',').Select(int.Parse).ToArray();
        double seconds = double.Parse(Arguments.Option(args, "--seconds", "10"));
        string python = Arguments.Option(args, "--python", "python3");
        string? outFile = args.Contains("--out") ? Arguments.Option(args, "--out", "") : null;

        var tf32 = new CudaGpu(0, tf32: true);
        var strict = new CudaGpu(0, tf32: false);
        var report = new StringBuilder($"GPU: {tf32.Context.DeviceName}; .NET {Environment.Version}\n\n");
        report.AppendLine("| batch | FerEngine TF32 | FerEngine strict fp32 | PyTorch eager (TF32 default) | PyTorch strict fp32 | PyTorch CUDA graph | ours / eager | ours / graph |");
        report.AppendLine("|---|---|---|---|---|---|---|---|");
        foreach (int batch in batches)
        {
            double ours = Measure(new CudaDevice(tf32), batch, seconds);
            double oursStrict = Measure(new CudaDevice(strict), batch, seconds);
            double eager = Peer(python, batch, seconds, "eager"), strictPeer = Peer(python, batch, seconds, "strict"), graph = Peer(python, batch, seconds, "graph");
            string row = $"| {batch} | {ours:F0} | {oursStrict:F0} | {eager:F0} | {strictPeer:F0} | {graph:F0} | {ours / eager:F2}x | {ours / graph:F2}x |";
            Console.WriteLine(row);
            report.AppendLine(row);
        }
        report.AppendLine("\nimg/s; FerEngine runs the step eagerly (no graph capture yet).\n");
        report.Append(Kernels.KernelBandwidth.Table(tf32));
        Console.WriteLine();
        Console.WriteLine(report);
        if (outFile is not null) File.WriteAllText(outFile, report.ToString());
        return 0;
    }

    private static double Measure(CudaDevice device, int batch, double seconds)
    {
        var model = new FerNet(new FerNetConfig(), device, seed: 0);
        using var step = new TrainStep(model, new Adam(model.NamedParameters(), learningRate: 3e-4), new TaskWeights());
        var x = Tensor.Uniform(new Shape(batch, 1, 48, 48), 0, 1, 1, 1, DType.Float32, device);
        var labels = FerNet.ClassCounts
            .Select((classes, task) => Tensor.FromArray(Enumerable.Range(0, batch).Select(i => (long)((i * 7 + task) % classes)).ToArray(), new Shape(batch), device))
            .ToArray();
        for (ulong warmup = 0; warmup < 3; warmup++) step.Run(x, labels, warmup).Total.Item();
        var clock = Stopwatch.StartNew();
        int steps = 0;
        while (clock.Elapsed.TotalSeconds < seconds || steps < 5) step.Run(x, labels, (ulong)(3 + steps++));
        step.Run(x, labels, (ulong)(3 + steps++)).Total.Item();   // wait for the queue
        return steps * batch / clock.Elapsed.TotalSeconds;
    }

    private static double Peer(string python, int batch, double seconds, string mode)
    {
        string script = Path.Combine(CpuTrainStepBenchmark.PeersFolder(), "train_step_peer.py");
        var info = new ProcessStartInfo(python, $"\"{script}\" --device cuda --mode {mode} --width 1 --batch {batch} --seconds {seconds}")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var process = Process.Start(info) ?? throw new InvalidOperationException($"could not start {python}");
        string output = process.StandardOutput.ReadToEnd();
        string errors = process.StandardError.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0) throw new InvalidOperationException($"the PyTorch peer ({mode}, batch {batch}) failed:\n{errors}");
        using var json = JsonDocument.Parse(output.Trim().Split('\n')[^1]);
        return json.RootElement.GetProperty("images_per_second").GetDouble();
    }
}
