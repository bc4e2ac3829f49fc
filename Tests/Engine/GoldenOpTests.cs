using FerEngine.Optim;
using FerEngine.Ops;
using static FerEngine.Tests.GoldenFiles;

namespace FerEngine.Tests.Engine;

/// <summary>
/// Each op against PyTorch 1.13 (Tests/Golden/ops_f64.safetensors): outputs and the input
/// gradients of L = sum(out * r). The float64 reference must agree to 1e-10 (values) and 1e-8
/// (gradients, norm-wise); the fast float32 path to 1e-4.
/// </summary>
public class GoldenOpTests
{
    private static readonly Dictionary<string, Func<Tensor[], Tensor?, Tensor>> Ops = new()
    {
        ["linear"] = (t, _) => Functional.Linear(t[0], t[1], t[2]),
        ["conv5"] = (t, _) => Functional.Conv2d(t[0], t[1], t[2], 2),
        ["conv3"] = (t, _) => Functional.Conv2d(t[0], t[1], t[2], 1),
        ["elu"] = (t, _) => Functional.Elu(t[0]),
        ["relu"] = (t, _) => Functional.Relu(t[0]),
        ["maxpool"] = (t, _) => Functional.MaxPool2x2(t[0]),
        ["ce"] = (t, labels) => Functional.SoftmaxCrossEntropy(t[0], labels!),
        ["ce_none"] = (t, labels) => Functional.SoftmaxCrossEntropy(t[0], labels!),
    };

    public static TheoryData<string, bool> Cases()
    {
        var data = new TheoryData<string, bool>();
        foreach (var name in new[] { "linear.b1", "linear.b3", "conv5.b1", "conv5.b3", "conv3.b1", "conv3.b3", "elu.b1", "elu.b3",
                     "relu.b1", "relu.b3", "maxpool.b1", "maxpool.b3", "ce", "ce_none", "bn1d", "bn2d" })
            foreach (bool fast in new[] { false, true })
                data.Add(name, fast);
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Op_matches_pytorch(string name, bool fastFloat32)
    {
        var (device, dtype, valueTolerance, gradientTolerance) = fastFloat32
            ? (Device.Cpu, DType.Float32, 1e-4, 1e-4)
            : (Device.CpuReference, DType.Float64, 1e-10, 1e-8);
        var golden = Load("ops_f64.safetensors", Device.CpuReference).Tensors;
        var inputs = Enumerable.Range(0, 3).TakeWhile(i => golden.ContainsKey($"{name}.in{i}"))
            .Select(i => { var t = To(golden[$"{name}.in{i}"], device, dtype); t.RequiresGrad = true; return t; }).ToArray();
        var labels = golden.TryGetValue($"{name}.labels", out var l) ? To(l, device, DType.Int64) : null;

        Tensor output;
        if (name.StartsWith("bn"))
        {
            int c = inputs[0].Shape[1];
            var runningMean = Tensor.Zeros(new Shape(c), dtype, device);
            var runningVar = Tensor.Ones(new Shape(c), dtype, device);
            output = Functional.BatchNorm(inputs[0], inputs[1], inputs[2], runningMean, runningVar, training: true, momentum: 0.01, eps: 1e-3);
            Assert.True(RelativeError(runningMean, golden[$"{name}.running_mean"]) < valueTolerance, "running mean");
            Assert.True(RelativeError(runningVar, golden[$"{name}.running_var"]) < valueTolerance, "running var");
        }
        else output = Ops[name.Split('.')[0]](inputs, labels);

        double outError = RelativeError(output, golden[$"{name}.out"]);
        Assert.True(outError < valueTolerance, $"{name} output: relative error {outError:E2}");
        Functional.Sum(Functional.Multiply(output, To(golden[$"{name}.r"], device, dtype))).Backward();
        for (int i = 0; i < inputs.Length; i++)
        {
            double gradError = RelativeError(inputs[i].Grad!, golden[$"{name}.grad{i}"]);
            Assert.True(gradError < gradientTolerance, $"{name} gradient of input {i}: relative error {gradError:E2}");
        }
    }

    [Theory]
    [InlineData("adam_wd0.0", 0.0)]
    [InlineData("adam_wd0.01", 0.01)]
    public void Adam_matches_pytorch_over_three_steps(string name, double weightDecay)
    {
        var golden = Load("optim_f32.safetensors", Device.CpuReference).Tensors;
        foreach (var device in new Device[] { Device.CpuReference, Device.Cpu })
        {
            var p = To(golden[$"{name}.init"], device, DType.Float32);
            p.RequiresGrad = true;
            var adam = new Adam([("p", p)], learningRate: 3e-4, weightDecay: weightDecay);
            for (int step = 0; step < 3; step++)
            {
                p.Grad = To(golden[$"{name}.grad{step}"], device, DType.Float32);
                adam.Step();
                double[] ours = p.ToDoubles(), theirs = golden[$"{name}.after{step}"].ToDoubles();
                for (int i = 0; i < ours.Length; i++)
                    Assert.True(Math.Abs(ours[i] - theirs[i]) <= 1e-7, $"{name} on {device}, step {step + 1}, element {i}: {ours[i]} vs PyTorch {theirs[i]}");
            }
        }
    }

    [Fact]
    public void Sgd_momentum_matches_pytorch_over_two_steps()
    {
        var golden = Load("optim_f32.safetensors", Device.CpuReference).Tensors;
        var p = To(golden["sgd.init"], Device.Cpu, DType.Float32);
        p.RequiresGrad = true;
        var sgd = new Sgd([("p", p)], learningRate: 0.1, momentum: 0.9);
        for (int step = 0; step < 2; step++)
        {
            p.Grad = To(golden[$"sgd.grad{step}"], Device.Cpu, DType.Float32);
            sgd.Step();
            double[] ours = p.ToDoubles(), theirs = golden[$"sgd.after{step}"].ToDoubles();
            for (int i = 0; i < ours.Length; i++) Assert.True(Math.Abs(ours[i] - theirs[i]) <= 1e-7, $"sgd step {step + 1}, element {i}");
        }
    }
}
