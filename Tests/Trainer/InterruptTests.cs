using FerEngine.Checkpoint;
using FerEngine.Trainer.Reporting;
using FerEngine.Trainer.Training;

namespace FerEngine.Tests.Trainer;

/// <summary>Ctrl-C (a cancellation) finishes the current step, saves, and a resume continues from that batch.</summary>
public sealed class InterruptTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("fer-interrupt-").FullName;
    public void Dispose() => Directory.Delete(_folder, recursive: true);

    /// <summary>Cancels after a given number of training steps.</summary>
    private sealed class CancelAfter(int steps, CancellationTokenSource source) : IProgressReporter
    {
        private int _seen;
        public void Info(string message) { }
        public void BeginEpoch(int epoch, int epochs, int batches) { }
        public void Step(FerEngine.Model.Training.StepLosses loss, int images) { if (++_seen == steps) source.Cancel(); }
        public void EndEpoch(EpochMetrics metrics, bool improved) { }
    }

    [Fact]
    public void An_interrupted_run_saves_mid_epoch_and_resumes_to_the_same_weights()
    {
        TrainOptions Options(string name) => new()
        {
            Width = 0.125, SyntheticTrain = 96, SyntheticValidation = 32, Batch = 16, Epochs = 1, Threads = 2,
            Out = Path.Combine(_folder, name),
            Device = "cpu",   // bit-for-bit resume is the CPU's promise; on a GPU host "auto" would take the GPU, whose cuDNN may sum in any order
        };
        new TrainingRun(Options("straight"), new CancelAfter(0, new CancellationTokenSource())).Run(false, CancellationToken.None);

        using var cancel = new CancellationTokenSource();
        var interrupted = new TrainingRun(Options("interrupted"), new CancelAfter(2, cancel)).Run(false, cancel.Token);
        Assert.Equal(RunOutcome.Interrupted, interrupted.Outcome);
        Assert.Equal(0, interrupted.BestEpoch);   // no epoch ended: no best one
        var state = SafetensorsFile.Load(Path.Combine(_folder, "interrupted", "state.safetensors"), Device.Cpu);
        // Step 2's losses are reported once step 3 is queued (the host reads a step late), so the
        // cancellation is seen before batch 4: three batches done.
        Assert.Contains("\"BatchInEpoch\":3", state.Metadata["training_state"]);

        var resumed = new TrainingRun(Options("interrupted"), new CancelAfter(0, new CancellationTokenSource())).Run(true, CancellationToken.None);
        Assert.Equal(RunOutcome.Completed, resumed.Outcome);
        var a = SafetensorsFile.Load(Path.Combine(_folder, "straight", "last.safetensors"), Device.Cpu).Tensors;
        var b = SafetensorsFile.Load(Path.Combine(_folder, "interrupted", "last.safetensors"), Device.Cpu).Tensors;
        foreach (var name in a.Keys) Assert.Equal(a[name].ToArray<float>(), b[name].ToArray<float>());

        // The resumed epoch's row covers the whole epoch: the batches before the interruption count too.
        double[] Losses(string run) => EpochMetrics.FromCsv(File.ReadAllText(Path.Combine(_folder, run, "metrics.csv")))[^1].Values()[4..9];
        Assert.Equal(Losses("straight"), Losses("interrupted"));
    }
}
