using System.CommandLine;
using System.Text.Json;
using FerEngine.Model.Data;
using FerEngine.Model.Evaluation;
using FerEngine.Model.Network;

namespace FerEngine.Trainer.Commands;

/// <summary>`fer predict`: emotion with probabilities, and gender, race and age group, for images or folders of images.</summary>
public static class PredictCommand
{
    public static Command Create(TextWriter output)
    {
        var model = CommonOptions.Model();
        var inputs = new Argument<string[]>("images") { Description = "Image files and/or folders of images.", Arity = ArgumentArity.OneOrMore };
        var device = CommonOptions.Device();
        var json = new Option<bool>("--json") { Description = "Machine-readable output on stdout: one JSON object per image, one per line (JSON Lines)." };
        var command = new Command("predict", "Predict emotion, gender, race and age group for images.") { model, inputs, device, json };
        command.SetAction(parse =>
        {
            var error = parse.InvocationConfiguration.Error;   // stderr, or what Program.Run was given
            var net = CommonOptions.LoadModel(parse.GetValue(model)!, parse.GetValue(device)!, error);
            var tasks = CommonOptions.TrainedTasks(parse.GetValue(model)!, "predict", leftOut: "shown", error);
            var notImages = new List<string>();
            var files = Expand(parse.GetValue(inputs)!, notImages);
            if (notImages.Count > 0) error.WriteLine($"fer predict: not read, being none of {ImageFiles.Kinds}: {ImageFiles.Summary(notImages)}");
            if (files.Count == 0) throw new Training.UsageException($"no images found in the given paths ({ImageFiles.Kinds}).");
            var config = net.Config;
            var dataset = new FaceDataset(config.Channels, config.Height, config.ImageWidth);
            var readable = new List<string>();
            var images = ImageFolderReader.TryLoadAll(files, dataset);   // what cannot be read is skipped and listed
            for (int i = 0; i < files.Count; i++)
                if (images[i] is { } pixels)
                {
                    dataset.Test.Add(new FaceSample(pixels, default, files[i]));
                    readable.Add(files[i]);
                }
            foreach (var (file, reason) in dataset.Report.Skipped) error.WriteLine($"fer predict: skipped {file}: {reason}");
            if (readable.Count == 0) throw new InvalidDataException("none of the images could be decoded.");
            var predictions = Predict(net, dataset);
            for (int i = 0; i < readable.Count; i++)
                output.WriteLine(parse.GetValue(json) ? ToJsonLine(readable[i], predictions[i], tasks) : ToText(readable[i], predictions[i], tasks));
            return readable.Count == files.Count ? Program.Success : Program.Failure;
        });
        return command;
    }

    /// <summary>Softmax probabilities of every head for every test sample: [sample][task][class].</summary>
    internal static double[][][] Predict(FerNet net, FaceDataset dataset)
    {
        var result = new double[dataset.Test.Count][][];
        var device = net.Fc.Weight.Device;
        net.Eval();
        using var arena = device.CreateArena("predict");
        for (int start = 0; start < dataset.Test.Count; start += 64)
        {
            int count = Math.Min(64, dataset.Test.Count - start);
            using var step = device.BeginStep(arena);
            using var noGrad = Autograd.Autograd.NoGrad();
            var (x, _) = BatchBuilder.Build(dataset, dataset.Test, Enumerable.Range(start, count).ToArray(), device);
            var logits = net.ForwardTasks(x);
            var perTask = Enum.GetValues<FaceTask>().Select(t => logits[t].ToDoubles()).ToArray();
            for (int i = 0; i < count; i++)
                result[start + i] = Enum.GetValues<FaceTask>().Select(t => ClassProbabilities.Of(perTask[(int)t].AsSpan(i * FerNet.ClassCounts[(int)t], FerNet.ClassCounts[(int)t]))).ToArray();
        }
        return result;
    }

    /// <summary>The image files named, and the images in the folders named and their subfolders; the folders' other files go to <paramref name="notImages"/>.</summary>
    private static List<string> Expand(string[] paths, List<string> notImages) =>
        paths.SelectMany<string, string>(p => Directory.Exists(p)
                ? ImageFiles.In(p, recursive: true, notImages)
                : File.Exists(p) ? [p]
                : throw new Training.UsageException(p.StartsWith('-') ? $"{p}: not an option of fer predict, nor a file (see fer predict --help)." : $"{p}: no such file or folder."))
            .ToList();

    private static int Best(double[] p) => Array.IndexOf(p, p.Max());

    private static string Name(FaceTask task) => task.ToString().ToLowerInvariant();

    /// <summary>"face.png: happy (angry 2 %, ...); gender female, race ..., age 20-39", for the tasks given.</summary>
    private static string ToText(string file, double[][] p, IReadOnlyList<FaceTask> tasks)
    {
        var parts = new List<string>();
        if (tasks.Contains(FaceTask.Emotion))
        {
            var emotion = p[(int)FaceTask.Emotion];
            parts.Add($"{Labels.Emotion[Best(emotion)]} ({string.Join(", ", Labels.Emotion.Select((name, k) => $"{name} {emotion[k]:P0}"))})");
        }
        var others = tasks.Where(t => t != FaceTask.Emotion).Select(t => $"{Name(t)} {Labels.ClassNames(t)[Best(p[(int)t])]}").ToList();
        if (others.Count > 0) parts.Add(string.Join(", ", others));
        return $"{file}: {string.Join("; ", parts)}";
    }

    private static string ToJsonLine(string file, double[][] p, IReadOnlyList<FaceTask> tasks)
    {
        var line = new Dictionary<string, object> { ["image"] = file };
        foreach (var task in tasks)
        {
            line[Name(task)] = Labels.ClassNames(task)[Best(p[(int)task])];
            if (task == FaceTask.Emotion)
                line["emotion_probabilities"] = Labels.Emotion.Select((name, k) => (name, k)).ToDictionary(e => e.name, e => p[0][e.k]);
        }
        return JsonSerializer.Serialize(line);
    }
}
