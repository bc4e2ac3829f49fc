using System.CommandLine;
using FerEngine.Model.Data;
using FerEngine.Model.Network;
using FerEngine.Trainer.Training;

namespace FerEngine.Trainer.Commands;

/// <summary>Options and loading steps that several commands share.</summary>
internal static class CommonOptions
{
    public static Option<string> Model() => new("--model") { Description = "A model.safetensors written by `fer train`.", Required = true };
    /// <summary>--data: paths (or FORMAT=PATH, <see cref="DataSource"/>) that must exist (a usage error, exit 2, before anything is loaded or written).</summary>
    public static Option<string[]> Data(string description = "Dataset path(s), as for `fer train`.")
    {
        var data = new Option<string[]>("--data") { Description = description, AllowMultipleArgumentsPerToken = true };
        data.Validators.Add(result =>
        {
            foreach (string text in result.GetValueOrDefault<string[]>() ?? [])
                if (DataSource.Parse(text).Path is var path && !File.Exists(path) && !Directory.Exists(path))
                    result.AddError(text.StartsWith('-')   // --data takes several paths, so an unknown option after them lands here
                        ? $"{text}: not an option of this command, nor a --data path (see --help)."
                        : $"--data {text}: no such file or folder.");
        });
        return data;
    }
    public static Option<string?> Format()
    {
        var format = new Option<string?>("--format") { Description = "fer2013 | rafdb | utkface | folder | synthetic (default: detected from the path). One path's own: --data FORMAT=PATH." };
        format.AcceptOnlyFromAmong(DatasetLoader.Formats);
        return format;
    }
    public static Option<string> Device() => new("--device") { Description = "auto (the GPU when one is usable, else the CPU) | cpu | cpu-reference | cuda | emulated", DefaultValueFactory = _ => "auto" };
    public static Option<int> Batch() => new Option<int>("--batch") { DefaultValueFactory = _ => 32 }.Require(b => b >= 1, "must be at least 1.");
    public static Option<bool> SkipBad() => new("--skip-bad") { Description = "Skip and count malformed CSV rows instead of stopping." };
    public static Option<bool> Json() => new("--json") { Description = "Machine-readable output on stdout." };
    public static Option<TaskWeights> TaskWeights() => new("--task-weights")
    {
        Description = "Joint-loss weights of emotion, gender, race and age, as E,G,R,A.",
        DefaultValueFactory = _ => new TaskWeights(),
        CustomParser = result =>
        {
            string text = result.Tokens.Count == 1 ? result.Tokens[0].Value : "";
            if (FerEngine.Model.Network.TaskWeights.TryParse(text) is { } weights) return weights;
            result.AddError($"--task-weights {text}: expected four weights E,G,R,A (emotion, gender, race, age), each 0 or more and not all 0, e.g. 2,0.1,1.5,4 (the paper's).");
            return null;
        },
    };

    /// <summary>Refuses a model path that is a folder or not there, as a usage error naming <paramref name="option"/>.</summary>
    public static void RequireModelFile(string option, string path)
    {
        if (Directory.Exists(path)) throw new UsageException($"{option} {path}: a folder; pass the model file in it ({Path.Combine(path, "model.safetensors")}).");
        if (!File.Exists(path)) throw new UsageException($"{option} {path}: no such file (pass the model.safetensors of a `fer train` run folder).");
    }

    /// <summary>The model file at <paramref name="path"/> on the chosen device; a note on the device choice (a GPU that is not used) goes to <paramref name="error"/>.</summary>
    public static FerNet LoadModel(string path, string device, TextWriter error)
    {
        RequireModelFile("--model", path);
        return ModelFile.Load(path, DeviceChoice.Resolve(device, Environment.ProcessorCount, warn: message => error.WriteLine($"fer: {message}")));
    }

    /// <summary>
    /// The tasks the model file says it was trained on; for the others, whose heads never learned
    /// anything, says on <paramref name="error"/> that <paramref name="command"/> leaves them out ("shown", "scored").
    /// </summary>
    public static IReadOnlyList<FaceTask> TrainedTasks(string modelPath, string command, string leftOut, TextWriter error)
    {
        var trained = ModelFile.TrainedTasks(modelPath);
        var untrained = Enum.GetValues<FaceTask>().Except(trained).Select(t => t.ToString().ToLowerInvariant()).ToList();
        if (untrained.Count > 0)
            error.WriteLine($"fer {command}: the model was not trained for {string.Join(", ", untrained)} (no labels, or a loss weight of 0); those heads are not {leftOut}.");
        return trained;
    }

    /// <summary>
    /// The full path of a command's --out file, refused as a usage error when it is a folder, when its
    /// folder does not exist, or when it is the --model file (which the output would replace).
    /// </summary>
    public static string OutputFile(string outText, string modelText, string extension)
    {
        string outPath = Path.GetFullPath(outText);
        if (Directory.Exists(outPath)) throw new UsageException($"--out {outPath}: a folder; name the {extension} file to write.");
        if (!Directory.Exists(Path.GetDirectoryName(outPath))) throw new UsageException($"--out {outPath}: the folder {Path.GetDirectoryName(outPath)} does not exist.");
        if (outPath == Path.GetFullPath(modelText)) throw new UsageException($"--out {outPath} is the --model file: it would be replaced. Choose another --out.");
        return outPath;
    }

    /// <summary>The dataset at the model's input shape (synthetic data when no path is given).</summary>
    public static FaceDataset LoadData(string[]? paths, string? format, FerNetConfig config, bool skipBad, ulong seed = 0) =>
        DatasetLoader.Load(paths ?? [], format, new LoadOptions(config.Channels, config.Height, config.ImageWidth, SkipBad: skipBad, Seed: seed));
}
