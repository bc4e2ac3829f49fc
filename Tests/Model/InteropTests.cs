using FerEngine.Model.Evaluation;
using FerEngine.Model.Network;
using static FerEngine.Tests.GoldenFiles;

namespace FerEngine.Tests.Model;

/// <summary>
/// A model.safetensors written by `fer train` (Tests/Golden/interop_model_w0125.safetensors),
/// loaded by PyTorch into Benchmarks/Peers/fernet.py by Benchmarks/Peers/interop_peer.py: its
/// evaluation-mode logits and predictions (interop_pytorch_predictions.safetensors) must be what
/// FerEngine computes from the same file.
/// </summary>
public class InteropTests
{
    [Theory]
    [InlineData("cpu")]
    [InlineData("cpu-reference")]
    public void PyTorch_reproduces_our_predictions_from_our_model_file(string deviceName)
    {
        var device = deviceName == "cpu" ? (Device)Device.Cpu : Device.CpuReference;
        var model = ModelFile.Load(Path.Combine(AppContext.BaseDirectory, "Golden", "interop_model_w0125.safetensors"), device);
        var golden = Load("interop_pytorch_predictions.safetensors", device).Tensors;
        model.Eval();
        MultiTaskLogits logits;
        using (FerEngine.Autograd.Autograd.NoGrad()) logits = model.ForwardTasks(golden["input"]);
        foreach (var task in Enum.GetValues<FaceTask>())
        {
            string name = task.ToString().ToLowerInvariant();
            double error = RelativeError(logits[task], golden[$"logits.{name}"]);
            Assert.True(error < 1e-5, $"{name} logits: relative error {error:E2}");
            Assert.Equal(golden[$"prediction.{name}"].ToArray<long>(), Evaluator.Predict(logits[task]));
        }
    }
}
