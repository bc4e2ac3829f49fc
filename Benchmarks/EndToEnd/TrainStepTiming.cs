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
    /// the step is captured as a CUDA graph during the warm-up and replayed.
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

    /// <summary>img/s reported by Benchmarks/Peers/train_step_peer.py run with <paramref name="arguments"/>.</summary>
    public static double PyTorch(string python, string arguments)
    {
        string script = Path.Combine(CpuTrainStepBenchmark.PeersFolder(), "train_step_peer.py");
        var info = new ProcessStartInfo(python, $"\"{script}\" {arguments}") { RedirectStandardOutput = true, RedirectStandardError = true };
        using var process = Start(info);
        string output = process.StandardOutput.ReadToEnd();
        string errors = process.StandardError.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0)
            throw new InvalidOperationException($"the PyTorch peer ({arguments}) failed (is PyTorch installed for {python}?):\n{errors}");
        using var json = JsonDocument.Parse(output.Trim().Split('\n')[^1]);
        return json.RootElement.GetProperty("images_per_second").GetDouble();
    }

    /// <summary>Starts a peer script; a Python that is not there is an InvalidOperationException that says so.</summary>
    internal static Process Start(ProcessStartInfo info)
    {
        try { return Process.Start(info) ?? throw new InvalidOperationException($"could not start {info.FileName}"); }
        catch (System.ComponentModel.Win32Exception e) { throw new InvalidOperationException($"cannot run {info.FileName} ({e.Message}); pass --python with a Python that has PyTorch."); }
    }
}
