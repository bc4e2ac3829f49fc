using FerEngine.Model.Network;
using FerEngine.Model.Training;
using FerEngine.Optim;
using static FerEngine.Tests.GoldenFiles;

namespace FerEngine.Tests.Model;

/// <summary>
/// One whole training step of the paper network (width 0.25, batch 8 with missing labels, batch
/// norm in training mode, dropout off, joint loss, Adam lr 3e-4) against PyTorch 1.13
/// (Tests/Golden/paper_step_w025.safetensors): per-task losses to 1e-5, every gradient to 1e-4
/// (norm-wise), and after the Adam step every parameter within 1e-7 of PyTorch's wherever the
/// gradient magnitude is at least 1e-6 (below that Adam's first step is sign-sensitive to rounding).
/// </summary>
public class GoldenStepTests
{
    [Theory]
    [InlineData("cpu")]
    [InlineData("cpu-reference")]
    public void Paper_step_matches_pytorch(string deviceName)
    {
        var device = deviceName == "cpu" ? (Device)Device.Cpu : Device.CpuReference;
        var golden = Load("paper_step_w025.safetensors", device);
        var g = golden.Tensors;
        var model = new FerNet(FerNetConfig.FromJson(golden.Metadata["config"]), device) { DropoutDisabled = true };
        model.LoadStateDict(g.Where(t => t.Key.StartsWith("init.")).ToDictionary(t => t.Key["init.".Length..], t => t.Value));
        var step = new TrainStep(model, new Adam(model.NamedParameters(), learningRate: 3e-4), new TaskWeights());
        string[] tasks = ["emotion", "gender", "race", "age"];
        var loss = step.Run(g["input"], tasks.Select(t => g[$"label.{t}"]).ToArray(), step: 0);

        foreach (var task in Enum.GetValues<FaceTask>())
        {
            double ours = loss[task].Item(), theirs = g[$"loss.{tasks[(int)task]}"].Item();
            Assert.True(Math.Abs(ours - theirs) <= 1e-5 * Math.Abs(theirs), $"loss.{task}: {ours} vs PyTorch {theirs}");
        }
        Assert.True(Math.Abs(loss.Total.Item() - g["loss.total"].Item()) <= 1e-5 * g["loss.total"].Item(), "total loss");

        foreach (var (name, p) in model.NamedParameters())
        {
            double error = RelativeError(p.Grad!, g[$"grad.{name}"]);
            Assert.True(error < 1e-4, $"grad.{name}: relative error {error:E2}");
            double[] ours = p.ToDoubles(), theirs = g[$"param.{name}"].ToDoubles(), gradient = g[$"grad.{name}"].ToDoubles();
            for (int i = 0; i < ours.Length; i++)
                if (Math.Abs(gradient[i]) >= 1e-6)
                    Assert.True(Math.Abs(ours[i] - theirs[i]) <= 1e-7, $"param.{name}[{i}] after Adam: {ours[i]} vs PyTorch {theirs[i]} (grad {gradient[i]:E2})");
        }
        foreach (var (name, buffer) in model.NamedBuffers())
            Assert.True(RelativeError(buffer, g[$"param.{name}"]) < 1e-5, $"{name} after the step");
    }
}
