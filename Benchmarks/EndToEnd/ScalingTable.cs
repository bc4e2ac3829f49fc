using System.CommandLine;
using System.Text;

namespace FerEngine.Benchmarks.EndToEnd;

/// <summary>
/// How the CPU training step scales: img/s of the paper network's step (1x48x48, Adam, joint loss)
/// for every batch size x width x thread count, printed as one Markdown table per thread count.
/// Each cell: one warm-up step, then steps for at least --seconds (and at least two steps). The
/// smallest batch is 2: training-mode batch norm of the fc layer needs two samples (the trainer
/// refuses batch 1 too).
///
///   dotnet run --project Benchmarks -c Release -- scaling [--batches 2,8,32,128,256,1024]
///       [--widths 0.25,0.5,1] [--threads 1,2] [--seconds 3] [--out FILE.md]
/// </summary>
public static class ScalingTable
{
    public static Command Command()
    {
        var batches = BenchmarkOptions.Counts("--batches", "2,8,32,128,256,1024", "Batch sizes, comma-separated.", least: 2);
        var widths = BenchmarkOptions.Widths("0.25,0.5,1");
        var threads = BenchmarkOptions.Counts("--threads", "1,2", "CPU thread counts, comma-separated.", least: 1, most: 1024);
        var seconds = BenchmarkOptions.Seconds(3);
        var outFile = BenchmarkOptions.Out();
        var command = new Command("scaling", "CPU training-step img/s for every batch size x width x thread count (about 10 minutes at the defaults).")
            { batches, widths, threads, seconds, outFile };
        command.SetAction(parse => Run(BenchmarkOptions.Values<int>(parse.GetValue(batches)!), BenchmarkOptions.Values<double>(parse.GetValue(widths)!),
            BenchmarkOptions.Values<int>(parse.GetValue(threads)!), parse.GetValue(seconds), parse.GetValue(outFile)));
        return command;
    }

    private static int Run(int[] batches, double[] widths, int[] threads, double seconds, string? outFile)
    {
        var report = new StringBuilder($"CPU: {CpuTrainStepBenchmark.CpuModel()}, {Environment.ProcessorCount} logical cores, .NET {Environment.Version}; img/s of one training step\n");
        foreach (int t in threads)
        {
            report.AppendLine($"\n{t} thread{(t == 1 ? "" : "s")}:\n");
            report.AppendLine("| batch | " + string.Join(" | ", widths.Select(w => $"width {w}")) + " |");
            report.AppendLine("|---|" + string.Concat(widths.Select(_ => "---:|")));
            foreach (int batch in batches)
            {
                Backends.Cpu.CpuFastBackend.Threads = t;
                var cells = widths.Select(w => TrainStepTiming.FerEngine(Device.Cpu, w, batch, seconds, warmup: 1, minimumSteps: 2)).ToArray();
                string row = $"| {batch} | " + string.Join(" | ", cells.Select(c => c.ToString("F1"))) + " |";
                Console.WriteLine($"threads {t}: {row}");
                report.AppendLine(row);
            }
        }
        Console.WriteLine();
        Console.WriteLine(report);
        BenchmarkOptions.WriteReport(outFile, report.ToString());
        return 0;
    }
}
