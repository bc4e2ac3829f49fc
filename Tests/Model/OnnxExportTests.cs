using FerEngine.Model.Evaluation;
using FerEngine.Model.Network;
using Microsoft.ML.OnnxRuntime;
using DenseTensor = Microsoft.ML.OnnxRuntime.Tensors.DenseTensor<float>;

namespace FerEngine.Tests.Model;

/// <summary>
/// The ONNX file of `fer export`, run by ONNX Runtime, gives the class probabilities FerEngine's own
/// evaluation-mode forward pass gives: every op, attribute, weight and the flatten order are right.
/// Batch norm's running statistics and scales are drawn at random, so a wrong epsilon, a statistic
/// fed to the wrong input or a missing layer shows.
/// </summary>
public class OnnxExportTests
{
    [Theory]
    [InlineData(1, 48, 48)]
    [InlineData(3, 32, 40)]   // colour, and height != width: the flatten order and the input shape
    public void Onnx_runtime_matches_the_engine_on_the_exported_model(int channels, int height, int width)
    {
        var device = Device.CpuReference;
        var model = new FerNet(new FerNetConfig(Width: 0.125, channels, height, width), device, seed: 3);
        var random = new System.Random(7);
        float Uniform(double low, double high) => (float)(low + (high - low) * random.NextDouble());
        var state = model.StateDict().ToDictionary(p => p.Name, p => p.Tensor);
        foreach (var (name, tensor) in state.Where(p => p.Key.StartsWith("bn")))
        {
            (double low, double high) = name.EndsWith("running_var") ? (0.3, 2.0) : name.EndsWith("weight") ? (0.5, 1.5) : (-0.5, 0.5);
            var values = Enumerable.Range(0, (int)tensor.ElementCount).Select(_ => Uniform(low, high)).ToArray();
            device.Backend.CopyFromHost<float>(values, tensor);
        }

        const int batch = 5;
        var pixels = Enumerable.Range(0, batch * channels * height * width).Select(_ => Uniform(0, 1)).ToArray();
        model.Eval();
        MultiTaskLogits logits;
        using (Autograd.Autograd.NoGrad()) logits = model.ForwardTasks(Tensor.FromArray(pixels, new Shape(batch, channels, height, width), device));

        InferenceSession session;
        try { session = new InferenceSession(OnnxExport.ToBytes(model, new Dictionary<string, string> { ["test"] = "yes" })); }
        catch (Exception e) when (e is DllNotFoundException or TypeInitializationException)
        {
            Assert.Skip($"ONNX Runtime's native library does not load here ({e.GetType().Name}); the GPU bundle leaves it out.");
            return;
        }
        using (session)
        {
            Assert.Equal("yes", session.ModelMetadata.CustomMetadataMap["test"]);
            var input = new DenseTensor(pixels, [batch, channels, height, width]);
            using var results = session.Run([NamedOnnxValue.CreateFromTensor("image", input)]);
            foreach (var task in Enum.GetValues<FaceTask>())
            {
                string name = task.ToString().ToLowerInvariant();
                float[] theirs = results.Single(r => r.Name == name).AsEnumerable<float>().ToArray();
                int classes = FerNet.ClassCounts[(int)task];
                double[] ours = logits[task].ToDoubles().Chunk(classes).SelectMany(row => ClassProbabilities.Of(row)).ToArray();
                Assert.Equal(ours.Length, theirs.Length);
                double worst = ours.Zip(theirs, (a, b) => Math.Abs(a - b)).Max();
                Assert.True(worst < 1e-5, $"{name}: probabilities differ by up to {worst:E2}");
            }
        }
    }

    [Fact]
    public void Weights_over_two_gigabytes_are_refused_with_what_to_do()
    {
        OnnxExport.RequireFits(1_500_000_000);   // the paper's network at width 8 takes about 0.6 GB
        var e = Assert.Throws<InvalidDataException>(() => OnnxExport.RequireFits(3_000_000_000));
        Assert.Contains("3.0 GB", e.Message);
        Assert.Contains("--width", e.Message);
    }
}
