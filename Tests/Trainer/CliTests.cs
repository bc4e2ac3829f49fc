using System.Text.Json;
using FerEngine.Checkpoint;
using FerEngine.Model.Network;
using FerEngine.Trainer;
using FerEngine.Trainer.Training;

using static FerEngine.Tests.Trainer.FerCli;

namespace FerEngine.Tests.Trainer;

/// <summary>The `fer` commands end to end on small synthetic data: exit codes, files, output shapes, exact resume.</summary>
[Collection(CpuThreadsCollection.Name)]
public sealed class CliTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("fer-cli-").FullName;
    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private static readonly string[] Tiny =
        ["--width", "0.125", "--synthetic-train", "96", "--synthetic-validation", "32", "--batch", "16", "--threads", "2"];

    private string Run(string name) => Path.Combine(_folder, name);

    [Fact]
    public void Train_writes_the_run_folder_and_eval_reads_it()
    {
        var (exit, output, error) = Fer(["train", .. Tiny, "--epochs", "2", "--out", Run("a")]);
        Assert.True(exit == 0, error);
        Assert.Contains("Completed: best validation emotion accuracy", output);
        foreach (var file in new[] { "model.safetensors", "last.safetensors", "state.safetensors", "metrics.csv", "loss.png", "accuracy.png", "confusion_emotion.png" })
            Assert.True(new FileInfo(Path.Combine(Run("a"), file)).Length > 0, $"{file} missing or empty");
        var metrics = File.ReadAllLines(Path.Combine(Run("a"), "metrics.csv"));
        Assert.Equal(3, metrics.Length); // header + 2 epochs
        foreach (var line in metrics.Skip(1))   // img/s counts the training steps only: more than the epoch's 96 images over its seconds, which include validation
        {
            double[] values = line.Split(',').Select(v => double.Parse(v, System.Globalization.CultureInfo.InvariantCulture)).ToArray();
            Assert.True(values[3] > 96 / values[2], $"img/s {values[3]} is not above 96 images / {values[2]} s: validation and saving were counted");
        }
        Assert.Empty(Directory.GetFiles(Run("a"), "*.tmp-*"));
        Assert.False(File.Exists(Path.Combine(Run("a"), "test.json")), "the synthetic faces have no test split to score");

        var eval = Fer("eval", "--model", Path.Combine(Run("a"), "model.safetensors"), "--json", "--split", "validation", "--width", "0.125");
        Assert.Equal(2, eval.Exit); // --width is not an eval option: usage error
        eval = Fer("eval", "--model", Path.Combine(Run("a"), "model.safetensors"), "--json", "--split", "validation");
        Assert.True(eval.Exit == 0, eval.Error);
        using var json = JsonDocument.Parse(eval.Output);
        double accuracy = json.RootElement.GetProperty("emotion_accuracy").GetDouble();
        Assert.InRange(accuracy, 0, 1);
        var emotion = json.RootElement.GetProperty("tasks").GetProperty("emotion");
        Assert.Equal(7, emotion.GetProperty("confusion").GetArrayLength());
        // mean class accuracy: the recalls of the classes with labelled images, averaged
        var recalls = emotion.GetProperty("per_class").EnumerateArray().Where(c => c.GetProperty("support").GetInt64() > 0).Select(c => c.GetProperty("recall").GetDouble()).ToList();
        Assert.Equal(recalls.Average(), emotion.GetProperty("mean_class_accuracy").GetDouble(), 12);
        Assert.InRange(emotion.GetProperty("macro_f1").GetDouble(), 0, 1);
    }

    /// <summary>
    /// --init: a new run starts from a trained model's weights and takes its network; a run that asks for another
    /// network, a missing file, or a resume that names another model is refused.
    /// </summary>
    [Fact]
    public void Init_fine_tunes_a_trained_model_with_its_network()
    {
        var pretrained = Fer(["train", .. Tiny, "--image-size", "40x56", "--epochs", "1", "--out", Run("pretrained")]);
        Assert.True(pretrained.Exit == 0, pretrained.Error);
        string model = Path.Combine(Run("pretrained"), "model.safetensors");

        // No --width or --image-size: the model's (width 0.125, 40 x 56). At lr 1e-9 a step moves each weight by
        // about 1e-9, so the fine-tuned weights must still be the pretrained ones; random ones differ by ~0.1.
        string[] small = ["--synthetic-train", "96", "--synthetic-validation", "32", "--batch", "16", "--threads", "2", "--epochs", "1"];
        var tuned = Fer(["train", .. small, "--init", model, "--lr", "1e-9", "--out", Run("tuned")]);
        Assert.True(tuned.Exit == 0, tuned.Error);
        Assert.Contains($"weights from {model}; Adam, the learning-rate schedule and early stopping start afresh", tuned.Output);
        var before = SafetensorsFile.Load(model, Device.Cpu).Tensors;
        var after = SafetensorsFile.Load(Path.Combine(Run("tuned"), "last.safetensors"), Device.Cpu);
        Assert.Equal(new Shape(16, 32 * 5 * 7), after.Tensors["fc.weight"].Shape);
        foreach (var name in new[] { "conv1.weight", "conv6.weight", "fc.weight", "head_emotion.weight" })
        {
            float[] x = before[name].ToArray<float>(), y = after.Tensors[name].ToArray<float>();
            Assert.True(x.Zip(y).Max(p => Math.Abs(p.First - p.Second)) < 1e-6, $"{name} moved away from the pretrained weights");
        }
        Assert.Equal(model, after.Metadata[ModelFile.InitKey]);

        var otherNetwork = Fer(["train", .. small, "--init", model, "--width", "0.25", "--image-size", "40x56", "--out", Run("other")]);
        Assert.Equal(2, otherNetwork.Exit);
        Assert.Contains($"--init {model} fixes the network, but --width 0.25 (the model has 0.125). Leave those options out", otherNetwork.Error);
        Assert.False(Directory.Exists(Run("other")));
        var missing = Fer(["train", .. small, "--init", Run("nothing.safetensors"), "--out", Run("missing")]);
        Assert.Equal(2, missing.Exit);
        Assert.Contains("--init " + Run("nothing.safetensors") + ": no such file", missing.Error);
        var resumedElsewhere = Fer("train", "--resume", "--init", Path.Combine(Run("tuned"), "model.safetensors"), "--out", Run("tuned"));
        Assert.Equal(2, resumedElsewhere.Exit);
        Assert.Contains("--init", resumedElsewhere.Error);
    }

    [Fact]
    public void A_colour_model_trains_and_predicts_a_colour_image()
    {
        var train = Fer(["train", .. Tiny, "--channels", "3", "--image-size", "40", "--epochs", "1", "--out", Run("colour")]);
        Assert.True(train.Exit == 0, train.Error);
        Assert.Contains("3x40x40 input", train.Output);
        string model = Path.Combine(Run("colour"), "model.safetensors");
        Assert.Equal(new Shape(8, 3, 5, 5), SafetensorsFile.Load(model, Device.Cpu).Tensors["conv1.weight"].Shape);   // width 0.125: 8 filters of 3 channels

        string image = Path.Combine(_folder, "colour_face.png");
        var pixels = Enumerable.Range(0, 64 * 64 * 3).Select(i => (byte)(i % 3 == 0 ? 200 : 40)).ToArray();   // reddish, 64 x 64: resized to 40
        using (var stream = File.Create(image))
            new StbImageWriteSharp.ImageWriter().WritePng(pixels, 64, 64, StbImageWriteSharp.ColorComponents.RedGreenBlue, stream);
        var predict = Fer("predict", "--model", model, image, "--json");
        Assert.True(predict.Exit == 0, predict.Error);
        using var json = JsonDocument.Parse(predict.Output);
        Assert.Equal(image, json.RootElement.GetProperty("image").GetString());
        Assert.Equal(1.0, json.RootElement.GetProperty("emotion_probabilities").EnumerateObject().Sum(p => p.Value.GetDouble()), 5);
    }

    [Fact]
    public void A_model_of_non_square_images_trains_predicts_and_resumes_only_at_its_size()
    {
        var train = Fer(["train", .. Tiny, "--image-size", "40x56", "--epochs", "1", "--out", Run("wide")]);
        Assert.True(train.Exit == 0, train.Error);
        Assert.Contains("1x40x56 input", train.Output);
        string model = Path.Combine(Run("wide"), "model.safetensors");
        Assert.Equal(new Shape(16, 32 * 5 * 7), SafetensorsFile.Load(model, Device.Cpu).Tensors["fc.weight"].Shape);   // width 0.125: 32 channels of 40/8 x 56/8

        string image = Path.Combine(_folder, "wide_face.png");
        using (var stream = File.Create(image))
            new StbImageWriteSharp.ImageWriter().WritePng(Enumerable.Repeat((byte)120, 48 * 48).ToArray(), 48, 48, StbImageWriteSharp.ColorComponents.Grey, stream);
        var predict = Fer("predict", "--model", model, image);
        Assert.True(predict.Exit == 0, predict.Error);

        var resized = Fer(["train", "--resume", "--out", Run("wide"), "--image-size", "48", "--epochs", "2"]);
        Assert.Equal(2, resized.Exit);   // a usage error: the run's own size is the one to resume with
        Assert.Contains("--image-size 48 (the run has 40x56)", resized.Error);
    }

    [Fact]
    public void Resume_continues_bitwise_exactly()
    {
        Assert.Equal(0, Fer(["train", .. Tiny, "--epochs", "2", "--out", Run("straight")]).Exit);
        Assert.Equal(0, Fer(["train", .. Tiny, "--epochs", "1", "--out", Run("resumed")]).Exit);
        var resumed = Fer(["train", .. Tiny, "--epochs", "2", "--out", Run("resumed"), "--resume"]);
        Assert.True(resumed.Exit == 0, resumed.Error);
        Assert.Contains("resuming", resumed.Output);

        var a = SafetensorsFile.Load(Path.Combine(Run("straight"), "last.safetensors"), Device.Cpu).Tensors;
        var b = SafetensorsFile.Load(Path.Combine(Run("resumed"), "last.safetensors"), Device.Cpu).Tensors;
        Assert.Equal(a.Keys.Order(), b.Keys.Order());
        foreach (var name in a.Keys) Assert.Equal(a[name].ToArray<float>(), b[name].ToArray<float>());
        Assert.Equal(File.ReadAllText(Path.Combine(Run("straight"), "metrics.csv")).Split('\n').Length,
            File.ReadAllText(Path.Combine(Run("resumed"), "metrics.csv")).Split('\n').Length);
    }

    [Fact]
    public void The_model_file_holds_the_best_epochs_weights_and_patience_ends_the_run()
    {
        // Epoch by epoch through --resume, which continues bit for bit (above), keeping each epoch's last weights.
        string[] run = [.. Tiny, "--patience", "2", "--out", Run("best")];
        Dictionary<string, float[]> Weights(string file) => SafetensorsFile.Load(Path.Combine(Run("best"), file), Device.Cpu).Tensors
            .ToDictionary(t => t.Key, t => t.Value.ToArray<float>());
        var afterEpoch = new List<Dictionary<string, float[]>>();
        string output = "";
        for (int epochs = 1; epochs <= 8 && !output.Contains("early stopping"); epochs++)
        {
            var result = Fer(["train", .. run, "--epochs", $"{epochs}", .. epochs > 1 ? new[] { "--resume" } : []]);
            Assert.True(result.Exit == 0, result.Error);
            output = result.Output;
            afterEpoch.Add(Weights("last.safetensors"));
        }
        double[] accuracy = File.ReadAllLines(Path.Combine(Run("best"), "metrics.csv")).Skip(1)
            .Select(line => double.Parse(line.Split(',')[9], System.Globalization.CultureInfo.InvariantCulture)).ToArray();   // val_acc_emotion
        Assert.Equal(afterEpoch.Count, accuracy.Length);
        int best = Array.IndexOf(accuracy, accuracy.Max());   // the first epoch that reached it: a tie is no improvement
        Assert.True(best < accuracy.Length - 1, "this seed's run must have an epoch no better than an earlier one, or the test shows nothing");
        var model = Weights("model.safetensors");
        Assert.Equal(afterEpoch[best].Keys.Order(), model.Keys.Order());
        foreach (var (name, values) in afterEpoch[best]) Assert.Equal(values, model[name]);
        // Patience 2: the run ends two epochs after its best unless the 8 epochs ran out first.
        if (output.Contains("early stopping")) Assert.Equal(best + 3, accuracy.Length);
        else Assert.Equal(8, accuracy.Length);
    }

    [Fact]
    public void Resume_without_a_previous_run_says_what_is_missing()
    {
        var (exit, _, error) = Fer(["train", .. Tiny, "--epochs", "1", "--out", Run("none"), "--resume"]);
        Assert.Equal(1, exit);
        Assert.Contains("last.safetensors is missing", error);
        Assert.False(Directory.Exists(Run("none")));   // nor a folder holding only the lock file
    }

    [Fact]
    public void A_checkpoint_that_cannot_be_written_leaves_the_previous_one_and_says_how_to_go_on()
    {
        Assert.Equal(0, Fer(["train", .. Tiny, "--epochs", "1", "--out", Run("blocked")]).Exit);
        byte[] saved = File.ReadAllBytes(Path.Combine(Run("blocked"), "last.safetensors"));
        string pending = Path.Combine(Run("blocked"), ".last.safetensors.pending");
        Directory.CreateDirectory(pending);   // the weights cannot be renamed into place, as on a full disk they cannot be written
        var (exit, _, error) = Fer(["train", .. Tiny, "--epochs", "2", "--out", Run("blocked"), "--resume"]);
        Assert.Equal(1, exit);
        Assert.Contains($"cannot save the checkpoint in {Run("blocked")}: ", error);
        Assert.Contains("still hold the previous save: make room, then continue with --resume.", error);
        Assert.DoesNotContain(".tmp-", error);   // no temporary file's name
        Assert.Equal(saved, File.ReadAllBytes(Path.Combine(Run("blocked"), "last.safetensors")));

        Directory.Delete(pending);
        var resumed = Fer(["train", .. Tiny, "--epochs", "2", "--out", Run("blocked"), "--resume"]);
        Assert.True(resumed.Exit == 0, resumed.Error);
    }

    [Fact]
    public void A_run_that_stopped_before_its_first_checkpoint_says_how_to_start_again()
    {
        Assert.Equal(0, Fer(["train", .. Tiny, "--epochs", "1", "--out", Run("cut")]).Exit);
        foreach (string file in new[] { "last.safetensors", "state.safetensors" })   // as a full disk at the first save leaves it
            File.Delete(Path.Combine(Run("cut"), file));
        var (exit, _, error) = Fer(["train", .. Tiny, "--epochs", "1", "--out", Run("cut"), "--resume"]);
        Assert.Equal(1, exit);
        Assert.Contains("stopped before it saved a checkpoint to resume from. Start it again with --overwrite", error);
        Assert.True(Fer(["train", .. Tiny, "--epochs", "1", "--out", Run("cut"), "--overwrite"]).Exit == 0);   // and that advice works
    }

    [Fact]
    public void Only_a_held_lock_reads_as_a_run_in_use()
    {
        using (RunLock.Acquire(Run("held")))
        {
            var e = Assert.Throws<IOException>(() => RunLock.Acquire(Run("held")));
            Assert.Contains("is in use by another `fer train`", e.Message);
            Assert.True(RunLock.HeldByAnother((IOException)e.InnerException!));
        }
        // A finished run's lock file on a read-only file system: opening it fails with EROFS (30), which
        // .NET reports as an IOException carrying that code. That is "cannot write there", not "in use".
        Assert.False(RunLock.HeldByAnother(new IOException("Read-only file system : '.fer-train.lock'", 30)));
    }

    [Fact]
    public void A_run_folder_in_use_by_another_run_is_refused()
    {
        Assert.Equal(0, Fer(["train", .. Tiny, "--epochs", "1", "--out", Run("busy")]).Exit);
        string temporary = Path.Combine(Run("busy"), ".state.safetensors.tmp-123");   // as if the other run were saving now
        File.WriteAllBytes(temporary, [1]);

        using (RunLock.Acquire(Run("busy")))   // the other run (flock conflicts within one process too)
        {
            foreach (var args in new[] { ["--resume"], ["--overwrite"], new[] { "--epochs", "1" } })
            {
                var (exit, _, error) = Fer(["train", .. Tiny, "--out", Run("busy"), .. args]);
                Assert.Equal(1, exit);
                Assert.Contains("is in use by another `fer train`", error);
            }
            Assert.True(File.Exists(temporary), "a refused resume must not tidy the other run's save");
            Assert.Equal(Run("busy") + "-2", RunFolder.FirstFree(Run("busy")));
            Assert.Equal(Run("busy") + "-2", RunFolder.FirstFree(Run("busy") + "-2"));
        }

        Assert.False(RunLock.IsHeld(Run("busy")));
        var resumed = Fer(["train", .. Tiny, "--epochs", "2", "--out", Run("busy"), "--resume"]);
        Assert.True(resumed.Exit == 0, resumed.Error);
        Assert.False(File.Exists(temporary));
    }

    [Fact]
    public void Task_weights_weight_the_joint_loss_and_stay_with_the_run()
    {
        var run = Fer(["train", .. Tiny, "--epochs", "1", "--task-weights", "1,3,0.5,0", "--out", Run("w")]);
        Assert.True(run.Exit == 0, run.Error);
        Assert.Contains("joint loss weights (emotion,gender,race,age): 1,3,0.5,0", run.Output);
        // Every synthetic image has all four labels, so the epoch's mean total is the weighted sum of the task means.
        var m = EpochMetrics.FromCsv(File.ReadAllText(Path.Combine(Run("w"), "metrics.csv")))[0];
        double weighted = 1 * m.TrainEmotionLoss + 3 * m.TrainGenderLoss + 0.5 * m.TrainRaceLoss + 0 * m.TrainAgeLoss;
        Assert.True(Math.Abs(m.TrainLoss - weighted) <= 1e-5 * weighted, $"total {m.TrainLoss} vs weighted sum {weighted}");
        Assert.True(double.IsNaN(m.ValidationAgeAccuracy) && !double.IsNaN(m.ValidationRaceAccuracy), "age, weighted 0, is not scored; race is");
        Assert.Contains("age n/a", run.Output);
        Assert.False(File.Exists(Path.Combine(Run("w"), "confusion_age.png")));

        var resumed = Fer("train", "--resume", "--out", Run("w"), "--epochs", "2");
        Assert.True(resumed.Exit == 0, resumed.Error);
        Assert.Contains("joint loss weights (emotion,gender,race,age): 1,3,0.5,0", resumed.Output);
        var different = Fer("train", "--resume", "--out", Run("w"), "--epochs", "3", "--task-weights", "2,0.1,1.5,4");
        Assert.Equal(2, different.Exit);
        Assert.Contains("--task-weights 2,0.1,1.5,4 (the run has 1,3,0.5,0)", different.Error);
        // Age, weighted 0, was not trained: the model file does not claim it (eval and predict leave it out).
        Assert.Equal([FaceTask.Emotion, FaceTask.Gender, FaceTask.Race], ModelFile.TrainedTasks(Path.Combine(Run("w"), "model.safetensors")));

        // FER2013 labels emotion alone: weighting it 0 would train nothing.
        string csv = Path.Combine(_folder, "emotion_only.csv");
        string pixels = string.Join(' ', Enumerable.Repeat("7", 2304));
        File.WriteAllLines(csv, ["emotion,pixels,Usage", .. Enumerable.Range(0, 4).Select(i => $"{i},{pixels},Training"), $"2,{pixels},PublicTest"]);
        var nothing = Fer("train", "--data", csv, "--width", "0.125", "--task-weights", "0,1,1,1", "--out", Run("nothing"));
        Assert.Equal(2, nothing.Exit);
        Assert.Contains("--task-weights 0,1,1,1 gives weight 0 to every task the training data labels (emotion)", nothing.Error);
        Assert.False(Directory.Exists(Run("nothing")));
    }

    [Fact]
    public void Resume_runs_with_the_saved_options_and_refuses_different_ones()
    {
        Assert.Equal(0, Fer(["train", .. Tiny, "--epochs", "1", "--out", Run("r")]).Exit);

        // Only --epochs given: the run's width, data and batch come from its state, not from the defaults.
        var resumed = Fer("train", "--resume", "--out", Run("r"), "--epochs", "2");
        Assert.True(resumed.Exit == 0, resumed.Error);
        Assert.Contains("resuming", resumed.Output);
        Assert.Equal(3, File.ReadAllLines(Path.Combine(Run("r"), "metrics.csv")).Length);   // header + 2 epochs

        var different = Fer("train", "--resume", "--out", Run("r"), "--epochs", "3", "--width", "0.25", "--batch", "16");
        Assert.Equal(2, different.Exit);
        Assert.Contains("--width 0.25 (the run has 0.125)", different.Error);
        Assert.Contains("--data", Fer("train", "--resume", "--out", Run("r"), "--data", _folder).Error);   // synthetic data cannot have moved
        Assert.DoesNotContain("--batch", different.Error);   // the same as the run's: no conflict

        // The resumed run saved its own --epochs: a plain --resume later sees 2 epochs done of 2, not of 1.
        var again = Fer("train", "--resume", "--out", Run("r"));
        Assert.True(again.Exit == 0, again.Error);
        Assert.Contains("all 2 epochs", again.Output);

        // A default value given explicitly is the run's value.
        Assert.Equal(0, Fer(["train", "--width", "0.125", "--synthetic-validation", "32", "--batch", "16", "--threads", "2", "--epochs", "1", "--out", Run("d")]).Exit);
        var explicitDefault = Fer("train", "--resume", "--out", Run("d"), "--synthetic-train", "2000", "--format", "synthetic");
        Assert.True(explicitDefault.Exit == 0, explicitDefault.Error);
    }

    [Fact]
    public void A_new_run_never_writes_over_an_earlier_one_unless_told_to()
    {
        Assert.Equal(0, Fer(["train", .. Tiny, "--epochs", "1", "--out", Run("o")]).Exit);
        string model = Path.Combine(Run("o"), "model.safetensors");
        byte[] before = File.ReadAllBytes(model);

        var again = Fer(["train", .. Tiny, "--epochs", "1", "--seed", "5", "--out", Run("o")]);
        Assert.Equal(2, again.Exit);
        Assert.Contains("holds an earlier run", again.Error);
        Assert.Equal(before, File.ReadAllBytes(model));

        // A replacement that fails before its first save leaves the earlier run as it was.
        var diverged = Fer(["train", .. Tiny, "--epochs", "1", "--lr", "1e30", "--out", Run("o"), "--overwrite"]);
        Assert.Equal(1, diverged.Exit);
        Assert.Contains("is left as it was", diverged.Error);
        Assert.Equal(before, File.ReadAllBytes(model));

        File.WriteAllBytes(Path.Combine(Run("o"), "notes.png"), [1]);   // the user's, not the run's
        var replaced = Fer(["train", .. Tiny, "--epochs", "1", "--seed", "5", "--out", Run("o"), "--overwrite"]);
        Assert.True(replaced.Exit == 0, replaced.Error);
        Assert.NotEqual(before, File.ReadAllBytes(model));
        Assert.True(File.Exists(Path.Combine(Run("o"), "notes.png")));

        // Where a run goes when --out is not given: the first of the name, -2, -3, ... that holds no run and is no file.
        Assert.Equal(Run("o") + "-2", RunFolder.FirstFree(Run("o")));
        Assert.Equal(Run("fresh"), RunFolder.FirstFree(Run("fresh")));
        File.WriteAllText(Run("a-file"), "");
        Assert.Equal(Run("a-file") + "-2", RunFolder.FirstFree(Run("a-file")));
    }

    [Theory]
    [InlineData("--lr", "nan")]
    [InlineData("--lr", "0")]
    [InlineData("--width", "nan")]
    [InlineData("--patience", "0")]
    [InlineData("--image-size", "-8")]
    [InlineData("--image-size", "40x50")]   // 50 is no multiple of 8
    [InlineData("--synthetic-train", "0")]
    [InlineData("--batch", "1")]
    [InlineData("--channels", "2")]
    [InlineData("--task-weights", "2,1,1.5")]
    [InlineData("--task-weights", "2,-1,1.5,4")]
    [InlineData("--task-weights", "0,0,0,0")]
    [InlineData("--task-weights", "2,x,1.5,4")]
    public void Out_of_range_training_options_are_usage_errors(string option, string value)
    {
        var (exit, _, error) = Fer("train", option, value, "--out", Run("bad"));
        Assert.Equal(2, exit);
        Assert.Contains($"{option} {value}", error, StringComparison.OrdinalIgnoreCase);
        Assert.False(Directory.Exists(Run("bad")));
    }

    [Fact]
    public void A_data_path_can_name_its_format_and_the_run_keeps_it()
    {
        // A UTKFace folder that also holds other images: too few UTKFace names for detection to be sure.
        string wild = Path.Combine(_folder, "wild");
        Directory.CreateDirectory(wild);
        for (int i = 0; i < 45; i++)
            using (var stream = File.Create(Path.Combine(wild, i < 20 ? $"{20 + i}_{i % 2}_{i % 5}_20170116174525125.jpg.chip.jpg" : $"scan_{i}.jpg")))
                new StbImageWriteSharp.ImageWriter().WriteJpg(new byte[48 * 48], 48, 48, StbImageWriteSharp.ColorComponents.Grey, stream, 90);
        string[] options = ["--width", "0.125", "--batch", "8", "--out", Run("own")];
        Assert.Contains("cannot tell the dataset format", Fer(["train", "--data", wild, "--epochs", "1", .. options]).Error);

        var run = Fer(["train", "--data", "utkface=" + wild, "--epochs", "1", .. options]);
        Assert.True(run.Exit == 0, run.Error);
        Assert.Contains("18 training, 2 validation", run.Output);
        var resumed = Fer("train", "--resume", "--out", Run("own"), "--epochs", "2");   // the run's own data, format included
        Assert.True(resumed.Exit == 0, resumed.Error);
        Assert.Equal(3, File.ReadAllLines(Path.Combine(Run("own"), "metrics.csv")).Length);

        var missing = Fer("train", "--data", "utkface=" + Run("nowhere"), "--out", Run("bad"));
        Assert.Equal(2, missing.Exit);
        Assert.Contains($"--data utkface={Run("nowhere")}: no such file or folder", missing.Error);
    }

    [Theory]
    [InlineData("train")]
    [InlineData("eval")]
    [InlineData("dump-step")]
    public void A_data_path_that_is_not_there_is_a_usage_error(string command)
    {
        string missing = Run("no-such-dataset.csv");
        string[] others = command switch
        {
            "train" => ["--out", Run("bad")],
            "eval" => ["--model", Run("any.safetensors")],
            _ => ["--model", Run("any.safetensors"), "--out", Run("dump.safetensors")],
        };
        var (exit, _, error) = Fer([command, "--data", missing, .. others]);
        Assert.Equal(2, exit);
        Assert.Contains($"--data {missing}: no such file or folder", error);
        Assert.False(Directory.Exists(Run("bad")));
    }

    [Theory]
    [InlineData("train")]
    [InlineData("eval")]
    [InlineData("dump-step")]
    public void An_unknown_option_after_the_data_paths_is_named_as_an_option(string command)
    {
        string csv = Run("present.csv");
        File.WriteAllText(csv, "emotion,pixels,Usage\n");
        string[] others = command switch
        {
            "train" => ["--out", Run("bad")],
            "eval" => ["--model", Run("any.safetensors")],
            _ => ["--model", Run("any.safetensors"), "--out", Run("dump.safetensors")],
        };
        var (exit, _, error) = Fer([command, "--data", csv, "--bogus", .. others]);   // --data takes several paths: --bogus is parsed as one
        Assert.Equal(2, exit);
        Assert.Contains("--bogus: not an option of this command", error);
        Assert.DoesNotContain("no such file", error);
    }

    [Theory]
    [InlineData("--lr", "abc", "as a number")]             // an option with a range check (it crashed with a stack trace)
    [InlineData("--batch", "2.5", "as a whole number")]
    [InlineData("--epochs", "99999999999", "as a whole number")]
    [InlineData("--synthetic-train", "many", "as a whole number")]
    [InlineData("--seed", "-1", "as a whole number, 0 or more")]
    public void Values_that_are_not_numbers_are_usage_errors_in_plain_words(string option, string value, string expected)
    {
        var (exit, _, error) = Fer("train", option, value, "--out", Run("bad"));
        Assert.Equal(2, exit);
        Assert.Contains($"'{value}' for option '{option}' {expected}", error);
        Assert.DoesNotContain("System.", error);
        Assert.False(Directory.Exists(Run("bad")));
    }

    [Fact]
    public void Corrupt_run_files_and_too_little_data_fail_with_the_file_named()
    {
        Assert.Equal(0, Fer(["train", .. Tiny, "--epochs", "1", "--out", Run("c")]).Exit);
        string model = Path.Combine(Run("c"), "model.safetensors"), state = Path.Combine(Run("c"), "state.safetensors");
        void Rewrite(string path, string key, string value)
        {
            var content = SafetensorsFile.Load(path, Device.Cpu);
            var metadata = new Dictionary<string, string>(content.Metadata) { [key] = value };
            SafetensorsFile.Save(path, content.Tensors.Select(t => (t.Key, t.Value)), metadata);
        }
        Rewrite(model, "config", "{not json");
        var predict = Fer("eval", "--model", model);
        Assert.Equal(1, predict.Exit);
        Assert.Contains(model, predict.Error);
        Assert.Contains("does not describe a network", predict.Error);

        Rewrite(state, "training_state", "[1, 2]");
        var resume = Fer("train", "--resume", "--out", Run("c"), "--epochs", "2");
        Assert.Equal(1, resume.Exit);
        Assert.Contains(state, resume.Error);

        var evalBatch = Fer("eval", "--model", Path.Combine(Run("c"), "last.safetensors"), "--batch", "0");
        Assert.Equal(2, evalBatch.Exit);
        var evalFolder = Fer("eval", "--model", Run("c"));
        Assert.Equal(2, evalFolder.Exit);
        Assert.Contains("a folder; pass the model file in it", evalFolder.Error);

        // A damaged model.safetensors (the best weights) stops a resume, saying how to go on.
        Assert.Equal(0, Fer(["train", .. Tiny, "--epochs", "1", "--out", Run("best")]).Exit);
        File.WriteAllBytes(Path.Combine(Run("best"), "model.safetensors"), [1, 2, 3]);
        var damagedBest = Fer("train", "--resume", "--out", Run("best"), "--epochs", "2");
        Assert.Equal(1, damagedBest.Exit);
        Assert.Contains("restore the file from a copy, or delete it", damagedBest.Error);

        // Weights with a NaN give no predictions: the file is refused, not read into NaN scores.
        string last = Path.Combine(Run("c"), "last.safetensors");
        var weights = SafetensorsFile.Load(last, Device.Cpu);
        var poisoned = weights.Tensors.Select(t => (t.Key, t.Key == "fc.weight" ? Poisoned(t.Value) : t.Value));
        static Tensor Poisoned(Tensor t) { var values = t.ToArray<float>(); values[7] = float.NaN; return Tensor.FromArray(values, t.Shape, Device.Cpu); }
        SafetensorsFile.Save(last, poisoned, weights.Metadata);
        var nan = Fer("eval", "--model", last);
        Assert.Equal(1, nan.Exit);
        Assert.Contains("tensor fc.weight holds NaN or infinite values", nan.Error);

        // A batch that cannot fit in memory is refused before it is tried (8x width at 1024 x 1024: about 45 GB per image,
        // 1.8 TB for the batch, more than any machine this runs on).
        var huge = Fer("train", "--width", "8", "--image-size", "1024", "--synthetic-train", "40", "--synthetic-validation", "8", "--batch", "40", "--out", Run("huge"));
        Assert.Equal(2, huge.Exit);
        Assert.Contains("--batch 40 needs about", huge.Error);
        Assert.Contains("GiB of images", huge.Error);   // the loaded images' memory is counted too
        var hugeEmulated = Fer("train", "--device", "emulated", "--width", "8", "--image-size", "1024", "--synthetic-train", "40", "--synthetic-validation", "8", "--batch", "40", "--out", Run("huge"));
        Assert.Equal(2, hugeEmulated.Exit);   // the emulated GPU's memory is this machine's too
        Assert.Contains("--batch 40 needs about", hugeEmulated.Error);
        // So are synthetic faces that cannot fit (10^6 images of 1024 x 1024: about 1 TB), before they are made.
        var many = Fer("train", "--image-size", "1024", "--synthetic-train", "1000000", "--out", Run("many"));
        Assert.Equal(2, many.Exit);
        Assert.Contains("GiB of images", many.Error);
        Assert.False(Directory.Exists(Run("many")));

        // A learning rate that makes the loss NaN stops the run (exit 1) before NaN weights are saved as the best.
        var diverged = Fer(["train", .. Tiny, "--epochs", "1", "--lr", "1e30", "--out", Run("nan")]);
        Assert.Equal(1, diverged.Exit);
        Assert.Contains("training diverged", diverged.Error);
        Assert.False(Directory.Exists(Run("nan")));   // nothing was saved: no empty run folder is left either

        string csv = Path.Combine(_folder, "two_rows.csv");
        string pixels = string.Join(' ', Enumerable.Repeat("7", 2304));
        File.WriteAllLines(csv, ["emotion,pixels,Usage", $"1,{pixels},Training", $"2,{pixels},PublicTest"]);
        var tiny = Fer("train", "--data", csv, "--width", "0.125", "--epochs", "1", "--out", Run("tiny"));
        Assert.Equal(1, tiny.Exit);
        Assert.Contains("1 training image(s): a training batch needs at least 2", tiny.Error);
    }

    [Fact]
    public void A_format_that_does_not_fit_the_path_and_an_out_that_is_a_file_fail_before_any_work()
    {
        var folderAsCsv = Fer("train", "--format", "fer2013", "--data", _folder, "--out", Run("f"));
        Assert.Equal(1, folderAsCsv.Exit);
        Assert.Contains("--format fer2013 reads a .csv file, and this is a folder", folderAsCsv.Error);
        var syntheticWithData = Fer("train", "--format", "synthetic", "--data", _folder, "--out", Run("f"));
        Assert.Equal(2, syntheticWithData.Exit);
        Assert.Contains("leave out --data", syntheticWithData.Error);
        Assert.Equal(2, Fer("train", "--format", "bogus", "--out", Run("f")).Exit);

        string file = Path.Combine(_folder, "a-file");
        File.WriteAllText(file, "");
        var outIsFile = Fer(["train", .. Tiny, "--epochs", "1", "--out", file]);
        Assert.Equal(1, outIsFile.Exit);
        Assert.Contains("cannot write the run's files there", outIsFile.Error);
        Assert.DoesNotContain("epoch", outIsFile.Output);   // before any training
    }

    [Fact]
    public void Usage_errors_exit_with_2_and_a_message()
    {
        var unknown = Fer("train", "--no-such-option");
        Assert.Equal(2, unknown.Exit);
        Assert.Contains("--no-such-option", unknown.Error);
        var device = Fer(["train", .. Tiny, "--device", "tpu", "--out", Run("d")]);
        Assert.Equal(2, device.Exit);
        Assert.Contains("unknown device", device.Error);
        var model = Fer("eval", "--model", Run("missing.safetensors"));
        Assert.Equal(2, model.Exit);
        Assert.Contains("no such file", model.Error);
    }

    [Fact]
    public void A_malformed_csv_row_fails_with_file_and_line_unless_skipped()
    {
        string csv = Path.Combine(_folder, "fer2013.csv");
        string pixels = string.Join(' ', Enumerable.Range(0, 2304).Select(i => i % 256));
        var lines = new List<string> { "emotion,pixels,Usage" };
        for (int i = 0; i < 40; i++) lines.Add($"{i % 7},{pixels},{(i < 30 ? "Training" : "PublicTest")}");
        lines.Insert(5, $"3,{string.Join(' ', Enumerable.Range(0, 2000))},Training"); // line 6: wrong pixel count
        File.WriteAllLines(csv, lines);
        var failed = Fer("train", "--data", csv, "--width", "0.125", "--epochs", "1", "--batch", "8", "--out", Run("csv"));
        Assert.Equal(1, failed.Exit);
        Assert.Contains($"{csv}:6", failed.Error);
        Assert.Contains("2000 pixel values", failed.Error);
        var skipped = Fer("train", "--data", csv, "--width", "0.125", "--epochs", "1", "--batch", "8", "--skip-bad", "--out", Run("csv"));
        Assert.True(skipped.Exit == 0, skipped.Error);
        Assert.Contains("skipped 1 item", skipped.Output);
        Assert.Contains($"{csv}:6: ", skipped.Output);
        Assert.DoesNotContain($"{csv}:6: {csv}:6", skipped.Output);   // the location once

        // The model trained past the bad row can be evaluated on the same file, as the error advises.
        string model = Path.Combine(Run("csv"), "model.safetensors");
        var evalFailed = Fer("eval", "--model", model, "--data", csv, "--split", "validation");
        Assert.Equal(1, evalFailed.Exit);
        Assert.Contains("--skip-bad", evalFailed.Error);
        var evalSkipped = Fer("eval", "--model", model, "--data", csv, "--split", "validation", "--skip-bad", "--json");
        Assert.True(evalSkipped.Exit == 0, evalSkipped.Error);
        using var json = JsonDocument.Parse(evalSkipped.Output);
        Assert.Equal(10, json.RootElement.GetProperty("samples").GetInt32());
    }

    [Fact]
    public void A_fer2013_csv_trains_evaluates_on_its_test_split_and_predicts()
    {
        string csv = Path.Combine(_folder, "fer2013.csv");
        var lines = new List<string> { "emotion,pixels,Usage" };
        string[] usages = ["Training", "PublicTest", "PrivateTest"];
        for (int i = 0; i < 90; i++)
        {
            int emotion = i % 7;
            // A learnable pattern: a bright horizontal band whose row depends on the emotion.
            var pixels = Enumerable.Range(0, 2304).Select(p => p / 48 / 6 == emotion ? 230 : (p * 37 + i) % 60);
            lines.Add($"{emotion},{string.Join(' ', pixels)},{usages[i < 60 ? 0 : i < 75 ? 1 : 2]}");
        }
        File.WriteAllLines(csv, lines);
        var train = Fer("train", "--data", csv, "--width", "0.125", "--epochs", "2", "--batch", "16", "--out", Run("csvrun"));
        Assert.True(train.Exit == 0, train.Error);
        Assert.Contains("60 training, 15 validation, 15 test images", train.Output);
        string model = Path.Combine(Run("csvrun"), "model.safetensors");

        var eval = Fer("eval", "--model", model, "--data", csv, "--split", "test", "--json");
        Assert.True(eval.Exit == 0, eval.Error);
        // The run ended by scoring the test split with its best model, exactly as `fer eval` does.
        Assert.Matches(@"test split \(15 images\) scored by the best model \(epoch [12]\): emotion \d+\.\d %; details in .*test\.json", train.Output);
        Assert.Equal(eval.Output.Trim(), File.ReadAllText(Path.Combine(Run("csvrun"), "test.json")).Trim());
        using var json = JsonDocument.Parse(eval.Output);
        Assert.Equal("test", json.RootElement.GetProperty("split").GetString());
        Assert.Equal(15, json.RootElement.GetProperty("samples").GetInt32());
        Assert.Equal(JsonValueKind.Null, json.RootElement.GetProperty("gender_accuracy").ValueKind); // FER2013 has no gender labels

        // On data with all four labels (the synthetic faces), the heads it never trained are not scored.
        var onSynthetic = Fer("eval", "--model", model, "--split", "validation", "--json");
        Assert.True(onSynthetic.Exit == 0, onSynthetic.Error);
        using var scored = JsonDocument.Parse(onSynthetic.Output);
        Assert.Equal(JsonValueKind.Number, scored.RootElement.GetProperty("emotion_accuracy").ValueKind);
        Assert.Equal(JsonValueKind.Null, scored.RootElement.GetProperty("gender_accuracy").ValueKind);
        Assert.False(scored.RootElement.GetProperty("tasks").GetProperty("age").GetProperty("trained").GetBoolean());
        Assert.Contains("Race: not scored", Fer("eval", "--model", model, "--split", "validation").Output);

        string image = Path.Combine(_folder, "csv_face.png");
        using (var stream = File.Create(image))
            new StbImageWriteSharp.ImageWriter().WritePng(Enumerable.Repeat((byte)90, 48 * 48).ToArray(), 48, 48, StbImageWriteSharp.ColorComponents.Grey, stream);
        var predict = Fer("predict", "--model", model, image);
        Assert.True(predict.Exit == 0, predict.Error);
        Assert.StartsWith(image + ": ", predict.Output);
        // FER2013 labels only emotion: the model file says so, and the untrained heads are not shown.
        Assert.Equal([FerEngine.Model.Network.FaceTask.Emotion], FerEngine.Model.Network.ModelFile.TrainedTasks(model));
        Assert.DoesNotContain("gender", predict.Output);
        Assert.DoesNotContain("gender", Fer("predict", "--model", model, image, "--json").Output);

        // The dataset moved: --resume takes the new path, and warns.
        string moved = Path.Combine(_folder, "moved.csv");
        File.Copy(csv, moved);
        var resumed = Fer("train", "--resume", "--out", Run("csvrun"), "--epochs", "3", "--data", moved);
        Assert.True(resumed.Exit == 0, resumed.Error);
        Assert.Contains("continue exactly only if it holds the same images", resumed.Output);
        // test.json scores the model beside it, also after a resumed run that found a better one.
        var evalResumed = Fer("eval", "--model", model, "--data", moved, "--split", "test", "--json");
        Assert.Equal(evalResumed.Output.Trim(), File.ReadAllText(Path.Combine(Run("csvrun"), "test.json")).Trim());

        // Other data (here, one Training row fewer) is refused: the position and the validation split would not carry over.
        string fewer = Path.Combine(_folder, "fewer.csv");
        File.WriteAllLines(fewer, lines.Where((_, i) => i != 1));
        var other = Fer("train", "--resume", "--out", Run("csvrun"), "--epochs", "4", "--data", fewer);
        Assert.Equal(1, other.Exit);
        Assert.Contains("this is not the data the run was trained on", other.Error);
    }

    [Fact]
    public void Eval_scores_the_validation_split_the_run_drew_with_its_seed()
    {
        // Only Training rows: the validation split is a tenth of them, drawn with --seed.
        string csv = Path.Combine(_folder, "training_only.csv");
        var pixels = string.Join(' ', Enumerable.Range(0, 2304).Select(p => p % 200));
        File.WriteAllLines(csv, ["emotion,pixels,Usage", .. Enumerable.Range(0, 60).Select(i => $"{i % 7},{pixels},Training")]);
        var train = Fer("train", "--data", csv, "--seed", "7", "--width", "0.125", "--epochs", "1", "--batch", "16", "--out", Run("seeded"));
        Assert.True(train.Exit == 0, train.Error);
        string model = Path.Combine(Run("seeded"), "model.safetensors");
        Assert.Equal(7UL, FerEngine.Model.Network.ModelFile.SplitSeed(model));

        var eval = Fer("eval", "--model", model, "--data", csv, "--split", "validation", "--json");
        Assert.True(eval.Exit == 0, eval.Error);
        using var json = JsonDocument.Parse(eval.Output);
        double logged = EpochMetrics.FromCsv(File.ReadAllText(Path.Combine(Run("seeded"), "metrics.csv")))[^1].ValidationEmotionAccuracy;
        Assert.Equal(6, json.RootElement.GetProperty("samples").GetInt32());
        Assert.Equal(logged, json.RootElement.GetProperty("emotion_accuracy").GetDouble(), 12);

        // In batches of 5 the last holds 1 image: it is scored too, and the accuracy is the one-batch figure.
        var batched = Fer("eval", "--model", model, "--data", csv, "--split", "validation", "--json", "--batch", "5");
        Assert.True(batched.Exit == 0, batched.Error);
        using var batchedJson = JsonDocument.Parse(batched.Output);
        Assert.Equal(6, batchedJson.RootElement.GetProperty("tasks").GetProperty("emotion").GetProperty("labelled").GetInt64());
        Assert.Equal(logged, batchedJson.RootElement.GetProperty("emotion_accuracy").GetDouble(), 12);

        // UTKFace has no emotion labels, the only task this model learnt: nothing to score is a failure, not a success.
        string utk = Path.Combine(_folder, "UTKFace");
        Directory.CreateDirectory(utk);
        for (int i = 0; i < 20; i++)
            using (var stream = File.Create(Path.Combine(utk, $"{20 + i}_{i % 2}_{i % 5}_20170116174525125.jpg.chip.jpg")))
                new StbImageWriteSharp.ImageWriter().WriteJpg(new byte[48 * 48], 48, 48, StbImageWriteSharp.ColorComponents.Grey, stream, 90);
        var unscored = Fer("eval", "--model", model, "--data", utk);
        Assert.Equal(1, unscored.Exit);
        Assert.Contains("nothing was scored", unscored.Error);
        Assert.Contains("Emotion: no labels in this split", unscored.Output);

        // Trained on UTKFace alone, the run selects its best epoch by the mean accuracy of the labelled tasks, and says so.
        var utkRun = Fer("train", "--data", utk, "--width", "0.125", "--epochs", "1", "--batch", "8", "--out", Run("utk"));
        Assert.True(utkRun.Exit == 0, utkRun.Error);
        Assert.Contains("best validation mean task accuracy", utkRun.Output);
    }

    [Fact]
    public void Predict_and_dump_step_work_on_a_trained_model()
    {
        Assert.Equal(0, Fer(["train", .. Tiny, "--epochs", "1", "--out", Run("p")]).Exit);
        string model = Path.Combine(Run("p"), "model.safetensors");
        string image = Path.Combine(_folder, "face.png");
        using (var stream = File.Create(image))
            new StbImageWriteSharp.ImageWriter().WritePng(Enumerable.Range(0, 64 * 64).Select(i => (byte)(i * 7)).ToArray(), 64, 64, StbImageWriteSharp.ColorComponents.Grey, stream);

        var predict = Fer("predict", "--model", model, image, "--json");
        Assert.True(predict.Exit == 0, predict.Error);
        using var line = JsonDocument.Parse(predict.Output.Trim());
        Assert.Contains(line.RootElement.GetProperty("emotion").GetString(), FerEngine.Model.Data.Labels.Emotion);
        Assert.Contains(line.RootElement.GetProperty("age").GetString(), FerEngine.Model.Data.Labels.Age);   // synthetic faces label all four tasks
        double total = line.RootElement.GetProperty("emotion_probabilities").EnumerateObject().Sum(p => p.Value.GetDouble());
        Assert.Equal(1.0, total, 6);

        // A broken link next to the image: the image is still predicted, and exit 1 says that one was skipped.
        string folder = Path.Combine(_folder, "faces-and-a-broken-link");
        Directory.CreateDirectory(folder);
        File.Copy(image, Path.Combine(folder, "face.png"));
        File.CreateSymbolicLink(Path.Combine(folder, "gone.png"), "/nonexistent/gone.png");
        var partly = Fer("predict", "--model", model, folder);
        Assert.Equal(1, partly.Exit);
        Assert.StartsWith(Path.Combine(folder, "face.png") + ": ", partly.Output);
        // A file of a kind fer does not decode is named on stderr; a folder of only such files is a usage error.
        string webp = Path.Combine(_folder, "webp-only");
        Directory.CreateDirectory(webp);
        File.WriteAllBytes(Path.Combine(webp, "face.webp"), [1, 2, 3]);
        var none = Fer("predict", "--model", model, webp);
        Assert.Equal(2, none.Exit);
        Assert.Contains($"not read, being none of .jpg, .jpeg, .png, .bmp: 1 .webp file (first: {Path.Combine(webp, "face.webp")})", none.Error);
        var misspelt = Fer("predict", "--model", model, image, "--jsn");
        Assert.Equal(2, misspelt.Exit);
        Assert.Contains("--jsn: not an option of fer predict", misspelt.Error);

        string dump = Path.Combine(_folder, "step.safetensors");
        var dumped = Fer(["dump-step", "--model", model, "--batch", "8", "--out", dump]);
        Assert.True(dumped.Exit == 0, dumped.Error);
        var tensors = SafetensorsFile.Load(dump, Device.Cpu).Tensors;
        Assert.Equal(new Shape(8, 1, 48, 48), tensors["input"].Shape);
        Assert.Equal(DType.Int64, tensors["label.emotion"].DType);
        Assert.Contains("grad.conv1.weight", tensors.Keys);
        Assert.Contains("param.bn_fc.running_var", tensors.Keys);
        Assert.True(tensors["loss.total"].Item() > 0);
        // The joint loss's weights as given, and recorded for whoever compares the dump.
        var weighted = Fer(["dump-step", "--model", model, "--batch", "8", "--task-weights", "1,0,2,0", "--out", dump]);
        Assert.True(weighted.Exit == 0, weighted.Error);
        var file = SafetensorsFile.Load(dump, Device.Cpu);
        double Loss(string name) => file.Tensors[$"loss.{name}"].Item();
        Assert.Equal(Loss("emotion") + 2 * Loss("race"), Loss("total"), 1e-5 * Loss("total"));
        Assert.Equal("1,0,2,0", file.Metadata["task_weights"]);

        var overModel = Fer(["dump-step", "--model", model, "--out", model]);
        Assert.Equal(2, overModel.Exit);
        Assert.Contains("is the --model file", overModel.Error);
        Assert.Equal(2, Fer(["dump-step", "--model", model, "--out", _folder]).Exit);            // a folder
        Assert.Equal(2, Fer(["dump-step", "--model", model, "--out", dump, "--lr", "nan"]).Exit);
    }

    [Fact]
    public void Train_runs_on_the_emulated_gpu_and_replays_a_captured_graph_unless_told_not_to()
    {
        // 4 batches: two warm-up steps, the captured step, one replay.
        var (exit, output, error) = Fer("train", "--device", "emulated", "--width", "0.0625", "--image-size", "16",
            "--synthetic-train", "32", "--synthetic-validation", "8", "--batch", "8", "--epochs", "1", "--out", Run("emulated"));
        Assert.True(exit == 0, error);
        Assert.Contains("Completed", output);
        Assert.Contains("CUDA graph: captured the training step", output);
        Assert.Contains("device: emulated (the CUDA backend in the PTX emulator", output);
        Assert.True(File.Exists(Path.Combine(Run("emulated"), "model.safetensors")));
        var eager = Fer("train", "--device", "emulated", "--no-graph", "--width", "0.0625", "--image-size", "16",
            "--synthetic-train", "16", "--synthetic-validation", "8", "--batch", "8", "--epochs", "1", "--out", Run("emulated-eager"));
        Assert.True(eager.Exit == 0, eager.Error);
        Assert.DoesNotContain("CUDA graph", eager.Output);
        if (!FerEngine.Native.CudaProbe.Run().Available)
        {
            var cuda = Fer("train", "--device", "cuda", "--out", Run("cuda"));   // no GPU here: one clear message, exit 1
            Assert.Equal(1, cuda.Exit);
            Assert.Contains("--device emulated", cuda.Error);
        }
    }

    [Fact]
    public void Auto_takes_the_gpu_when_one_is_usable_and_the_cpu_otherwise()
    {
        var warnings = new List<string>();
        var device = DeviceChoice.Resolve("auto", threads: 2, warn: warnings.Add);
        if (FerEngine.Native.CudaProbe.Run().Available) Assert.IsType<FerEngine.Backends.Cuda.CudaDevice>(device);
        else Assert.Same(Device.Cpu, device);
        Assert.Equal(FerEngine.Native.CudaProbe.DriverSeesGpu() && device == Device.Cpu, warnings.Count == 1);
        Assert.Equal("cpu (2 threads)", DeviceChoice.Describe(Device.Cpu, 2, tf32: true, graph: true));

        var (exit, output, error) = Fer(["train", .. Tiny, "--epochs", "1", "--out", Run("auto"), "--device", "auto"]);   // FerCli would add --device cpu
        Assert.True(exit == 0, error);
        Assert.Contains($"device: {DeviceChoice.Describe(device, 2, tf32: true, graph: true)}", output);
    }

    [Fact]
    public void More_threads_than_cores_is_taken_with_a_warning()
    {
        int threads = Environment.ProcessorCount + 1;
        var (exit, output, error) = Fer(["train", "--width", "0.125", "--synthetic-train", "32", "--synthetic-validation", "16", "--batch", "16",
            "--epochs", "1", "--threads", $"{threads}", "--out", Run("threads")]);
        Assert.True(exit == 0, error);
        Assert.Contains($"--threads {threads} is more than this machine's {Environment.ProcessorCount} logical cores", output + error);
        Assert.Contains($"device: cpu ({threads} threads)", output);
    }

    [Fact]
    public void Info_lists_devices_and_the_model()
    {
        var (exit, output, _) = Fer("info");
        Assert.Equal(0, exit);
        Assert.Contains("cpu-reference", output);
        Assert.Contains("2,394,962", output);
    }
}
