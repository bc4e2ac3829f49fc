using FerEngine.Checkpoint;
using FerEngine.Trainer.Reporting;
using FerEngine.Trainer.Training;

namespace FerEngine.Tests.Trainer;

/// <summary>Ctrl-C (a cancellation) finishes the current step, saves, and a resume continues from that batch.</summary>
[Collection(CpuThreadsCollection.Name)]
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

    private TrainOptions Options(string name) => new()
    {
        Width = 0.125, SyntheticTrain = 96, SyntheticValidation = 32, Batch = 16, Epochs = 1, Threads = 2,
        Out = Path.Combine(_folder, name),
        Device = "cpu",   // bit-for-bit resume is the CPU's promise; on a GPU host "auto" would take the GPU, whose cuDNN may sum in any order
    };

    [Theory]
    [InlineData(false)]
    [InlineData(true)]   // with --augment: the resumed batches get the shifts and flips of their positions in the epoch
    public void An_interrupted_run_saves_mid_epoch_and_resumes_to_the_same_weights(bool augment)
    {
        TrainOptions Run(string name) => Options(name) with { Augment = augment };
        new TrainingRun(Run("straight"), new CancelAfter(0, new CancellationTokenSource())).Run(false, CancellationToken.None);

        using var cancel = new CancellationTokenSource();
        var interrupted = new TrainingRun(Run("interrupted"), new CancelAfter(2, cancel)).Run(false, cancel.Token);
        Assert.Equal(RunOutcome.Interrupted, interrupted.Outcome);
        Assert.Equal(0, interrupted.BestEpoch);   // no epoch ended: no best one
        var state = SafetensorsFile.Load(Path.Combine(_folder, "interrupted", "state.safetensors"), Device.Cpu);
        // Step 2's losses are reported once step 3 is queued (the host reads a step late), so the
        // cancellation is seen before batch 4: three batches done.
        Assert.Contains("\"BatchInEpoch\":3", state.Metadata["training_state"]);

        var resumed = new TrainingRun(Run("interrupted"), new CancelAfter(0, new CancellationTokenSource())).Run(true, CancellationToken.None);
        Assert.Equal(RunOutcome.Completed, resumed.Outcome);
        var a = SafetensorsFile.Load(Path.Combine(_folder, "straight", "last.safetensors"), Device.Cpu).Tensors;
        var b = SafetensorsFile.Load(Path.Combine(_folder, "interrupted", "last.safetensors"), Device.Cpu).Tensors;
        foreach (var name in a.Keys) Assert.Equal(a[name].ToArray<float>(), b[name].ToArray<float>());

        // The resumed epoch's row covers the whole epoch: the batches before the interruption count too.
        double[] Losses(string run) => EpochMetrics.FromCsv(File.ReadAllText(Path.Combine(_folder, run, "metrics.csv")))[^1].Values()[4..9];
        Assert.Equal(Losses("straight"), Losses("interrupted"));
    }

    [Fact]
    public void A_resume_carries_on_the_learning_rate_and_the_plateau_count()
    {
        var options = Options("plateau") with { Epochs = 2 };
        new TrainingRun(options with { Epochs = 1 }, new CancelAfter(0, new CancellationTokenSource())).Run(false, CancellationToken.None);
        // As if earlier epochs had cut the rate to 1e-4 and then not improved for 4 epochs, on a best no accuracy beats.
        var folder = new RunFolder(options.Out);
        var saved = SafetensorsFile.Load(folder.State, Device.Cpu);
        var state = TrainingState.FromJson(saved.Metadata["training_state"]) with
        {
            LearningRate = 1e-4, SchedulerBest = 2.0, SchedulerBadEpochs = options.PlateauPatience - 1,
        };
        SafetensorsFile.Save(folder.State, saved.Tensors.Select(kv => (kv.Key, kv.Value)),
            new Dictionary<string, string>(saved.Metadata) { ["training_state"] = state.ToJson() });

        new TrainingRun(options, new CancelAfter(0, new CancellationTokenSource())).Run(true, CancellationToken.None);
        var after = folder.ReadState();
        Assert.Equal(1e-4 * options.PlateauFactor, after.LearningRate, 1e-12);   // the fifth bad epoch cuts the saved rate
        Assert.Equal(0, after.SchedulerBadEpochs);
        Assert.Equal(2.0, after.SchedulerBest);
    }

    [Fact]
    public void A_save_killed_between_its_two_renames_is_finished_when_the_run_is_read_again()
    {
        // The pair saved at an interruption after three steps, then the pair saved at the end of the epoch (six steps).
        using var cancel = new CancellationTokenSource();
        new TrainingRun(Options("run"), new CancelAfter(2, cancel)).Run(false, cancel.Token);
        var before = CopyOf("run", "before");
        new TrainingRun(Options("run"), new CancelAfter(0, new CancellationTokenSource())).Run(true, CancellationToken.None);
        var after = new RunFolder(Path.Combine(_folder, "run"));
        Assert.NotEqual(before.ReadState().GlobalStep, after.ReadState().GlobalStep);

        // A kill between the renames of the last save: its state in place, its weights pending, the
        // previous weights still in last.safetensors, and a half-written temporary.
        var killed = CopyOf("before", "killed");
        File.Copy(after.State, killed.State, overwrite: true);
        File.Copy(after.LastModel, killed.PendingLastModel);
        File.WriteAllBytes(killed.File(".state.safetensors.tmp-0123456789abcdef"), new byte[100]);
        Assert.Equal(after.ReadState().GlobalStep, killed.ReadState().GlobalStep);
        Assert.Equal(File.ReadAllBytes(after.LastModel), File.ReadAllBytes(killed.LastModel));
        Assert.False(File.Exists(killed.PendingLastModel));
        Assert.Empty(Directory.GetFiles(killed.Path, ".*.tmp-*"));

        // A kill before the state was written: the previous pair stays, the pending weights go.
        var early = CopyOf("before", "early");
        File.Copy(after.LastModel, early.PendingLastModel);
        Assert.Equal(before.ReadState().GlobalStep, early.ReadState().GlobalStep);
        Assert.Equal(File.ReadAllBytes(before.LastModel), File.ReadAllBytes(early.LastModel));
        Assert.False(File.Exists(early.PendingLastModel));
    }

    private RunFolder CopyOf(string run, string copy)
    {
        var target = Directory.CreateDirectory(Path.Combine(_folder, copy));
        foreach (var file in Directory.GetFiles(Path.Combine(_folder, run)))
            File.Copy(file, Path.Combine(target.FullName, Path.GetFileName(file)));
        return new RunFolder(target.FullName);
    }
}
