using System.CommandLine;
using FerEngine.Trainer.Reporting;
using FerEngine.Trainer.Training;

namespace FerEngine.Trainer.Commands;

/// <summary>`fer train`: the paper's training recipe on one or more datasets (synthetic without --data).</summary>
public static class TrainCommand
{
    public static Command Create(TextWriter output)
    {
        var data = new Option<string[]>("--data") { Description = "Dataset path(s): FER2013 .csv, RAF-DB folder, UTKFace folder, image folder. Several mix with partial labels. Omitted: built-in synthetic faces.", AllowMultipleArgumentsPerToken = true };
        var format = new Option<string?>("--format") { Description = "fer2013 | rafdb | utkface | folder | synthetic (default: detected from the path)." };
        var device = new Option<string>("--device") { Description = "auto | cpu | cpu-reference | cuda | emulated", DefaultValueFactory = _ => "auto" };
        var width = new Option<double>("--width") { Description = "Width multiplier of the network (0.25 for quick CPU runs).", DefaultValueFactory = _ => 1.0 };
        var epochs = new Option<int>("--epochs") { DefaultValueFactory = _ => 50 };
        var batch = new Option<int>("--batch") { DefaultValueFactory = _ => 32 };
        var lr = new Option<double>("--lr") { Description = "Adam learning rate.", DefaultValueFactory = _ => 3e-4 };
        var augment = new Option<bool>("--augment") { Description = "Random crop (4-pixel replicate padding) and horizontal flip." };
        var seed = new Option<ulong>("--seed") { DefaultValueFactory = _ => 0UL };
        var outDir = new Option<string>("--out") { Description = "Run folder.", DefaultValueFactory = _ => "runs/fer" };
        var resume = new Option<bool>("--resume") { Description = "Continue the run saved in --out exactly where it stopped." };
        var skipBad = new Option<bool>("--skip-bad") { Description = "Skip and count malformed CSV rows instead of stopping." };
        var threads = new Option<int>("--threads") { Description = "CPU threads.", DefaultValueFactory = _ => Environment.ProcessorCount };
        var size = new Option<int>("--image-size") { Description = "Input height and width (a multiple of 8).", DefaultValueFactory = _ => 48 };
        var channels = new Option<int>("--channels") { Description = "1 = grey, 3 = colour.", DefaultValueFactory = _ => 1 };
        var syntheticTrain = new Option<int?>("--synthetic-train") { Description = "Synthetic training images (default 2000)." };
        var syntheticValidation = new Option<int?>("--synthetic-validation") { Description = "Synthetic validation images (default 400)." };
        var noGraph = new Option<bool>("--no-graph") { Description = "On a GPU, run every training step eagerly (default: capture the step as a CUDA graph after two warm-up steps and replay it)." };
        var strict = new Option<bool>("--strict-float32") { Description = "On a GPU, compute convolutions and GEMMs in strict float32 (default: TF32 tensor cores, as PyTorch)." };
        var patience = new Option<int>("--patience") { Description = "Early-stopping patience in epochs.", DefaultValueFactory = _ => 10 };

        var command = new Command("train", "Train the multi-task network (emotion, gender, race, age) with the paper's defaults.")
        {
            data, format, device, width, epochs, batch, lr, augment, seed, outDir, resume, skipBad, threads, size, channels,
            syntheticTrain, syntheticValidation, patience, strict, noGraph,
        };
        command.SetAction(parse =>
        {
            var options = new TrainOptions
            {
                Data = parse.GetValue(data) ?? [],
                Format = parse.GetValue(format),
                Device = parse.GetValue(device)!,
                Width = parse.GetValue(width),
                Epochs = parse.GetValue(epochs),
                Batch = parse.GetValue(batch),
                LearningRate = parse.GetValue(lr),
                Augment = parse.GetValue(augment),
                Seed = parse.GetValue(seed),
                Out = parse.GetValue(outDir)!,
                SkipBad = parse.GetValue(skipBad),
                Threads = parse.GetValue(threads),
                Height = parse.GetValue(size),
                ImageWidth = parse.GetValue(size),
                Channels = parse.GetValue(channels),
                SyntheticTrain = parse.GetValue(syntheticTrain),
                SyntheticValidation = parse.GetValue(syntheticValidation),
                Patience = parse.GetValue(patience),
                StrictFloat32 = parse.GetValue(strict),
                NoGraph = parse.GetValue(noGraph),
            };
            if (options.Epochs < 1 || options.Batch < 2)
                throw new UsageException("--epochs must be at least 1 and --batch at least 2 (batch norm needs two samples).");
            using var cancel = new CancellationTokenSource();
            ConsoleCancelEventHandler onCancel = (_, e) =>
            {
                e.Cancel = true; // finish the current step, save, exit cleanly
                cancel.Cancel();
            };
            Console.CancelKeyPress += onCancel;
            try
            {
                var progress = ReferenceEquals(output, Console.Out) ? ConsoleProgress.ForConsole() : new ConsoleProgress(output, TimeSpan.FromSeconds(10));
                var result = new TrainingRun(options, progress).Run(parse.GetValue(resume), cancel.Token);
                output.WriteLine($"{result.Outcome}: best validation accuracy {result.BestValidationAccuracy:P2} at epoch {result.BestEpoch}; files in {result.Folder}");
                return Program.Success;
            }
            finally
            {
                Console.CancelKeyPress -= onCancel;
            }
        });
        return command;
    }
}
