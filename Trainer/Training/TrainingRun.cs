using System.Diagnostics;
using FerEngine.Backends.Cuda;
using FerEngine.Model.Data;
using FerEngine.Model.Evaluation;
using FerEngine.Model.Network;
using FerEngine.Model.Training;
using FerEngine.Optim;
using FerEngine.Trainer.Reporting;

namespace FerEngine.Trainer.Training;

/// <summary>How a run ended.</summary>
public enum RunOutcome { Completed, EarlyStopped, Interrupted }

/// <param name="BestValidationMetric">the best value of <paramref name="MetricName"/> (emotion accuracy, or the mean task accuracy without emotion labels)</param>
public sealed record TrainingResult(RunOutcome Outcome, int Epochs, double BestValidationMetric, int BestEpoch, string Folder, string MetricName = "emotion accuracy");

/// <summary>
/// The `fer train` loop: epochs of shuffled batches through <see cref="TrainStep"/>, validation
/// after each epoch, reduce-LR-on-plateau and early stopping on validation emotion accuracy (or,
/// without emotion labels, the mean accuracy of the trained tasks),
/// and after each epoch the run folder's files (best and last weights, state, metrics, plots).
/// A cancellation (Ctrl-C) finishes the current step, saves, and returns; --resume continues
/// from the saved position exactly (same batches, same dropout and augmentation streams).
/// </summary>
public sealed class TrainingRun(TrainOptions options, IProgressReporter progress)
{
    public TrainingResult Run(bool resume, CancellationToken cancel)
    {
        var folder = new RunFolder(options.Out);
        if (!resume && folder.HoldsRun && !options.Overwrite)
            throw new UsageException($"--out {folder.Path} holds an earlier run. Continue it with --resume, choose another --out, or replace it with --overwrite.");
        TrainerData.RequireMemoryForSynthetic(options);
        var device = DeviceChoice.Resolve(options.Device, options.Threads, tf32: !options.StrictFloat32, warn: progress.Info);
        folder.Create();
        using var data = TrainerData.Load(options, device, progress);
        if (cancel.IsCancellationRequested)
        {
            progress.Info("interrupted while loading the data; nothing was trained or saved");
            return new(RunOutcome.Interrupted, 0, double.NegativeInfinity, 0, folder.Path);
        }
        var trainedTasks = TrainedTasks(data.Dataset, options.TaskWeights);
        string metricName = EvaluationResult.SelectionMetricNameFor(trainedTasks.Contains(FaceTask.Emotion) && data.Dataset.Validation.Any(s => s.Labels[FaceTask.Emotion] >= 0));
        int batchesPerEpoch = data.BatchesPerEpoch(options.Batch);
        if (batchesPerEpoch == 0)
            throw new InvalidDataException($"{data.Dataset.Train.Count} training image(s): a training batch needs at least 2 (batch norm). Add data, or check the split.");
        var config = new FerNetConfig(options.Width, options.Channels, options.Height, options.ImageWidth);
        if (device is CpuDevice or CudaDevice { Gpu: EmulatedGpu }) RequireMemoryFor(config, Math.Min(options.Batch, data.Dataset.Train.Count), data.Dataset);   // both hold the step in this machine's memory
        var model = new FerNet(config, device, seed: options.Seed);
        if (!resume && options.Init is { } init)
        {
            FineTuning.LoadWeights(model, init);
            progress.Info($"weights from {init}; Adam, the learning-rate schedule and early stopping start afresh");
        }
        var optimizer = new Adam(model.NamedParameters(), options.LearningRate);
        var scheduler = new ReduceLROnPlateau(optimizer, options.PlateauFactor, options.PlateauPatience, options.MinLearningRate);
        var stopper = new EarlyStopping(options.Patience);
        // --overwrite deletes the earlier run's files just before this run first saves, so that a run
        // that fails sooner (bad data, a diverging loss) leaves the earlier run as it was.
        bool earlierRunToReplace = !resume && options.Overwrite;
        void BeforeSaving()
        {
            if (earlierRunToReplace) folder.DeleteRun();
            earlierRunToReplace = false;
        }
        var modelMetadata = new Dictionary<string, string>
        {
            [ModelFile.TrainedTasksKey] = ModelFile.TrainedTasksValue(trainedTasks),
            [ModelFile.SplitSeedKey] = options.Seed.ToString(),
        };
        if (options.Init is { } initModel) modelMetadata[ModelFile.InitKey] = initModel;

        int trainImages = data.Dataset.Train.Count, validationImages = data.Dataset.Validation.Count;
        var state = new TrainingState { Options = options, LearningRate = options.LearningRate, TrainImages = trainImages, ValidationImages = validationImages };
        var history = new List<EpochMetrics>();
        if (resume)
        {
            state = folder.LoadCheckpoint(model, optimizer) with { Options = options };   // a later --resume sees this one's --epochs
            RequireSameData(state, trainImages, validationImages, ModelFile.TrainedTasks(folder.LastModel), trainedTasks.ToList(), batchesPerEpoch);
            state = state with { TrainImages = trainImages, ValidationImages = validationImages };
            scheduler.Best = state.SchedulerBest;
            scheduler.BadEpochs = state.SchedulerBadEpochs;
            var best = File.Exists(folder.BestModel) ? LoadBest(folder.BestModel, device) : null;
            stopper.Restore(state.EarlyStoppingBest, state.EarlyStoppingBestEpoch, state.EarlyStoppingEpochsWithoutImprovement, best);
            if (File.Exists(folder.Metrics)) history = ReadHistory(folder.Metrics).Where(m => m.Epoch <= state.Epoch).ToList();
            if (state.Epoch >= options.Epochs || stopper.ShouldStop)
            {
                progress.Info(stopper.ShouldStop ? $"{folder.Path} already stopped early; nothing to resume" : $"all {options.Epochs} epochs of {folder.Path} are done; raise --epochs to train further");
                return new(stopper.ShouldStop ? RunOutcome.EarlyStopped : RunOutcome.Completed, state.Epoch, stopper.Best, stopper.BestEpoch + 1, folder.Path, metricName);
            }
            progress.Info($"resuming {folder.Path} at epoch {state.Epoch + 1}, after batch {state.BatchInEpoch} (step {state.GlobalStep})");
            if (state.BatchInEpoch > 0 && state.EpochLossSums is null)
                progress.Info($"the saved state does not hold epoch {state.Epoch + 1}'s losses so far (saved by an older fer): its metrics row covers only the batches from here on");
        }
        progress.Info($"device: {DeviceChoice.Describe(device, options.Threads, tf32: !options.StrictFloat32, graph: !options.NoGraph)}");
        progress.Info(ModelSummary.Format(model.Config).TrimEnd());
        progress.Info($"joint loss weights (emotion,gender,race,age): {options.TaskWeights}");

        using var step = new TrainStep(model, optimizer, options.TaskWeights, captureGraph: device is CudaDevice && !options.NoGraph);
        var outcome = RunOutcome.Completed;
        for (int epoch = state.Epoch; epoch < options.Epochs; epoch++)
        {
            var clock = Stopwatch.StartNew();
            var losses = new RunningLosses();
            int firstBatch = epoch == state.Epoch ? state.BatchInEpoch : 0;
            bool continuing = firstBatch > 0;   // an epoch interrupted part way: its numbers so far were saved
            if (continuing && state.EpochLossSums is { } sums && state.EpochLossCounts is { } counts) losses.Restore(sums, counts);
            int images = continuing ? state.EpochImages : 0;
            double secondsBefore = continuing ? state.EpochSeconds : 0;
            int[] order = data.EpochOrder(options.Seed, epoch);
            progress.BeginEpoch(epoch + 1, options.Epochs, batchesPerEpoch - firstBatch);
            // A step's losses are read after the next step is queued: on a GPU the host then builds
            // and queues batch b + 1 while the GPU still runs batch b (on the CPU nothing changes).
            (Func<StepLosses> Read, int Images)? unread = null;
            void Account()
            {
                if (unread is not { } pending) return;
                var loss = pending.Read();
                if (!double.IsFinite(loss.Total))
                    throw new InvalidOperationException($"the training loss became {loss.Total} in epoch {epoch + 1}: training diverged (is --lr {optimizer.LearningRate:G3} too high?). " +
                        (earlierRunToReplace ? $"The earlier run in {folder.Path} is left as it was."
                         : File.Exists(folder.LastModel) ? $"The files in {folder.Path} are from the last save before it." : $"Nothing was saved in {folder.Path}."));
                losses.Add(loss);
                images += pending.Images;
                progress.Step(loss, pending.Images);
                unread = null;
            }
            for (int b = firstBatch; b < batchesPerEpoch; b++)
            {
                if (cancel.IsCancellationRequested)
                {
                    if (state.GlobalStep == 0)
                    {
                        progress.Info("interrupted before the first step; nothing was trained or saved");   // (--overwrite's earlier run stays too)
                        return new(RunOutcome.Interrupted, 0, double.NegativeInfinity, 0, folder.Path);
                    }
                    Account();
                    var (lossSums, lossCounts) = losses.Save();
                    state = Snapshot(state, epoch, b, optimizer, scheduler, stopper) with
                    {
                        EpochLossSums = lossSums, EpochLossCounts = lossCounts, EpochImages = images, EpochSeconds = secondsBefore + clock.Elapsed.TotalSeconds,
                    };
                    BeforeSaving();
                    folder.SaveCheckpoint(model, optimizer, state, modelMetadata);
                    progress.Info($"interrupted: saved epoch {epoch + 1} after batch {b} to {folder.Path}; continue with `fer train --resume --out {folder.Path}`");
                    return new(RunOutcome.Interrupted, epoch, stopper.Best, stopper.BestEpoch + 1, folder.Path, metricName);
                }
                var (x, labels) = data.TrainBatch(order, b, options.Batch, epoch, options.Augment, options.Seed);
                var readLosses = step.ReadLossesLater(step.Run(x, labels, (ulong)state.GlobalStep));
                ReportGraph(step, progress);
                state = state with { GlobalStep = state.GlobalStep + 1 };
                Account();
                unread = (readLosses, x.Shape[0]);
            }
            Account();
            double trainingSeconds = secondsBefore + clock.Elapsed.TotalSeconds;   // the steps alone: img/s leaves validation and saving out
            var validation = Evaluator.Evaluate(model, data.ValidationCount, options.Batch, data.ValidationBatch);
            // An untrained head's accuracy is chance, not a result: n/a in the log, nan in metrics.csv.
            double Scored(FaceTask task) => trainedTasks.Contains(task) ? validation.Accuracy(task) : double.NaN;
            double metric = validation.SelectionMetric(trainedTasks);
            scheduler.Step(metric);
            bool improved = stopper.Observe(epoch, metric, model);
            BeforeSaving();
            if (improved)
            {
                ModelFile.Save(folder.BestModel, model, modelMetadata);
                File.Delete(folder.TestScores);   // it scored the model this one replaces (a resumed run's earlier end)
            }
            double seconds = secondsBefore + clock.Elapsed.TotalSeconds;
            var row = new EpochMetrics(epoch + 1, optimizer.LearningRate, seconds, images / trainingSeconds,
                losses.Total, losses.Mean(0), losses.Mean(1), losses.Mean(2), losses.Mean(3),
                Scored(FaceTask.Emotion), Scored(FaceTask.Gender), Scored(FaceTask.Race), Scored(FaceTask.Age));
            history.Add(row);
            state = Snapshot(state, epoch + 1, 0, optimizer, scheduler, stopper);
            folder.SaveCheckpoint(model, optimizer, state, modelMetadata);
            WriteReports(folder, history, validation, trainedTasks);
            progress.EndEpoch(row, improved);
            if (stopper.ShouldStop)
            {
                progress.Info($"early stopping: no better validation {validation.SelectionMetricName(trainedTasks)} for {stopper.Patience} epochs");
                outcome = RunOutcome.EarlyStopped;
                break;
            }
        }
        ScoreTestSplit(folder, data, trainedTasks, stopper.BestEpoch + 1, progress);
        return new(outcome, history.Count == 0 ? 0 : history[^1].Epoch, stopper.Best, stopper.BestEpoch + 1, folder.Path, metricName);
    }

    /// <summary>
    /// When the data has a test split (FER2013's PrivateTest, RAF-DB's test images, a test/ folder), the
    /// run ends by scoring it with its best weights, model.safetensors, once: a line in the log, and in
    /// test.json what `fer eval --model model.safetensors --split test --json` prints. Model selection
    /// never sees these scores. A new best model deletes test.json, so it always scores the model beside it.
    /// </summary>
    private void ScoreTestSplit(RunFolder folder, TrainerData data, List<FaceTask> trainedTasks, int bestEpoch, IProgressReporter progress)
    {
        var test = data.Dataset.Test;
        if (test.Count == 0 || !File.Exists(folder.BestModel)) return;
        var best = ModelFile.Load(folder.BestModel, data.Device);
        var result = Evaluator.Evaluate(best, test.Count, options.Batch, data.TestBatch);
        var scored = trainedTasks.Where(task => result[task].Total > 0).ToList();
        if (scored.Count == 0)
        {
            progress.Info($"test split: none of its {test.Count} images is labelled for a task this run trained; not scored");
            return;
        }
        folder.WriteText(RunFolder.TestScoresName, EvaluationReport.Json("test", test.Count, result, trainedTasks) + Environment.NewLine);
        progress.Info($"test split ({test.Count} images) scored by the best model (epoch {bestEpoch}): " +
                      string.Join(", ", scored.Select(task => $"{task.ToString().ToLowerInvariant()} {result.Accuracy(task):P1}")) + $"; details in {folder.TestScores}");
    }

    /// <summary>
    /// Refuses a batch whose training step cannot fit in this machine's memory, before the step is
    /// tried (the operating system would kill the process without a word): on the CPU, and on the
    /// emulated GPU, whose memory is this machine's too. A real GPU says so itself
    /// (CUDA_ERROR_OUT_OF_MEMORY, with the free memory). The loaded images take their part first.
    /// </summary>
    private void RequireMemoryFor(FerNetConfig config, int batch, FaceDataset dataset)
    {
        long images = (long)dataset.Count * dataset.PixelsPerImage;
        long available = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes - images, perImage = config.StepBytesPerImage;
        if ((double)perImage * batch <= 0.8 * available) return;
        long fits = (long)(0.8 * available / perImage);
        throw new UsageException($"--batch {options.Batch} needs about {(double)perImage * batch / (1L << 30):N1} GiB for a training step at --width {config.Width} " +
            $"and --image-size {TrainOptions.FormatImageSize(config.Height, config.ImageWidth)} ({perImage / 1e6:N1} MB per image); this machine has {available / (double)(1L << 30):N1} GiB " +
            $"besides the {images / (double)(1L << 30):N1} GiB of images. " +
            (fits >= 2 ? $"Use --batch {fits} or less." : "Not even a batch of 2 fits: use a smaller --width or --image-size."));
    }

    /// <summary>
    /// Refuses to resume on data that is not the run's own: other split sizes (the batches, the
    /// validation split and the saved position would not carry over) or other labelled tasks. Of a
    /// state from before the sizes were saved, only the position is checked.
    /// </summary>
    private static void RequireSameData(TrainingState saved, int trainImages, int validationImages, IReadOnlyList<FaceTask> savedTasks, IReadOnlyList<FaceTask> tasks, int batchesPerEpoch)
    {
        string Tasks(IEnumerable<FaceTask> t) => string.Join(", ", t.Select(task => task.ToString().ToLowerInvariant()));
        string? difference =
            saved.BatchInEpoch > batchesPerEpoch ? $"{batchesPerEpoch} batches an epoch, where the run stopped after batch {saved.BatchInEpoch}"
            : saved.TrainImages is not { } savedTrain ? null
            : savedTrain != trainImages || saved.ValidationImages != validationImages
                ? $"{trainImages} training and {validationImages} validation images, where the run had {savedTrain} and {saved.ValidationImages}"
            : !savedTasks.Order().SequenceEqual(tasks.Order()) ? $"labels for {Tasks(tasks)}, where the run's data labelled {Tasks(savedTasks)}"
            : null;
        if (difference is not null)
            throw new InvalidDataException($"--resume: the data now has {difference}: this is not the data the run was trained on, and it cannot continue exactly. " +
                                           "Resume with the run's own data, or start a new run (another --out, or --overwrite).");
    }

    /// <summary>
    /// The tasks this run trains: those the training data labels and the joint loss weighs above 0.
    /// The other heads get no gradient, so neither the model file (for eval and predict) nor early
    /// stopping counts them. None at all is a usage error: the run would learn nothing.
    /// </summary>
    private static List<FaceTask> TrainedTasks(FaceDataset dataset, TaskWeights weights)
    {
        var labelled = Enum.GetValues<FaceTask>().Where(t => dataset.Train.Any(s => s.Labels[t] >= 0)).ToList();
        var trained = labelled.Where(t => weights[t] > 0).ToList();
        if (trained.Count == 0)
            throw new UsageException($"--task-weights {weights} gives weight 0 to every task the training data labels " +
                                     $"({string.Join(", ", labelled.Select(t => t.ToString().ToLowerInvariant()))}): the run would learn nothing. Give one of them a weight above 0.");
        return trained;
    }

    /// <summary>The best weights so far (model.safetensors), which early stopping keeps beside its counters.</summary>
    private static Dictionary<string, Tensor> LoadBest(string path, Device device)
    {
        try { return ModelFile.Load(path, device).StateDict().ToDictionary(p => p.Name, p => p.Tensor); }
        catch (InvalidDataException e)
        {
            throw new InvalidDataException($"--resume: {e.Message} To resume, restore the file from a copy, or delete it: the run then writes model.safetensors again when an epoch beats its best validation accuracy so far.", e);
        }
    }

    /// <summary>The run's metrics.csv so far (a resumed run appends to it).</summary>
    private static List<EpochMetrics> ReadHistory(string path)
    {
        try { return EpochMetrics.FromCsv(File.ReadAllText(path)); }
        catch (FormatException e)
        {
            throw new InvalidDataException($"--resume: {path} cannot be read ({e.Message}). Restore the file, or delete it to resume without the earlier epochs' rows.");
        }
    }

    private bool _captureReported, _eagerReported;

    /// <summary>Says once that the step was captured as a CUDA graph, and once why it runs eagerly if it has to.</summary>
    private void ReportGraph(TrainStep step, IProgressReporter progress)
    {
        if (step.Captures > 0 && !_captureReported)
        {
            progress.Info($"CUDA graph: captured the training step ({step.GraphOperations} operations); replaying it every step");
            _captureReported = true;
        }
        if (step.GraphUnavailable is { } why && !_eagerReported)
        {
            progress.Info($"CUDA graph: not used ({why}); steps run eagerly");
            _eagerReported = true;
        }
    }

    private static TrainingState Snapshot(TrainingState state, int epoch, int batchInEpoch, Optimizer optimizer,
        ReduceLROnPlateau scheduler, EarlyStopping stopper) => state with
    {
        Epoch = epoch,
        BatchInEpoch = batchInEpoch,
        LearningRate = optimizer.LearningRate,
        OptimizerStep = optimizer.StepCount,
        SchedulerBest = scheduler.Best,
        SchedulerBadEpochs = scheduler.BadEpochs,
        EarlyStoppingBest = stopper.Best,
        EarlyStoppingBestEpoch = stopper.BestEpoch,
        EarlyStoppingEpochsWithoutImprovement = stopper.EpochsWithoutImprovement,
        EpochLossSums = null, EpochLossCounts = null, EpochImages = 0, EpochSeconds = 0,   // an interruption sets these after
    };

    private static void WriteReports(RunFolder folder, List<EpochMetrics> history, EvaluationResult validation, List<FaceTask> trainedTasks)
    {
        folder.WriteText(RunFolder.MetricsName, EpochMetrics.ToCsv(history));
        folder.WriteBytes(RunFolder.LossPlotName, Plots.LossCurves(history));
        folder.WriteBytes(RunFolder.AccuracyPlotName, Plots.AccuracyCurves(history));
        foreach (var task in trainedTasks)
            if (validation[task].Total > 0)
                folder.WriteBytes(RunFolder.ConfusionPlot(task), Plots.Confusion(validation[task], $"{task} (validation)"));
    }
}
