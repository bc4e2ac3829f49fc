using FerEngine.Checkpoint;
using FerEngine.Model.Network;
using FerEngine.Optim;

namespace FerEngine.Trainer.Training;

/// <summary>
/// The files of one training run, each written to a temporary name, flushed and renamed
/// (<see cref="AtomicFile"/>), so a kill at any moment leaves the previous good files intact:
///   model.safetensors   best weights so far (by validation emotion accuracy, or the trained tasks' mean without emotion labels)
///   last.safetensors    weights after the latest save
///   state.safetensors   optimiser moments + training state (JSON in __metadata__) for --resume
///   metrics.csv         one line per epoch
///   test.json           the test split scored by model.safetensors, when the run ends (if the data has one)
///   loss.png, accuracy.png, confusion_&lt;task&gt;.png
/// last and state both carry the global step and must agree: see <see cref="SaveCheckpoint"/>.
/// </summary>
public sealed class RunFolder(string path)
{
    public string Path { get; } = System.IO.Path.GetFullPath(path);
    public string BestModel => File("model.safetensors");
    public string LastModel => File("last.safetensors");
    public string State => File("state.safetensors");
    public string PendingLastModel => File(".last.safetensors.pending");
    public string Metrics => File(MetricsName);
    public string TestScores => File(TestScoresName);
    public const string MetricsName = "metrics.csv", TestScoresName = "test.json", LossPlotName = "loss.png", AccuracyPlotName = "accuracy.png";
    public string File(string name) => System.IO.Path.Combine(Path, name);

    private const string StepKey = "global_step", StateKey = "training_state";

    /// <summary>
    /// Creates the folder and checks that a file can be written in it, so that a read-only --out
    /// fails before the data is loaded rather than at the first save, an epoch later.
    /// </summary>
    public void Create()
    {
        try
        {
            Directory.CreateDirectory(Path);
            string probe = File($".write-test-{Environment.ProcessId}");
            System.IO.File.WriteAllBytes(probe, []);
            System.IO.File.Delete(probe);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new IOException($"--out {Path}: cannot write the run's files there ({e.Message}). Choose another --out.", e);
        }
    }

    /// <summary>The files a run writes, present or not: the weights, the state, the metrics and the plots.</summary>
    private IEnumerable<string> RunFiles() =>
        new[] { BestModel, LastModel, State, PendingLastModel, Metrics, TestScores, File(LossPlotName), File(AccuracyPlotName) }
            .Concat(Enum.GetValues<FaceTask>().Select(task => File(ConfusionPlot(task))));

    /// <summary>Half-written temporaries of the run's files (<see cref="AtomicFile"/>) that a kill left behind.</summary>
    private IEnumerable<string> LeftoverTemporaries() =>
        RunFiles().SelectMany(file => Directory.Exists(Path)
            ? Directory.EnumerateFiles(Path, $".{System.IO.Path.GetFileName(file)}.tmp-*")
            : []);

    /// <summary>A task's validation confusion matrix: confusion_emotion.png, ...</summary>
    public static string ConfusionPlot(FaceTask task) => $"confusion_{task.ToString().ToLowerInvariant()}.png";

    /// <summary>True when an earlier run left its files here: a new run must not write over them unasked.</summary>
    public bool HoldsRun => RunFiles().Any(System.IO.File.Exists);

    /// <summary>Deletes an earlier run's files (for --overwrite), so that none of them mixes with the new run's.</summary>
    public void DeleteRun()
    {
        foreach (var file in RunFiles().Concat(LeftoverTemporaries()).ToList()) System.IO.File.Delete(file);
    }

    /// <summary>
    /// <paramref name="path"/>, or when an earlier run is there, the first of path-2, path-3, ... that
    /// holds none and no other run is using (<see cref="RunLock"/>): where a run goes when the user did not choose --out.
    /// </summary>
    public static string FirstFree(string path)
    {
        string candidate = path;
        for (int n = 2; System.IO.File.Exists(candidate) || new RunFolder(candidate).HoldsRun || RunLock.IsHeld(candidate); n++) candidate = $"{path}-{n}";
        return candidate;
    }

    /// <summary>The state saved with the run (its position and the options it was started with), without loading any weights.</summary>
    public TrainingState ReadState()
    {
        FinishInterruptedSave();
        RequireCheckpoint();
        return ParseState(SafetensorsFile.ReadMetadata(State));
    }

    private void RequireCheckpoint()
    {
        foreach (var file in new[] { LastModel, State })
            if (!System.IO.File.Exists(file))
                throw new FileNotFoundException(HoldsRun
                    ? $"--resume: {file} is missing: the run in {Path} stopped before it saved a checkpoint to resume from. Start it again with --overwrite, or choose another --out."
                    : $"--resume: {file} is missing; nothing to resume in {Path} (start without --resume).", file);
    }

    private TrainingState ParseState(IReadOnlyDictionary<string, string> metadata)
    {
        if (!metadata.TryGetValue(StateKey, out var json))
            throw new InvalidDataException($"--resume: {State} has no \"{StateKey}\" in its metadata; it was not written by `fer train`.");
        try { return TrainingState.FromJson(json); }
        catch (System.Text.Json.JsonException e)
        {
            throw new InvalidDataException($"--resume: the \"{StateKey}\" of {State} cannot be read ({e.Message}); the run cannot be resumed exactly. Start a new run (another --out, or --overwrite).");
        }
    }

    /// <summary>
    /// Saves last.safetensors and state.safetensors, which must agree, although a kill can come between
    /// any two file operations: (1) the weights are written whole to a pending file, (2) the state
    /// replaces state.safetensors, (3) the pending weights are renamed over last.safetensors. A kill
    /// before (2) leaves the previous pair; a kill between (2) and (3) leaves the new state and the new
    /// weights whole in the pending file, and <see cref="FinishInterruptedSave"/> completes the move.
    /// </summary>
    /// <param name="modelMetadata">what the weights file says besides the step (<see cref="ModelFile.TrainedTasksKey"/>)</param>
    public void SaveCheckpoint(FerNet model, Optimizer optimizer, TrainingState state, IReadOnlyDictionary<string, string> modelMetadata)
    {
        var step = new Dictionary<string, string> { [StepKey] = state.GlobalStep.ToString() };
        try
        {
            ModelFile.Save(PendingLastModel, model, new Dictionary<string, string>(modelMetadata) { [StepKey] = step[StepKey] });
            SafetensorsFile.Save(State, optimizer.State.Select(kv => (kv.Key, kv.Value)),
                new Dictionary<string, string>(step) { [StateKey] = state.ToJson() });
        }
        catch (FileWriteException e)   // a full disk, say: what is there is whole, and the message says what to do with it
        {
            throw new IOException($"cannot save the checkpoint in {Path}: {e.Reason}. " + (System.IO.File.Exists(LastModel)
                ? "last.safetensors and state.safetensors still hold the previous save: make room, then continue with --resume."
                : "No checkpoint was saved before this one: make room, then start again with --overwrite."), e);
        }
        System.IO.File.Move(PendingLastModel, LastModel, overwrite: true);
    }

    /// <summary>
    /// Tidies what a kill during <see cref="SaveCheckpoint"/> left: pending weights of the state's step
    /// are moved over last.safetensors (the kill came between the two renames); pending weights of
    /// another step are deleted (the kill came before the state was written, the pair in place is the
    /// good one); half-written temporaries are deleted.
    /// </summary>
    private void FinishInterruptedSave()
    {
        foreach (var temporary in LeftoverTemporaries().ToList()) System.IO.File.Delete(temporary);
        if (!System.IO.File.Exists(PendingLastModel)) return;
        string? pendingStep = SafetensorsFile.ReadMetadata(PendingLastModel).GetValueOrDefault(StepKey);
        string? stateStep = System.IO.File.Exists(State) ? SafetensorsFile.ReadMetadata(State).GetValueOrDefault(StepKey) : null;
        if (pendingStep is not null && pendingStep == stateStep) System.IO.File.Move(PendingLastModel, LastModel, overwrite: true);
        else System.IO.File.Delete(PendingLastModel);
    }

    /// <summary>Loads last.safetensors into the model and state.safetensors into the optimiser; returns the state.</summary>
    public TrainingState LoadCheckpoint(FerNet model, Optimizer optimizer)
    {
        FinishInterruptedSave();
        RequireCheckpoint();
        var weights = SafetensorsFile.Load(LastModel, model.Parameters().First().Device);
        var saved = SafetensorsFile.Load(State, model.Parameters().First().Device);
        string weightsStep = weights.Metadata.GetValueOrDefault(StepKey, "?"), stateStep = saved.Metadata.GetValueOrDefault(StepKey, "?");
        if (weightsStep != stateStep)
            throw new InvalidDataException($"--resume: last.safetensors is from step {weightsStep} but state.safetensors from step {stateStep}: the pair does not belong together and the run cannot be resumed exactly. Start a new run (another --out, or --overwrite).");
        ModelFile.RequireFinite(LastModel, weights.Tensors);
        model.LoadStateDict(weights.Tensors.ToDictionary(t => t.Key, t => t.Value));
        foreach (var (name, live) in optimizer.State)
        {
            if (!saved.Tensors.TryGetValue(name, out var value))
                throw new InvalidDataException($"--resume: state.safetensors lacks optimiser tensor {name}.");
            live.Backend.Copy(value, live);
        }
        var state = ParseState(saved.Metadata);
        optimizer.StepCount = state.OptimizerStep;
        optimizer.LearningRate = state.LearningRate;
        return state;
    }

    public void WriteText(string name, string text) =>
        AtomicFile.Write(File(name), stream => { using var writer = new StreamWriter(stream, leaveOpen: true); writer.Write(text); });

    public void WriteBytes(string name, byte[] bytes) => AtomicFile.Write(File(name), stream => stream.Write(bytes));
}
