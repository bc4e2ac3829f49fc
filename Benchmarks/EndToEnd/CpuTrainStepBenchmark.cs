using System.Diagnostics;
using System.Text;
using System.Text.Json;
using FerEngine.Model.Network;
using FerEngine.Model.Training;
using FerEngine.Optim;

namespace FerEngine.Benchmarks.EndToEnd;

/// <summary>
/// The CPU end-to-end throughput run: one full training step of the paper network (1x48x48,
/// Adam lr 3e-4, joint loss, all four heads labelled, dropout on) for FerEngine and for PyTorch
/// (Benchmarks/Peers/train_step_peer.py through Debian's python3-torch), in the same invocation,
/// side by side for each width. Prints a Markdown table of img/s and the ratio.
///
///   dotnet run --project Benchmarks -c Release -- train-step [--widths 1,0.25] [--batch 32]
///       [--threads 2] [--seconds 20] [--python /usr/bin/python3] [--out FILE.md]
/// </summary>
public static class CpuTrainStepBenchmark
{
    public static int Run(string[] args)
    {
        var widths = Arguments.Option(args, "--widths", "1,0.25").Split(',').Select(double.Parse).ToArray();
        int batch = int.Parse(Arguments.Option(args, "--batch", "32"));
        int threads = int.Parse(Arguments.Option(args, "--threads", "2"));
        double seconds = double.Parse(Arguments.Option(args, "--seconds", "20"));
        string python = Arguments.Option(args, "--python", "/usr/bin/python3");
        string? outFile = args.Contains("--out") ? Arguments.Option(args, "--out", "") : null;

        var table = new StringBuilder();
        table.AppendLine($"| width | batch | threads | FerEngine img/s | PyTorch img/s | ratio |");
        table.AppendLine("|---|---|---|---|---|---|");
        foreach (double width in widths)
        {
            double ours = MeasureFerEngine(width, batch, threads, seconds);
            double theirs = MeasurePyTorch(python, width, batch, threads, seconds);
            string row = $"| {width} | {batch} | {threads} | {ours:F1} | {theirs:F1} | {ours / theirs:F2}x |";
            Console.WriteLine(row);
            table.AppendLine(row);
        }
        string report = $"CPU: {CpuModel()}, {Environment.ProcessorCount} logical cores, .NET {Environment.Version}\n\n{table}";
        Console.WriteLine();
        Console.WriteLine(report);
        if (outFile is not null) File.WriteAllText(outFile, report);
        return 0;
    }

    private static double MeasureFerEngine(double width, int batch, int threads, double seconds)
    {
        Backends.Cpu.CpuFastBackend.Threads = threads;
        var model = new FerNet(new FerNetConfig(width), Device.Cpu, seed: 0);
        var step = new TrainStep(model, new Adam(model.NamedParameters(), learningRate: 3e-4), new TaskWeights());
        var x = Tensor.Uniform(new Shape(batch, 1, 48, 48), 0, 1, 1, 1, DType.Float32, Device.Cpu);
        var labels = FerNet.ClassCounts
            .Select((classes, task) => Tensor.FromArray(Enumerable.Range(0, batch).Select(i => (long)((i * 7 + task) % classes)).ToArray(), new Shape(batch), Device.Cpu))
            .ToArray();
        for (ulong warmup = 0; warmup < 2; warmup++) step.Run(x, labels, warmup).Total.Item();
        var clock = Stopwatch.StartNew();
        int steps = 0;
        while (clock.Elapsed.TotalSeconds < seconds || steps < 3)
            step.Run(x, labels, (ulong)(2 + steps++)).Total.Item();
        return steps * batch / clock.Elapsed.TotalSeconds;
    }

    private static double MeasurePyTorch(string python, double width, int batch, int threads, double seconds)
    {
        string script = Path.Combine(PeersFolder(), "train_step_peer.py");
        var info = new ProcessStartInfo(python, $"\"{script}\" --width {width} --batch {batch} --threads {threads} --seconds {seconds}")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var process = Process.Start(info) ?? throw new InvalidOperationException($"could not start {python}");
        string output = process.StandardOutput.ReadToEnd();
        string errors = process.StandardError.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0)
            throw new InvalidOperationException($"the PyTorch peer failed (is python3-torch installed for {python}?):\n{errors}");
        using var json = JsonDocument.Parse(output.Trim().Split('\n')[^1]);
        return json.RootElement.GetProperty("images_per_second").GetDouble();
    }

    /// <summary>Benchmarks/Peers: under the working directory (a bundle run from the repository root), else above the executable.</summary>
    internal static string PeersFolder()
    {
        string fromWorkingDirectory = Path.Combine(Directory.GetCurrentDirectory(), "Benchmarks", "Peers");
        if (Directory.Exists(fromWorkingDirectory)) return fromWorkingDirectory;
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            string candidate = Path.Combine(dir.FullName, "Benchmarks", "Peers");
            if (Directory.Exists(candidate)) return candidate;
        }
        throw new DirectoryNotFoundException("Benchmarks/Peers not found above " + AppContext.BaseDirectory);
    }

    internal static string CpuModel() =>
        File.Exists("/proc/cpuinfo")
            ? File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name"))?.Split(':', 2)[1].Trim() ?? "unknown"
            : "unknown";
}
