using FerEngine.Model.Network;

namespace FerEngine.Tests.Model;

/// <summary>Model files whose weights are not all finite are refused.</summary>
public class ModelFileFiniteTests
{
    // Behaviour (belongs in Tests/Model/FerNetTests.cs): model weights holding an infinity are refused
    // like weights holding NaN (CliTests only poisons a weight with NaN).
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
