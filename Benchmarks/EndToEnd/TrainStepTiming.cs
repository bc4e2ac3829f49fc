using System.Diagnostics;
using System.Text.Json;
using FerEngine.Model.Network;
using FerEngine.Model.Training;
using FerEngine.Optim;

namespace FerEngine.Benchmarks.EndToEnd;

/// <summary>What every end-to-end benchmark times: our training step on a device, and PyTorch's peer script.</summary>
internal static class TrainStepTiming
{
    /// <summary>
    /// img/s of the paper network's step (1x48x48, Adam lr 3e-4, joint loss, all heads labelled) on
    /// <paramref name="device"/>: <paramref name="warmup"/> steps, then steps for at least
    /// <paramref name="seconds"/> and at least <paramref name="minimumSteps"/>; the last loss is read
    /// back inside the timing (on a GPU that waits for the queued steps). With <paramref name="graph"/>
    /// the step is captured as a CUDA graph on its third call and replayed after: give a warm-up of 3 or
    /// more, or the capture falls inside the timing.
    /// </summary>
    public static double FerEngine(Device device, double width, int batch, double seconds, int warmup = 2, int minimumSteps = 3, bool graph = false)
    {
        var (step, x, labels) = Prepare(device, width, batch, graph);
        using var _ = step;
        for (int w = 0; w < warmup; w++) step.Run(x, labels, (ulong)w).Total.Item();
        var clock = Stopwatch.StartNew();
        int steps = 0;
        JointLossResult? last = null;
        while (clock.Elapsed.TotalSeconds < seconds || steps < minimumSteps)
            last = step.Run(x, labels, (ulong)(warmup + steps++));
        last!.Total.Item();
        if (graph && step.Replays < steps)
            throw new InvalidOperationException($"the CUDA graph was not replayed every timed step ({step.Replays} of {steps}): {step.GraphUnavailable}");
        return steps * batch / clock.Elapsed.TotalSeconds;
    }

    /// <summary>The step being timed (the paper network at <paramref name="width"/>, Adam lr 3e-4, joint loss) and a batch with every head labelled.</summary>
    public static (TrainStep Step, Tensor X, Tensor[] Labels) Prepare(Device device, double width, int batch, bool graph = false)
    {
        var model = new FerNet(new FerNetConfig(width), device, seed: 0);
        var step = new TrainStep(model, new Adam(model.NamedParameters(), learningRate: 3e-4), new TaskWeights(), captureGraph: graph);
        var x = Tensor.Uniform(new Shape(batch, 1, 48, 48), 0, 1, 1, 1, DType.Float32, device);
        var labels = FerNet.ClassCounts
            .Select((classes, task) => Tensor.FromArray(Enumerable.Range(0, batch).Select(i => (long)((i * 7 + task) % classes)).ToArray(), new Shape(batch), device))
            .ToArray();
        return (step, x, labels);
    }

    /// <summary>
    /// img/s reported by a peer script in Benchmarks/Peers (train_step_peer.py unless <paramref name="peer"/> names
    /// another) run with <paramref name="arguments"/> (which time for <paramref name="seconds"/>); its whole JSON
    /// line (the versions and settings that ran) goes to <paramref name="log"/> when given.
    /// </summary>
    public static double PyTorch(string python, string arguments, double seconds, TextWriter? log = null, string peer = "train_step_peer.py")
    {
        string script = Path.Combine(CpuTrainStepBenchmark.PeersFolder(), peer);
        // Start-up (import, CUDA, cuDNN) and warm-up take well under a minute; four times the timing allows for a slow machine.
        var limit = TimeSpan.FromSeconds(60 + 4 * seconds);
        string line = RunPeer(python, $"\"{script}\" {arguments}", $"the PyTorch peer {peer} ({arguments})", limit);
        log?.WriteLine($"PyTorch peer ({arguments}): {line}");
        using var json = JsonDocument.Parse(line);
        return json.RootElement.GetProperty("images_per_second").GetDouble();
    }

    /// <summary>
    /// glibc's malloc settings for the PyTorch peers (unless the environment sets them already): every
    /// allocation from the heap, and freed memory kept for the next. With glibc's defaults, each of
    /// PyTorch's large CPU outputs is a fresh mmap whose pages fault in on first touch, slow on this VM:
    /// its ELU forward at [256, 64, 48, 48] took 300 ms instead of 13, and its batch-32 training step
    /// ran at 40-47 img/s instead of 60-70. FerEngine writes into memory it allocated before, so this
    /// is the fair comparison (PyTorch's own tuning guide recommends a caching allocator on CPU).
    /// </summary>
    internal static readonly (string Name, string Value)[] PeerAllocatorSettings =
        [("MALLOC_MMAP_THRESHOLD_", "4294967296"), ("MALLOC_TRIM_THRESHOLD_", "4294967296")];

    /// <summary>
    /// Runs a peer script and returns the last line it printed. Both output streams are read as they come (a
    /// peer that writes much to stderr cannot block on a full pipe), and a peer still running after
    /// <paramref name="limit"/> is killed: a hung Python costs one measurement, not the rest of the run.
    /// A Python that is not there, a failure or a timeout is an InvalidOperationException that says which.
    /// </summary>
    internal static string RunPeer(string python, string arguments, string what, TimeSpan limit)
    {
        var info = new ProcessStartInfo(python, arguments) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var (name, value) in PeerAllocatorSettings) info.Environment.TryAdd(name, value);
        Process process;
        try { process = Process.Start(info) ?? throw new InvalidOperationException($"could not start {python}"); }
        catch (System.ComponentModel.Win32Exception e) { throw new InvalidOperationException($"cannot run {python} ({e.Message}); pass --python with a Python that has PyTorch."); }
        using (process)
        {
            var output = process.StandardOutput.ReadToEndAsync();
            var errors = process.StandardError.ReadToEndAsync();
            if (!process.WaitForExit(limit))
            {
                process.Kill(entireProcessTree: true);
                throw new InvalidOperationException($"{what} did not finish within {limit.TotalSeconds:F0} s and was stopped.");
            }
            if (process.ExitCode != 0)
                throw new InvalidOperationException($"{what} exited with code {process.ExitCode} (is PyTorch installed for {python}?):\n{errors.Result}");
            string last = output.Result.Trim().Split('\n')[^1];
            if (!last.StartsWith('{'))
                throw new InvalidOperationException($"{what} printed no JSON result (its last line: `{last}`); is {python} the Python with PyTorch?");
            return last;
        }
    }
}
