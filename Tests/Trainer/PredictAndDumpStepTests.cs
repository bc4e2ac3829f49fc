using System.Text.Json;
using FerEngine.Checkpoint;
using FerEngine.Model.Network;
using FerEngine.Model.Training;
using FerEngine.Optim;

using static FerEngine.Tests.Trainer.FerCli;

namespace FerEngine.Tests.Trainer;

/// <summary>fer predict and fer dump-step on an untrained model: batching, heads shown, links, dropout, batch sizes.</summary>
[Collection(CpuThreadsCollection.Name)]
public sealed class PredictAndDumpStepTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("fer-predict-").FullName;
    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private string Model(Dictionary<string, string>? metadata = null)
    {
        string path = Path.Combine(_folder, "model.safetensors");
        ModelFile.Save(path, new FerNet(new FerNetConfig(Width: 0.125), Device.Cpu, seed: 5), metadata);
        return path;
    }

    private string Image(string name, Func<int, int> pixel)
    {
        string path = Path.Combine(_folder, name);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        using var stream = File.Create(path);
        new StbImageWriteSharp.ImageWriter().WritePng(Enumerable.Range(0, 48 * 48).Select(i => (byte)pixel(i)).ToArray(), 48, 48, StbImageWriteSharp.ColorComponents.Grey, stream);
        return path;
    }

    private static double[] EmotionProbabilities(string jsonLine)
    {
        using var json = JsonDocument.Parse(jsonLine);
        return json.RootElement.GetProperty("emotion_probabilities").EnumerateObject().Select(p => p.Value.GetDouble()).ToArray();
    }

    // predicting several images at once gives each image the probabilities it gets alone
    // (the softmax of image i reads row i of the logits).
    [Fact]
    public void Predicting_images_together_gives_each_its_own_probabilities()
    {
        string model = Model();
        string a = Image("a.png", i => i * 7), b = Image("b.png", i => i % 48 < 24 ? 30 : 220);
        var both = Fer("predict", "--model", model, a, b, "--json");
        Assert.True(both.Exit == 0, both.Error);
        var lines = both.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(2, lines.Length);
        foreach (var (image, line) in new[] { (a, lines[0]), (b, lines[1]) })
        {
            var alone = Fer("predict", "--model", model, image, "--json");
            Assert.True(alone.Exit == 0, alone.Error);
            double[] together = EmotionProbabilities(line), single = EmotionProbabilities(alone.Output.Trim());
            for (int k = 0; k < 7; k++) Assert.Equal(single[k], together[k], 5);
        }
    }

    // for a model trained without emotion labels, the text output shows only the trained heads
    // ("face.png: gender male"), no emotion and no probabilities; the JSON line likewise.
    [Fact]
    public void Predict_text_leaves_out_the_emotion_head_of_a_model_not_trained_on_it()
    {
        string model = Model(new() { [ModelFile.TrainedTasksKey] = "gender" });
        string image = Image("face.png", i => i * 3);
        var text = Fer("predict", "--model", model, image);
        Assert.True(text.Exit == 0, text.Error);
        Assert.Matches($"^{System.Text.RegularExpressions.Regex.Escape(image)}: gender (male|female|unsure)$", text.Output.Trim());
        var json = Fer("predict", "--model", model, image, "--json");
        using var line = JsonDocument.Parse(json.Output.Trim());
        Assert.False(line.RootElement.TryGetProperty("emotion", out _));
        Assert.False(line.RootElement.TryGetProperty("emotion_probabilities", out _));
        Assert.True(line.RootElement.TryGetProperty("gender", out _));
    }

    // a link inside an image folder that leads back to the folder is not followed:
    // the folder's image is predicted once, and the command succeeds.
    [Fact]
    public void Predict_does_not_follow_a_link_that_loops_back_to_the_folder()
    {
        string model = Model();
        string folder = Path.Combine(_folder, "faces");
        Image(Path.Combine("faces", "face.png"), i => i * 5);
        File.CreateSymbolicLink(Path.Combine(folder, "again"), folder);
        var (exit, output, error) = Fer("predict", "--model", model, folder);
        Assert.True(exit == 0, error);
        Assert.Single(output.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    // dump-step refuses --batch 1 as a usage error (exit 2) naming the option, before loading anything.
    [Fact]
    public void Dump_step_refuses_a_batch_of_one_as_a_usage_error()
    {
        string model = Model();
        var (exit, _, error) = Fer("dump-step", "--model", model, "--batch", "1", "--out", Path.Combine(_folder, "step.safetensors"));
        Assert.Equal(2, exit);
        Assert.Contains("--batch 1: must be at least 2", error);
    }

    // dump-step runs its step with dropout off (as its doc and PyTorch comparisons need): the dumped
    // total loss is the loss of a dropout-free TrainStep on the dumped input and labels.
    [Fact]
    public void Dump_step_runs_without_dropout()
    {
        string model = Model();
        string dump = Path.Combine(_folder, "step.safetensors");
        var dumped = Fer("dump-step", "--model", model, "--batch", "8", "--out", dump);
        Assert.True(dumped.Exit == 0, dumped.Error);
        var g = SafetensorsFile.Load(dump, Device.Cpu).Tensors;

        var net = ModelFile.Load(model, Device.Cpu);
        net.DropoutDisabled = true;
        using var step = new TrainStep(net, new Adam(net.NamedParameters(), 3e-4), new TaskWeights());
        string[] tasks = ["emotion", "gender", "race", "age"];
        var loss = step.Run(g["input"], tasks.Select(t => g[$"label.{t}"]).ToArray(), step: 0);
        double ours = loss.Total.Item(), dumpedTotal = g["loss.total"].Item();
        Assert.True(Math.Abs(ours - dumpedTotal) <= 1e-5 * Math.Abs(ours), $"dump-step total loss {dumpedTotal}, dropout-free step {ours}");
    }
}
