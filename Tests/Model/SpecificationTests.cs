using System.CommandLine;
using FerEngine.Model.Data;
using FerEngine.Model.Network;
using FerEngine.Nn;
using FerEngine.Trainer.Commands;
using FerEngine.Trainer.Training;

namespace FerEngine.Tests.Model;

/// <summary>
/// Values the specification (../shared/MODEL_AND_DATA.md beside the repository: the paper's network and its reference code) fixes
/// and nothing else would catch if they changed: the label spaces, the dropout rates, the
/// initialisation and the training defaults, in TrainOptions and on the command line.
/// </summary>
public class SpecificationTests
{
    [Fact]
    public void The_label_spaces_are_the_canonical_ones_in_order()
    {
        Assert.Equal(["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"], Labels.Emotion);
        Assert.Equal(["male", "female", "unsure"], Labels.Gender);
        Assert.Equal(["caucasian", "african-american", "asian"], Labels.Race);
        Assert.Equal(["0-3", "4-19", "20-39", "40-69", "70+"], Labels.Age);
        Assert.Equal([7, 3, 3, 5], FerNet.ClassCounts);
    }

    [Fact]
    public void Dropout_follows_blocks_2_4_6_and_the_fully_connected_layer_at_the_papers_rates()
    {
        var net = new FerNet(new FerNetConfig(Width: 0.25), Device.Cpu);
        var rates = net.NamedChildren().Where(c => c.Module is Dropout).Select(c => (c.Name, ((Dropout)c.Module).Probability));
        Assert.Equal([("drop2", 0.6), ("drop4", 0.5), ("drop6", 0.4), ("drop_fc", 0.4)], rates);
    }

    [Fact]
    public void Weights_are_he_normal_over_fan_in_biases_zero_and_batch_norm_the_identity()
    {
        var net = new FerNet(new FerNetConfig(Width: 0.5), Device.Cpu, seed: 3);
        foreach (var (name, tensor) in net.NamedParameters())
        {
            var values = tensor.ToArray<float>();
            if (name.StartsWith("bn") && name.EndsWith(".weight")) Assert.All(values, v => Assert.Equal(1f, v));
            else if (name.EndsWith(".bias")) Assert.All(values, v => Assert.Equal(0f, v));
            else
            {
                // conv [out, in, k, k] or linear [out, in]: fan_in = in * k * k; std = sqrt(2 / fan_in)
                long fanIn = tensor.ElementCount / tensor.Shape[0];
                double mean = values.Average(v => (double)v), std = Math.Sqrt(values.Average(v => (double)v * v) - mean * mean);
                double expected = Math.Sqrt(2.0 / fanIn), tolerance = 5 * expected / Math.Sqrt(values.Length);   // 5 standard errors
                Assert.True(Math.Abs(std - expected) < tolerance + 0.02 * expected, $"{name}: std {std:G4}, He-normal {expected:G4}");
                Assert.True(Math.Abs(mean) < tolerance, $"{name}: mean {mean:G4}");
            }
        }
    }

    [Fact]
    public void Batch_norm_has_eps_1e_3_momentum_0_01_and_starts_from_mean_0_variance_1()
    {
        var net = new FerNet(new FerNetConfig(Width: 0.25), Device.Cpu);
        var norms = net.NamedChildren().Where(c => c.Module is BatchNorm).ToList();
        Assert.Equal(["bn1", "bn2", "bn3", "bn4", "bn5", "bn6", "bn_fc"], norms.Select(c => c.Name));
        foreach (var (name, module) in norms)
        {
            var norm = (BatchNorm)module;
            Assert.Equal((1e-3, 0.01), (norm.Eps, norm.Momentum));   // Keras's epsilon and momentum 0.99, in PyTorch's convention
            Assert.All(norm.RunningMean.ToArray<float>(), v => Assert.Equal(0f, v));
            Assert.All(norm.RunningVar.ToArray<float>(), v => Assert.Equal(1f, v));
        }
    }

    [Fact]
    public void Dropout_acts_in_training_changes_with_the_step_and_is_off_in_evaluation()
    {
        var net = new FerNet(new FerNetConfig(Width: 0.125, Height: 16, ImageWidth: 16), Device.Cpu, seed: 1);
        var x = Tensor.Uniform(new Shape(4, 1, 16, 16), 0, 1, 2, 1, DType.Float32, Device.Cpu);
        float[] Logits(ulong step)
        {
            net.SetStep(step);
            using (FerEngine.Autograd.Autograd.NoGrad()) return net.ForwardTasks(x).Emotion.ToArray<float>();
        }
        net.Train(true);
        Assert.Equal(Logits(5), Logits(5));          // the masks are keyed by the step: the same step, the same masks
        Assert.NotEqual(Logits(5), Logits(6));       // another step, other masks
        net.DropoutDisabled = true;
        float[] withoutDropout = Logits(5);
        net.DropoutDisabled = false;
        Assert.NotEqual(withoutDropout, Logits(5));  // so dropout did act
        net.Eval();
        Assert.Equal(Logits(5), Logits(6));          // evaluation: no dropout, whatever the step
    }

    [Fact]
    public void A_model_file_carries_the_configuration_and_label_names_in_its_metadata()
    {
        string path = Path.Combine(Directory.CreateTempSubdirectory("fer-spec-").FullName, "model.safetensors");
        try
        {
            var config = new FerNetConfig(Width: 0.125, Channels: 3, Height: 40, ImageWidth: 40);
            ModelFile.Save(path, new FerNet(config, Device.Cpu), new Dictionary<string, string>());
            var metadata = FerEngine.Checkpoint.SafetensorsFile.ReadMetadata(path);
            Assert.Equal("ferengine-model", metadata[ModelFile.FormatKey]);
            Assert.Equal(FerNetConfig.Architecture, metadata[ModelFile.ArchitectureKey]);
            Assert.Equal(config, FerNetConfig.FromJson(metadata[ModelFile.ConfigKey]));
            using var labels = System.Text.Json.JsonDocument.Parse(metadata[ModelFile.LabelsKey]);
            foreach (var task in Enum.GetValues<FaceTask>())
                Assert.Equal(Labels.ClassNames(task), labels.RootElement.GetProperty(task.ToString().ToLowerInvariant()).EnumerateArray().Select(e => e.GetString()!));
        }
        finally { Directory.Delete(Path.GetDirectoryName(path)!, recursive: true); }
    }

    [Theory]
    [InlineData(2)]
    [InlineData(4)]
    public void Only_grey_and_colour_inputs_are_accepted(int channels) =>
        Assert.Contains("must be 1 (grey) or 3 (colour)", Assert.Throws<ArgumentException>(() => new FerNetConfig(Channels: channels).Validate()).Message);

    [Fact]
    public void Training_defaults_are_the_reference_codes_in_the_options_and_on_the_command_line()
    {
        var options = new TrainOptions();
        Assert.Equal((3e-4, 32, 50, 10), (options.LearningRate, options.Batch, options.Epochs, options.Patience));
        Assert.Equal((0.2, 5, 1e-6), (options.PlateauFactor, options.PlateauPatience, options.MinLearningRate));

        var parsed = TrainCommand.Create(TextWriter.Null).Parse([]);
        Assert.Empty(parsed.Errors);
        Assert.Equal(options.LearningRate, parsed.GetValue<double>("--lr"));
        Assert.Equal(options.Batch, parsed.GetValue<int>("--batch"));
        Assert.Equal(options.Epochs, parsed.GetValue<int>("--epochs"));
        Assert.Equal(options.Patience, parsed.GetValue<int>("--patience"));
        Assert.Equal(options.Width, parsed.GetValue<double>("--width"));
    }
}
