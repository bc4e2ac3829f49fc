using System.Diagnostics;
using FerEngine.Backends.Cpu.Fast;

namespace FerEngine.Benchmarks.Kernels;

/// <summary>
/// Quick single-thread SGEMM throughput at a square size and at the paper network's conv shapes:
///   dotnet run --project Benchmarks -c Release -- gemm
/// GFLOP/s = 2 M N K / seconds (a fused multiply-add counts as 2).
/// </summary>
public static class GemmThroughput
{
    public static int Run()
    {
        (string Name, int M, int N, int K)[] shapes =
        [
            ("square 1024", 1024, 1024, 1024),
            ("conv2 forward per image (64 x 2304 x 1600)", 64, 2304, 1600),
            ("conv4 forward per image (128 x 576 x 1152)", 128, 576, 1152),
            ("conv6 forward per image (256 x 144 x 2304)", 256, 144, 2304),
        ];
        Console.WriteLine("| shape | ms | GFLOP/s (1 thread) |");
        Console.WriteLine("|---|---|---|");
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
            Console.WriteLine($"| {name} | {seconds * 1e3:F2} | {2.0 * m * n * k / seconds / 1e9:F1} |");
        }
        return 0;
    }
}
