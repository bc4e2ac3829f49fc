using System.CommandLine;
using FerEngine.Model.Data;
using FerEngine.Model.Network;
using FerEngine.Nn;
using FerEngine.Trainer.Commands;
using FerEngine.Trainer.Training;

namespace FerEngine.Tests.Model;

/// <summary>
/// Values the specification (MODEL_AND_DATA.md: the paper's network and its reference code) fixes
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
