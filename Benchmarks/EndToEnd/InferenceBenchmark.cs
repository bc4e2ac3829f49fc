using System.CommandLine;
using System.Diagnostics;
using System.Text;
using System.Text.Json;
using FerEngine.Model.Evaluation;
using FerEngine.Model.Network;
using Microsoft.ML.OnnxRuntime;
using DenseTensor = Microsoft.ML.OnnxRuntime.Tensors.DenseTensor<float>;

namespace FerEngine.Benchmarks.EndToEnd;

/// <summary>
/// CPU inference throughput of the paper network in evaluation mode (running batch-norm statistics,
/// no dropout, no gradients, each head's softmax): FerEngine's fast CPU path; the same weights exported
/// by <see cref="OnnxExport"/> and run by ONNX Runtime (all graph optimisations, its own thread pool of
/// --threads); and PyTorch (Benchmarks/Peers/inference_peer.py), side by side for each width and batch.
/// This is what serving a trained model costs, and ONNX Runtime is what `fer export` hands it to.
///
///   dotnet run --project Benchmarks -c Release -- inference [--widths 1,0.25] [--batches 1,32,256]
///       [--threads 2] [--seconds 3] [--python /usr/bin/python3] [--out FILE.md]
/// </summary>
public static class InferenceBenchmark
{
    public static Command Command()
    {
        var widths = BenchmarkOptions.Widths("1,0.25");
        var batches = BenchmarkOptions.Counts("--batches", "1,32,256", "Batch sizes, comma-separated.", least: 1, most: 4096);
        var threads = BenchmarkOptions.Threads();
        var seconds = BenchmarkOptions.Seconds(3);
        var python = BenchmarkOptions.Python("/usr/bin/python3");
        var outFile = BenchmarkOptions.Out();
        var command = new Command("inference", "Inference img/s of FerEngine, ONNX Runtime (on `fer export`'s model) and PyTorch on the CPU (about 1.5 minutes).")
            { widths, batches, threads, seconds, python, outFile };
        command.SetAction(parse => Run(BenchmarkOptions.Values<double>(parse.GetValue(widths)!), BenchmarkOptions.Values<int>(parse.GetValue(batches)!),
            parse.GetValue(threads), parse.GetValue(seconds), parse.GetValue(python)!, parse.GetValue(outFile)));
        return command;
    }

    private static int Run(double[] widths, int[] batches, int threads, double seconds, string python, string? outFile)
    {
        Backends.Cpu.CpuFastBackend.Threads = threads;
        var table = new StringBuilder();
        table.AppendLine("| width | batch | FerEngine img/s | ONNX Runtime img/s | PyTorch img/s | vs ONNX Runtime | vs PyTorch |");
        table.AppendLine("|---|---|---|---|---|---|---|");
        foreach (double width in widths)
        {
            var model = new FerNet(new FerNetConfig(width), Device.Cpu, seed: 0);
            model.Eval();
            using var session = OnnxSession(model, threads);
            foreach (int batch in batches)
            {
                var pixels = Enumerable.Range(0, batch * 48 * 48).Select(i => (float)(i * 7919 % 256) / 255f).ToArray();
                double ours = FerEngine(model, pixels, batch, seconds);
                double onnx = session is null ? double.NaN : OnnxRuntime(session, pixels, batch, seconds);
                double torch = double.NaN;
                try { torch = TrainStepTiming.PyTorch(python, $"--width {width} --batch {batch} --threads {threads} --seconds {seconds}", seconds, peer: "inference_peer.py"); }
                catch (Exception e) when (e is InvalidOperationException or JsonException) { Console.Error.WriteLine($"no PyTorch column: {e.Message}"); }
                string row = $"| {width} | {batch} | {ours:F1} | {Cell(onnx)} | {Cell(torch)} | {Ratio(ours, onnx)} | {Ratio(ours, torch)} |";
                Console.WriteLine(row);
                table.AppendLine(row);
            }
        }
        string report = $"CPU: {CpuTrainStepBenchmark.CpuModel()}, {threads} threads, .NET {Environment.Version}, ONNX Runtime {OrtVersion()}\n\n{table}";
        Console.WriteLine();
        Console.WriteLine(report);
        BenchmarkOptions.WriteReport(outFile, report);
        return 0;
    }

    private static string Cell(double imagesPerSecond) => double.IsNaN(imagesPerSecond) ? "-" : $"{imagesPerSecond:F1}";
    private static string Ratio(double ours, double theirs) => double.IsNaN(theirs) ? "-" : $"{ours / theirs:F2}x";

    /// <summary>img/s of the evaluation forward pass, its logits read back and turned into probabilities on the host, as `fer predict` runs it.</summary>
    private static double FerEngine(FerNet model, float[] pixels, int batch, double seconds)
    {
        var device = Device.Cpu;
        using var arena = device.CreateArena("inference");
        void Forward()
        {
            using var step = device.BeginStep(arena);
            using var noGrad = Autograd.Autograd.NoGrad();
            var logits = model.ForwardTasks(Tensor.FromArray(pixels, new Shape(batch, 1, 48, 48), device));
            foreach (var task in Enum.GetValues<FaceTask>())
                foreach (var row in logits[task].ToDoubles().Chunk(FerNet.ClassCounts[(int)task])) ClassProbabilities.Of(row);
        }
        return Time(Forward, batch, seconds);
    }

    /// <summary>The model through `fer export`'s ONNX form in an ONNX Runtime session; null (a "-" column) when its native library does not load.</summary>
    private static InferenceSession? OnnxSession(FerNet model, int threads)
    {
        try
        {
            using var options = new SessionOptions
            {
                IntraOpNumThreads = threads, InterOpNumThreads = 1,
                ExecutionMode = ExecutionMode.ORT_SEQUENTIAL, GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
            };
            return new InferenceSession(OnnxExport.ToBytes(model, new Dictionary<string, string>()), options);
        }
        catch (Exception e) when (e is DllNotFoundException or TypeInitializationException)
        {
            Console.Error.WriteLine($"no ONNX Runtime column: its native library does not load ({e.GetType().Name}).");
            return null;
        }
    }

    private static double OnnxRuntime(InferenceSession session, float[] pixels, int batch, double seconds)
    {
        var input = new[] { NamedOnnxValue.CreateFromTensor("image", new DenseTensor(pixels, [batch, 1, 48, 48])) };
        return Time(() => { using var results = session.Run(input); }, batch, seconds);
    }

    private static string OrtVersion()
    {
        try { return OrtEnv.Instance().GetVersionString(); }
        catch (Exception e) when (e is DllNotFoundException or TypeInitializationException) { return "(not loaded)"; }
    }

    /// <summary>img/s of <paramref name="forward"/> on batches of <paramref name="batch"/>: 3 warm-up calls, then at least 3 calls and <paramref name="seconds"/>.</summary>
    private static double Time(Action forward, int batch, double seconds)
    {
        for (int i = 0; i < 3; i++) forward();
        var clock = Stopwatch.StartNew();
        int calls = 0;
        while (clock.Elapsed.TotalSeconds < seconds || calls < 3)
        {
            forward();
            calls++;
        }
        return calls * batch / clock.Elapsed.TotalSeconds;
    }
}
