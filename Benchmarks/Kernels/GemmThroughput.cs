using System.CommandLine;
using System.Diagnostics;
using System.Runtime.Intrinsics;
using FerEngine.Backends.Cpu.Fast;

namespace FerEngine.Benchmarks.Kernels;

/// <summary>
/// Quick single-thread SGEMM throughput at a square size and at the paper network's conv shapes:
///   dotnet run --project Benchmarks -c Release -- gemm
/// GFLOP/s = 2 M N K / seconds (a fused multiply-add counts as 2).
/// </summary>
public static class GemmThroughput
{
    public static Command Command()
    {
        var command = new Command("gemm", "Single-core SGEMM GFLOP/s at the paper's convolution shapes vs the measured FMA peak (about 5 s).");
        command.SetAction(_ => Run());
        return command;
    }

    private static int Run()
    {
        double peak = PeakGflops();
        Console.WriteLine($"measured single-core FMA peak: {peak:F1} GFLOP/s (Vector512 {Vector512.IsHardwareAccelerated})");
        Console.WriteLine();
        (string Name, int M, int N, int K)[] shapes =
        [
            ("square 1024", 1024, 1024, 1024),
            ("conv2 forward per image (64 x 2304 x 1600)", 64, 2304, 1600),
            ("conv4 forward per image (128 x 576 x 1152)", 128, 576, 1152),
            ("conv6 forward per image (256 x 144 x 2304)", 256, 144, 2304),
        ];
        Console.WriteLine("| shape | ms | GFLOP/s (1 thread) | % of peak |");
        Console.WriteLine("|---|---|---|---|");
        foreach (var (name, m, n, k) in shapes)
        {
            var a = new float[m * k]; var b = new float[k * n]; var c = new float[m * n];
            for (int i = 0; i < a.Length; i++) a[i] = (i % 7) * 0.1f;
            for (int i = 0; i < b.Length; i++) b[i] = (i % 5) * 0.1f;
            Sgemm.Multiply(false, false, m, n, k, 1, a, k, b, n, 0, c, n); // warm-up (JIT, pools)
            int repeats = 0;
            var clock = Stopwatch.StartNew();
            while (clock.Elapsed.TotalSeconds < 1 || repeats < 3)
            {
                Sgemm.Multiply(false, false, m, n, k, 1, a, k, b, n, 0, c, n);
                repeats++;
            }
            double seconds = clock.Elapsed.TotalSeconds / repeats;
            double gflops = 2.0 * m * n * k / seconds / 1e9;
            Console.WriteLine($"| {name} | {seconds * 1e3:F2} | {gflops:F1} | {gflops / peak:P0} |");
        }
        return 0;
    }

    /// <summary>
    /// The core's fused multiply-add limit: 16 independent accumulator chains (enough to cover FMA
    /// latency on two pipes), 16 lanes each, 2 FLOP per lane per FMA.
    /// </summary>
    public static double PeakGflops()
    {
        var best = 0.0;
        for (int trial = 0; trial < 5; trial++)
        {
            const int iterations = 2_000_000;
            var clock = Stopwatch.StartNew();
            double checksum = FmaChains(iterations);
            if (double.IsNaN(checksum)) throw new InvalidOperationException("unreachable: keeps the loop from being optimised away");
            double seconds = clock.Elapsed.TotalSeconds;
            best = Math.Max(best, iterations * 16.0 * 16 * 2 / seconds / 1e9 );
        }
        return best;
    }

    private static double FmaChains(int iterations)
    {
        var m = Vector512.Create(0.999f);
        var a = Vector512.Create(0.001f);
        Vector512<float> c0 = default, c1 = default, c2 = default, c3 = default, c4 = default, c5 = default, c6 = default, c7 = default;
        Vector512<float> c8 = default, c9 = default, c10 = default, c11 = default, c12 = default, c13 = default, c14 = default, c15 = default;
        for (int i = 0; i < iterations; i++)
        {
            c0 = Vector512.FusedMultiplyAdd(c0, m, a); c1 = Vector512.FusedMultiplyAdd(c1, m, a);
            c2 = Vector512.FusedMultiplyAdd(c2, m, a); c3 = Vector512.FusedMultiplyAdd(c3, m, a);
            c4 = Vector512.FusedMultiplyAdd(c4, m, a); c5 = Vector512.FusedMultiplyAdd(c5, m, a);
            c6 = Vector512.FusedMultiplyAdd(c6, m, a); c7 = Vector512.FusedMultiplyAdd(c7, m, a);
            c8 = Vector512.FusedMultiplyAdd(c8, m, a); c9 = Vector512.FusedMultiplyAdd(c9, m, a);
            c10 = Vector512.FusedMultiplyAdd(c10, m, a); c11 = Vector512.FusedMultiplyAdd(c11, m, a);
            c12 = Vector512.FusedMultiplyAdd(c12, m, a); c13 = Vector512.FusedMultiplyAdd(c13, m, a);
            c14 = Vector512.FusedMultiplyAdd(c14, m, a); c15 = Vector512.FusedMultiplyAdd(c15, m, a);
        }
        var sum = c0 + c1 + c2 + c3 + c4 + c5 + c6 + c7 + c8 + c9 + c10 + c11 + c12 + c13 + c14 + c15;
        return Vector512.Sum(sum);
    }
}
