using FerEngine.Model.Network;
using FerEngine.Ops;

namespace FerEngine.Tests.Model;

public class FerNetTests
{
    private static Tensor Labels(params long[] values) => Tensor.FromArray(values, new Shape(values.Length), Device.Cpu);

    [Fact]
    public void Width_1_has_the_papers_parameter_count_and_pytorch_names()
    {
        var net = new FerNet(new FerNetConfig(), Device.Cpu);
        long count = net.Parameters().Sum(p => p.ElementCount);   // trainable only, as PyTorch counts them
        Assert.Equal(2_394_962, count);                                   // "2.39 M parameters at width 1"
        Assert.Equal(ModelSummary.TotalParameters(net.Config), count);
        var names = net.StateDict().Select(p => p.Name).ToList();
        Assert.Contains("conv1.weight", names);
        Assert.Contains("bn6.running_var", names);
        Assert.Contains("bn_fc.running_mean", names);
        Assert.Contains("head_age.bias", names);
        Assert.Equal(new Shape(128, 9216), net.Fc.Weight.Shape);
        Assert.InRange(ModelSummary.ForwardFlopsPerImage(net.Config) / 1e9, 0.95, 1.05); // "about 0.99 GFLOP"
    }

    [Fact]
    public void Forward_gives_four_heads_for_any_multiple_of_8_and_channels()
    {
        var config = new FerNetConfig(Width: 0.125, Channels: 3, Height: 16, ImageWidth: 24);
        var net = new FerNet(config, Device.Cpu);
        var x = Tensor.Uniform(new Shape(2, 3, 16, 24), 0, 1, 1, 1, DType.Float32, Device.Cpu);
        var logits = net.ForwardTasks(x);
        Assert.Equal(new Shape(2, 7), logits.Emotion.Shape);
        Assert.Equal(new Shape(2, 3), logits.Gender.Shape);
        Assert.Equal(new Shape(2, 3), logits.Race.Shape);
        Assert.Equal(new Shape(2, 5), logits.Age.Shape);
        Assert.Throws<ArgumentException>(() => new FerNet(new FerNetConfig(Height: 20), Device.Cpu));
    }

    [Fact]
    public void Joint_loss_weights_the_tasks_and_a_task_without_labels_gets_no_gradient()
    {
        var net = new FerNet(new FerNetConfig(Width: 0.125, Height: 16, ImageWidth: 16), Device.Cpu, seed: 3);
        var x = Tensor.Uniform(new Shape(3, 1, 16, 16), 0, 1, 1, 1, DType.Float32, Device.Cpu);
        var labels = new[] { Labels(1, -1, 6), Labels(-1, -1, -1), Labels(0, 2, -1), Labels(4, 0, 1) };
        var loss = JointLoss.Compute(net.ForwardTasks(x), labels, new TaskWeights());
        Assert.Equal(0.0, loss.Gender.Item());
        double expected = 2 * loss.Emotion.Item() + 0.1 * 0 + 1.5 * loss.Race.Item() + 4 * loss.Age.Item();
        Assert.Equal(expected, loss.Total.Item(), 5);
        loss.Total.Backward();
        var genderHead = net.Heads[1];
        Assert.All(genderHead.Weight.Grad!.ToArray<float>(), g => Assert.Equal(0f, g));
        Assert.Contains(net.Heads[0].Weight.Grad!.ToArray<float>(), g => g != 0);
    }

    [Fact]
    public void Summary_lists_every_layer()
    {
        string text = ModelSummary.Format(new FerNetConfig());
        foreach (var layer in new[] { "conv1", "conv6", "fc", "head_emotion", "head_age", "total" }) Assert.Contains(layer, text);
        Assert.Contains("2,394,962", text);
    }

    // Model weights holding an infinity are refused like weights holding NaN.
    [Fact]
    public void Weights_with_an_infinity_are_refused()
    {
        var tensors = new Dictionary<string, Tensor>
        {
            ["fc.weight"] = Tensor.FromArray([1f, float.PositiveInfinity, 2f], new Shape(3), Device.Cpu),
        };
        var e = Assert.Throws<InvalidDataException>(() => ModelFile.RequireFinite("m.safetensors", tensors));
        Assert.Contains("tensor fc.weight holds NaN or infinite values", e.Message);
        ModelFile.RequireFinite("m.safetensors", new Dictionary<string, Tensor> { ["ok"] = Tensor.FromArray([1f, -2f], new Shape(2), Device.Cpu) });
    }
}
