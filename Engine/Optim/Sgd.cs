namespace FerEngine.Optim;

/// <summary>SGD with optional momentum and L2 weight decay, PyTorch semantics (no dampening, not Nesterov).</summary>
public sealed class Sgd : Optimizer
{
    private readonly Dictionary<string, Tensor> _momentum = [];

    public Sgd(IEnumerable<(string Name, Tensor Tensor)> parameters, double learningRate, double momentum = 0.0, double weightDecay = 0.0)
        : base(parameters, learningRate)
    {
        Momentum = momentum;
        WeightDecay = weightDecay;
        foreach (var (name, p) in Parameters) _momentum[name] = Tensor.Zeros(p.Shape, p.DType, p.Device);
    }

    public double Momentum { get; }
    public double WeightDecay { get; }

    public override string? NotCapturable => "SGD passes its learning rate and first-step flag as kernel launch arguments";

    /// <summary>One fused update per parameter that has a gradient.</summary>
    public override void ApplyUpdates()
    {
        foreach (var (name, parameter, gradient) in WithGradients())
            parameter.Backend.SgdUpdate(parameter, gradient, _momentum[name], LearningRate, Momentum, WeightDecay, StepCount);
    }

    public override IReadOnlyDictionary<string, Tensor> State =>
        _momentum.ToDictionary(kv => kv.Key + ".momentum_buffer", kv => kv.Value);
}
