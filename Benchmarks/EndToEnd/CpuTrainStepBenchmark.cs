using System.CommandLine;
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
    public static Command Command()
    {
        var widths = BenchmarkOptions.Widths("1,0.25");
        var batch = BenchmarkOptions.Batch(32, least: 2);
        var threads = BenchmarkOptions.Threads();
        var seconds = BenchmarkOptions.Seconds(20);
        var python = BenchmarkOptions.Python("/usr/bin/python3");
        var outFile = BenchmarkOptions.Out();
        var command = new Command("train-step", "Training-step img/s of FerEngine and PyTorch side by side on the CPU (about 2 minutes).")
            { widths, batch, threads, seconds, python, outFile };
        command.SetAction(parse => Run(BenchmarkOptions.Values<double>(parse.GetValue(widths)!), parse.GetValue(batch), parse.GetValue(threads), parse.GetValue(seconds),
            parse.GetValue(python)!, parse.GetValue(outFile)));
        return command;
    }

    private static int Run(double[] widths, int batch, int threads, double seconds, string python, string? outFile)
    {
        var table = new StringBuilder();
        table.AppendLine($"| width | batch | threads | FerEngine img/s | PyTorch img/s | ratio |");
        table.AppendLine("|---|---|---|---|---|---|");
        foreach (double width in widths)
        {
            Backends.Cpu.CpuFastBackend.Threads = threads;
            double ours = TrainStepTiming.FerEngine(Device.Cpu, width, batch, seconds);
            double theirs = double.NaN;
            try { theirs = TrainStepTiming.PyTorch(python, $"--width {width} --batch {batch} --threads {threads} --seconds {seconds}", seconds); }
            catch (Exception e) when (e is InvalidOperationException or System.Text.Json.JsonException) { Console.Error.WriteLine($"no PyTorch column: {e.Message}"); }
            string row = double.IsNaN(theirs)
                ? $"| {width} | {batch} | {threads} | {ours:F1} | - | - |"
                : $"| {width} | {batch} | {threads} | {ours:F1} | {theirs:F1} | {ours / theirs:F2}x |";
            Console.WriteLine(row);
            table.AppendLine(row);
        }
        string report = $"CPU: {CpuModel()}, {Environment.ProcessorCount} logical cores, .NET {Environment.Version}\n\n{table}";
        Console.WriteLine();
        Console.WriteLine(report);
        BenchmarkOptions.WriteReport(outFile, report);
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
