using FerEngine.Nn;

namespace FerEngine.Tests.Engine;

public class NnTests
{
    private static readonly ParameterFactory F64 = new(Device.CpuReference, DType.Float64, seed: 5);

    [Fact]
    public void BatchNorm_follows_PyTorch_semantics_for_running_statistics()
    {
        var bn = new BatchNorm(F64, 1, eps: 1e-3, momentum: 0.01);
        var x = Tensor.FromArray(new double[] { 1, 2, 3, 6 }, new Shape(4, 1), Device.CpuReference);
        var y = bn.Forward(x).ToArray<double>();
        double mean = 3, biased = (4 + 1 + 0 + 9) / 4.0, unbiased = 14 / 3.0;
        Assert.Equal((1 - mean) / Math.Sqrt(biased + 1e-3), y[0], 12);     // normalised with the biased variance
        Assert.Equal(0.01 * mean, bn.RunningMean.Item(), 12);              // new = 0.99 old + 0.01 batch
        Assert.Equal(0.99 + 0.01 * unbiased, bn.RunningVar.Item(), 12);    // unbiased for the running estimate
        bn.Eval();
        var z = bn.Forward(x).ToArray<double>();
        Assert.Equal((1 - 0.03) / Math.Sqrt(0.99 + 0.01 * unbiased + 1e-3), z[0], 12);
        Assert.Equal(0.03, bn.RunningMean.Item(), 12);                     // evaluation leaves them alone
    }

    [Fact]
    public void HeNormal_has_std_sqrt_2_over_fan_in_and_is_reproducible()
    {
        var a = Init.HeNormal(new Shape(64, 32, 3, 3), 7, 1, DType.Float64, Device.CpuReference).ToArray<double>();
        var b = Init.HeNormal(new Shape(64, 32, 3, 3), 7, 1, DType.Float64, Device.CpuReference).ToArray<double>();
        Assert.Equal(a, b);
        double std = Math.Sqrt(a.Select(v => v * v).Average());
        Assert.InRange(std, Math.Sqrt(2.0 / 288) * 0.97, Math.Sqrt(2.0 / 288) * 1.03);
    }

    [Fact]
    public void Dropout_is_identity_in_eval_and_scales_kept_values_in_training()
    {
        var layer = new Dropout(F64, 0.5);
        var x = Tensor.Ones(new Shape(1000), DType.Float64, Device.CpuReference);
        layer.Eval();
        Assert.Same(x, layer.Forward(x));
        layer.Train();
        var y = layer.Forward(x).ToArray<double>();
        Assert.All(y, v => Assert.True(v == 0 || v == 2));
        Assert.InRange(y.Count(v => v == 2), 430, 570);
        layer.SetStep(1);
        Assert.NotEqual(y, layer.Forward(x).ToArray<double>()); // a new step draws a new mask
    }

    [Fact]
    public void Named_parameters_and_buffers_use_pytorch_names()
    {
        var net = new Sequential().Add("conv1", new Conv2d(F64, 1, 2, 3, 1)).Add("bn1", new BatchNorm(F64, 2));
        Assert.Equal(["conv1.weight", "conv1.bias", "bn1.weight", "bn1.bias"], net.NamedParameters().Select(p => p.Name));
        Assert.Equal(["bn1.running_mean", "bn1.running_var"], net.NamedBuffers().Select(p => p.Name));
    }

    [Fact]
    public void LoadStateDict_lists_every_problem_at_once()
    {
        var net = new Sequential().Add("fc", new Linear(F64, 3, 2));
        var state = new Dictionary<string, Tensor>
        {
            ["fc.weight"] = Tensor.Zeros(new Shape(2, 4), DType.Float64, Device.CpuReference),
            ["fc.extra"] = Tensor.Zeros(new Shape(1), DType.Float64, Device.CpuReference),
        };
        var e = Assert.Throws<ArgumentException>(() => net.LoadStateDict(state));
        Assert.Contains("missing fc.bias", e.Message);
        Assert.Contains("unexpected fc.extra", e.Message);
        Assert.Contains("fc.weight (expected [2, 3], got [2, 4])", e.Message);
    }
}
