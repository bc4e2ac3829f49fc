using FerEngine.Backends;

namespace FerEngine.Optim;

/// <summary>
/// Adam (Kingma and Ba) with PyTorch's semantics and defaults: betas (0.9, 0.999), eps 1e-8,
/// bias correction, optional L2 weight decay added to the gradient. The whole update of all the
/// tensors is one fused primitive (<see cref="IBackend.AdamUpdate"/>; on a GPU one launch per 64 tensors, so one for FerNet's 36).
/// </summary>
public sealed class Adam : Optimizer
{
    private readonly Dictionary<string, (Tensor M, Tensor V)> _moments = [];

    public Adam(IEnumerable<(string Name, Tensor Tensor)> parameters, double learningRate = 1e-3,
        double beta1 = 0.9, double beta2 = 0.999, double epsilon = 1e-8, double weightDecay = 0.0)
        : base(parameters, learningRate)
    {
        Beta1 = beta1;
        Beta2 = beta2;
        Epsilon = epsilon;
        WeightDecay = weightDecay;
        if (Parameters.Select(p => (p.Tensor.DType, p.Tensor.Device)).Distinct().Count() > 1)
            throw new ArgumentException("Adam: every parameter must have the same dtype and device (one step-scalar tensor serves them all).");
        foreach (var (name, p) in Parameters)
            _moments[name] = (Tensor.Zeros(p.Shape, p.DType, p.Device), Tensor.Zeros(p.Shape, p.DType, p.Device));
    }

    public double Beta1 { get; }
    public double Beta2 { get; }
    public double Epsilon { get; }
    public double WeightDecay { get; }

    private AdamHyperparameters Hyperparameters => new(LearningRate, Beta1, Beta2, Epsilon, WeightDecay);

    /// <summary>[2] in the parameters' dtype on their device: -lr / (1 - b1^t), sqrt(1 - b2^t) of the current step.</summary>
    private Tensor? _stepScalars;

    protected override void WriteStepScalars()
    {
        if (Parameters.Count == 0) return;
        var first = Parameters[0].Tensor;
        _stepScalars ??= Tensor.Zeros(new Shape(2), first.DType, first.Device);
        Hyperparameters.WriteStepScalars(StepCount, _stepScalars);
    }

    /// <summary>Every parameter that has a gradient in one call (on a GPU: one launch per 64 tensors, <see cref="Kernels.AdamTable"/>).</summary>
    public override void ApplyUpdates()
    {
        var tensors = WithGradients().Select(p => new AdamTensors(p.Parameter, p.Gradient, _moments[p.Name].M, _moments[p.Name].V)).ToList();
        if (tensors.Count > 0) tensors[0].Parameter.Backend.AdamUpdate(tensors, Hyperparameters, _stepScalars!);
    }

    public override IReadOnlyDictionary<string, Tensor> State =>
        _moments.SelectMany(kv => new[] { (kv.Key + ".exp_avg", kv.Value.M), (kv.Key + ".exp_avg_sq", kv.Value.V) })
            .ToDictionary(p => p.Item1, p => p.Item2);
}
