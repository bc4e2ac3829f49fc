using System.CommandLine;
using System.Runtime.InteropServices;
using FerEngine.Model.Data;
using FerEngine.Trainer.Reporting;
using FerEngine.Trainer.Training;

namespace FerEngine.Trainer.Commands;

/// <summary>`fer train`: the paper's training recipe on one or more datasets (synthetic without --data).</summary>
public static class TrainCommand
{
    public static Command Create(TextWriter output)
    {
        var data = CommonOptions.Data("Dataset path(s): FER2013 .csv, RAF-DB folder, UTKFace folder, image folder. Several mix with partial labels. Omitted: built-in synthetic faces.");
        var format = CommonOptions.Format();
        var device = CommonOptions.Device();
        var width = new Option<double>("--width") { Description = "Width multiplier of the network (0.25 for quick CPU runs).", DefaultValueFactory = _ => 1.0 }
            .Require(w => w > 0 && w <= 8, "must be a number in (0, 8].");
        var epochs = new Option<int>("--epochs") { DefaultValueFactory = _ => 50 }.Require(e => e >= 1, "must be at least 1.");
        var batch = new Option<int>("--batch") { DefaultValueFactory = _ => 32 }.Require(b => b >= 2, "must be at least 2 (batch norm needs two samples).");
        var lr = new Option<double>("--lr") { Description = "Adam learning rate.", DefaultValueFactory = _ => 3e-4 }
            .Require(r => r > 0 && double.IsFinite(r), "must be a positive number.");
        var taskWeights = CommonOptions.TaskWeights();
        var augment = new Option<bool>("--augment") { Description = "Random crop (4-pixel replicate padding) and horizontal flip." };
        var seed = new Option<ulong>("--seed") { DefaultValueFactory = _ => 0UL };
        var outDir = new Option<string>("--out") { Description = "Run folder (default runs/fer; runs/fer-2, -3, ... when it holds an earlier run).", DefaultValueFactory = _ => "runs/fer" }
            .Require(o => !string.IsNullOrWhiteSpace(o), "must name a folder.");
        var resume = new Option<bool>("--resume") { Description = "Continue the run saved in --out exactly where it stopped, with the options it was started with." };
        var overwrite = new Option<bool>("--overwrite") { Description = "Replace the earlier run in --out (otherwise a new run refuses to write over one)." };
        var skipBad = CommonOptions.SkipBad();
        var threads = new Option<int>("--threads") { Description = "CPU threads.", DefaultValueFactory = _ => Environment.ProcessorCount }
            .Require(t => t >= 1, "must be at least 1.");
        var size = new Option<string>("--image-size") { Description = "Input size: S for S x S, or HxW (40x56: 40 high, 56 wide); each a multiple of 8.", DefaultValueFactory = _ => "48" }
            .Require(s => TrainOptions.TryParseImageSize(s, out _, out _), "must be S or HxW, each a multiple of 8 from 8 to 1024 (three 2x2 poolings).");
        var channels = new Option<int>("--channels") { Description = "1 = grey, 3 = colour.", DefaultValueFactory = _ => 1 }
            .Require(c => c is 1 or 3, "must be 1 (grey) or 3 (colour).");
        var syntheticTrain = new Option<int?>("--synthetic-train") { Description = "Synthetic training images (default 2000)." }
            .Require(n => n >= 2, "must be at least 2 (one batch of two).");
        var syntheticValidation = new Option<int?>("--synthetic-validation") { Description = "Synthetic validation images (default 400)." }
            .Require(n => n >= 1, "must be at least 1.");
        var noGraph = new Option<bool>("--no-graph") { Description = "On a GPU, run every training step eagerly (default: capture the step as a CUDA graph after two warm-up steps and replay it)." };
        var strict = new Option<bool>("--strict-float32") { Description = "On a GPU, compute convolutions and GEMMs in strict float32 (default: TF32 tensor cores, as PyTorch's default for convolutions; here for the GEMMs too)." };
        var init = new Option<string>("--init") { Description = "Start from a trained model's weights (a model.safetensors) instead of random ones, to fine-tune it; its network (width, channels, image size) is the run's. Adam, the schedule and early stopping start afresh." };
        var patience = new Option<int>("--patience") { Description = "Early-stopping patience in epochs.", DefaultValueFactory = _ => 10 }
            .Require(p => p >= 1, "must be at least 1.");

        var command = new Command("train", "Train the multi-task network (emotion, gender, race, age) with the paper's defaults.")
        {
            data, format, device, width, epochs, batch, lr, taskWeights, augment, seed, outDir, resume, overwrite, skipBad, threads, size, channels,
            syntheticTrain, syntheticValidation, patience, strict, noGraph, init,
        };
        command.SetAction(parse =>
        {
            TrainOptions.TryParseImageSize(parse.GetValue(size)!, out int height, out int imageWidth);   // checked as it was parsed
            var options = new TrainOptions
            {
                Data = [.. (parse.GetValue(data) ?? []).Select(text => DataSource.Parse(text).WithFullPath().ToString())],   // a resumed run may start from another folder
                Format = parse.GetValue(format),
                Device = parse.GetValue(device)!,
                Width = parse.GetValue(width),
                Epochs = parse.GetValue(epochs),
                Batch = parse.GetValue(batch),
                LearningRate = parse.GetValue(lr),
                TaskWeights = parse.GetValue(taskWeights)!,
                Augment = parse.GetValue(augment),
                Seed = parse.GetValue(seed),
                Out = parse.GetValue(outDir)!,
                Overwrite = parse.GetValue(overwrite),
                SkipBad = parse.GetValue(skipBad),
                Threads = parse.GetValue(threads),
                Height = height,
                ImageWidth = imageWidth,
                Channels = parse.GetValue(channels),
                SyntheticTrain = parse.GetValue(syntheticTrain),
                SyntheticValidation = parse.GetValue(syntheticValidation),
                Patience = parse.GetValue(patience),
                StrictFloat32 = parse.GetValue(strict),
                NoGraph = parse.GetValue(noGraph),
                Init = parse.GetValue(init) is { } initPath ? Path.GetFullPath(initPath) : null,   // a resumed run may start from another folder
            };
            if (options.Format?.ToLowerInvariant() == "synthetic" && options.Data.Count > 0)
                throw new UsageException($"--format synthetic makes its own faces: leave out --data, or choose another --format.");
            bool resuming = parse.GetValue(resume);
            if (resuming && options.Overwrite) throw new UsageException("--resume continues the run in --out and --overwrite replaces it: choose one.");
            var givenNames = command.Options.Where(o => parse.GetResult(o) is { Implicit: false }).Select(o => o.Name).ToHashSet();
            if (!resuming) options = FineTuning.TakeNetwork(options, givenNames);
            if (!resuming && !givenNames.Contains(outDir.Name) && RunFolder.FirstFree(options.Out) is var free && free != options.Out)
            {
                output.WriteLine($"{options.Out} holds an earlier run; this one goes to {free} (continue it later with --resume --out {free}).");
                options = options with { Out = free };
            }

            bool outExisted = Directory.Exists(options.Out);
            // A run that failed or stopped before saving anything leaves no empty folder behind; true when none is there.
            bool RemoveEmptyFolder()
            {
                try
                {
                    if (!outExisted && Directory.Exists(options.Out) && !Directory.EnumerateFileSystemEntries(options.Out).Any()) Directory.Delete(options.Out);
                }
                catch (IOException) { }   // a file appeared meanwhile: the folder stays, and so does the run's own error
                return !Directory.Exists(options.Out);
            }
            var runLock = RunLock.Acquire(options.Out);   // before anything in --out is read or tidied

            // Ctrl-C or a SIGTERM: finish the current step, save, exit cleanly (--resume continues).
            // A second one stops the process at once (the first waits while the data is still loading).
            using var cancel = new CancellationTokenSource();
            ConsoleCancelEventHandler onCancel = (_, e) =>
            {
                if (cancel.IsCancellationRequested) return;
                e.Cancel = true;
                cancel.Cancel();
                Console.Error.WriteLine("fer: stopping after this step and saving; Ctrl-C again quits at once, without saving.");
            };
            Console.CancelKeyPress += onCancel;
            using var onTerminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, context =>
            {
                if (cancel.IsCancellationRequested) return;
                context.Cancel = true;
                cancel.Cancel();
                Console.Error.WriteLine("fer: SIGTERM: stopping after this step and saving; a second SIGTERM quits at once, without saving.");
            });
            try
            {
                if (resuming)
                    options = ResumeOptions.Merge(new RunFolder(options.Out).ReadState().Options, options, givenNames, output.WriteLine);
                var progress = ReferenceEquals(output, Console.Out) ? ConsoleProgress.ForConsole() : new ConsoleProgress(output, TimeSpan.FromSeconds(10));
                var result = new TrainingRun(options, progress).Run(resuming, cancel.Token);
                runLock.Dispose();   // first: the lock file must not keep an otherwise empty folder
                output.WriteLine(result.BestEpoch > 0 ? $"{result.Outcome}: best validation {result.MetricName} {result.BestValidationMetric:P2} at epoch {result.BestEpoch}; files in {result.Folder}"
                    : RemoveEmptyFolder() ? $"{result.Outcome} before anything was saved"
                    : $"{result.Outcome} before the first epoch ended; files in {result.Folder}");
                return result.Outcome == RunOutcome.Interrupted ? Program.Interrupted : Program.Success;
            }
            finally
            {
                Console.CancelKeyPress -= onCancel;
                runLock.Dispose();
                RemoveEmptyFolder();
            }
        });
        return command;
    }
}
