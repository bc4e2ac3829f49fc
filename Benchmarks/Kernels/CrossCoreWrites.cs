using System.CommandLine;
using System.Diagnostics;
using System.Runtime.Intrinsics;

namespace FerEngine.Benchmarks.Kernels;

/// <summary>
/// How fast one thread overwrites a buffer that the other thread has just read, against one that it
/// has read itself:
///   dotnet run --project Benchmarks -c Release -- cross-core
/// Before the write, the other core may hold the buffer's cache lines; each must then be taken from it
/// before it can be written. On this project's 2-core VM that cost swings, most likely with where the host
/// places the two virtual cores: at times such writes ran at 6-8 GB/s against 50-100 for a buffer the
/// writer had read itself, at others at nearly the same speed. The fast CPU path's parallel loops hand
/// data from thread to thread, so a timing can depend on it; in most of the observations of 2026-12-03 the
/// convolutions were slow while this ratio was near 0.1, but not in all
/// (Benchmarks/results/2026-12-03-cpu-serial-stretches-and-cross-core.md).
/// </summary>
public static class CrossCoreWrites
{
    private const int Rounds = 30;

    public static Command Command()
    {
        var command = new Command("cross-core", "GB/s of overwriting a buffer the other thread has just read, against one the writer read itself (about 1 s).");
        command.SetAction(_ => Run());
        return command;
    }

    private static int Run()
    {
        Console.WriteLine("| buffer | written after its writer's own read | written after the other thread's read | other / own |");
        Console.WriteLine("|---|---:|---:|---:|");
        foreach (int megabytes in new[] { 1, 4, 16 })
        {
            var (own, other) = Measure(megabytes);
            double ownRate = megabytes / 1024.0 / own, otherRate = megabytes / 1024.0 / other;
            Console.WriteLine($"| {megabytes} MB | {ownRate:F1} GB/s | {otherRate:F1} GB/s | {otherRate / ownRate:F2} |");
        }
        return 0;
    }

    /// <summary>Median seconds of thread 0's write after thread 0's read, and after thread 1's read.</summary>
    private static (double Own, double Other) Measure(int megabytes)
    {
        var buffer = new float[megabytes * (1 << 20) / sizeof(float)];
        var own = new List<double>();
        var other = new List<double>();
        using var step = new Barrier(2);
        // Round r: thread r % 2 reads the whole buffer, then thread 0 overwrites it, timed.
        var writer = new Thread(() =>
        {
            for (int r = 0; r < 2 * Rounds; r++)
            {
                step.SignalAndWait();
                if (r % 2 == 0) Read(buffer);
                step.SignalAndWait();
                var clock = Stopwatch.StartNew();
                Write(buffer, r);
                (r % 2 == 0 ? own : other).Add(clock.Elapsed.TotalSeconds);
            }
        });
        var reader = new Thread(() =>
        {
            for (int r = 0; r < 2 * Rounds; r++)
            {
                step.SignalAndWait();
                if (r % 2 == 1) Read(buffer);
                step.SignalAndWait();
            }
        });
        writer.Start(); reader.Start();
        writer.Join(); reader.Join();
        return (Median(own), Median(other));
    }

    private static float Read(float[] buffer)
    {
        var sum = Vector512<float>.Zero;
        for (int i = 0; i + 16 <= buffer.Length; i += 16) sum += Vector512.LoadUnsafe(ref buffer[i]);
        return Vector512.Sum(sum);
    }

    private static void Write(float[] buffer, float value)
    {
        var v = Vector512.Create(value);
        for (int i = 0; i + 16 <= buffer.Length; i += 16) v.StoreUnsafe(ref buffer[i]);
    }

    private static double Median(List<double> values)
    {
        values.Sort();
        return values[values.Count / 2];
    }
}
