using System.Text;

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
            Backends.Cpu.CpuFastBackend.Threads = threads;
            double ours = TrainStepTiming.FerEngine(Device.Cpu, width, batch, seconds);
            double theirs = TrainStepTiming.PyTorch(python, $"--width {width} --batch {batch} --threads {threads} --seconds {seconds}");
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
