using FerEngine.Ops;

namespace FerEngine.Nn;

/// <summary>2-D convolution, stride 1, square odd kernel, zero padding: [N, Cin, H, W] -> [N, Cout, Ho, Wo].</summary>
public sealed class Conv2d : Module
{
    public Conv2d(ParameterFactory f, int inChannels, int outChannels, int kernelSize, int padding, bool bias = true)
    {
        Padding = padding;
        Weight = RegisterParameter("weight", f.HeNormal(outChannels, inChannels, kernelSize, kernelSize));
        Bias = bias ? RegisterParameter("bias", f.Zeros(outChannels)) : null;
    }

    public int Padding { get; }
    public Tensor Weight { get; }   // [Cout, Cin, K, K]
    public Tensor? Bias { get; }    // [Cout]

    public override Tensor Forward(Tensor x) => Functional.Conv2d(x, Weight, Bias, Padding);

    /// <summary>The convolution alone, for a next op that adds <see cref="Bias"/> itself (<see cref="BatchNorm.ForwardOfElu"/>).</summary>
    public Tensor ForwardWithoutBias(Tensor x) => Functional.Conv2d(x, Weight, null, Padding);
}

/// <summary>Fully connected: [N, In] -> [N, Out], y = x W^T + b.</summary>
public sealed class Linear : Module
{
    public Linear(ParameterFactory f, int inFeatures, int outFeatures, bool bias = true)
    {
        Weight = RegisterParameter("weight", f.HeNormal(outFeatures, inFeatures));
        Bias = bias ? RegisterParameter("bias", f.Zeros(outFeatures)) : null;
    }

    public Tensor Weight { get; }   // [Out, In]
    public Tensor? Bias { get; }    // [Out]

    public override Tensor Forward(Tensor x) => Functional.Linear(x, Weight, Bias);

    /// <summary>x W^T alone, for a next op that adds <see cref="Bias"/> itself (<see cref="BatchNorm.ForwardOfElu"/>).</summary>
    public Tensor ForwardWithoutBias(Tensor x) => Functional.Linear(x, Weight, null);
}

/// <summary>ELU with the given alpha (default 1). Any shape.</summary>
public sealed class Elu(double alpha = 1.0) : Module
{
    public double Alpha { get; } = alpha;
    public override Tensor Forward(Tensor x) => Functional.Elu(x, Alpha);
}

/// <summary>ReLU. Any shape.</summary>
public sealed class Relu : Module
{
    public override Tensor Forward(Tensor x) => Functional.Relu(x);
}

/// <summary>
/// Batch normalisation over every axis but 1, for [N, C] (BatchNorm1d) and [N, C, H, W]
/// (BatchNorm2d), with PyTorch semantics: momentum is the weight of the new batch statistics
/// (new = (1 - momentum) * old + momentum * batch), biased variance normalises, unbiased variance
/// updates the running estimate.
/// </summary>
public sealed class BatchNorm : Module
{
    public BatchNorm(ParameterFactory f, int channels, double eps = 1e-5, double momentum = 0.1)
    {
        Eps = eps;
        Momentum = momentum;
        Gamma = RegisterParameter("weight", f.Ones(channels));
        Beta = RegisterParameter("bias", f.Zeros(channels));
        RunningMean = RegisterBuffer("running_mean", f.Zeros(channels));
        RunningVar = RegisterBuffer("running_var", f.Ones(channels));
    }

    public double Eps { get; }
    public double Momentum { get; }
    public Tensor Gamma { get; }        // [C]
    public Tensor Beta { get; }         // [C]
    public Tensor RunningMean { get; }  // [C]
    public Tensor RunningVar { get; }   // [C]

    public override Tensor Forward(Tensor x) =>
        Functional.BatchNorm(x, Gamma, Beta, RunningMean, RunningVar, IsTraining, Momentum, Eps);

    /// <summary>
    /// Forward(ELU(x + bias)), bias [C] the preceding layer's (or null), as one op that a backend may
    /// fuse, forward and backward (<see cref="Functional.EluBatchNorm"/> says which do).
    /// </summary>
    public Tensor ForwardOfElu(Tensor x, Tensor? bias = null, double alpha = 1.0) =>
        Functional.EluBatchNorm(x, bias, Gamma, Beta, RunningMean, RunningVar, IsTraining, Momentum, Eps, alpha);
}

/// <summary>2x2 max-pool, stride 2: [N, C, H, W] -> [N, C, H/2, W/2].</summary>
public sealed class MaxPool2x2 : Module
{
    public override Tensor Forward(Tensor x) => Functional.MaxPool2x2(x);
}

/// <summary>
/// Inverted dropout. The mask of element i at training step s is decided by
/// Philox(seed, stream = Stream * 2^32 + s, i): write s into <see cref="Step"/> before each
/// training step (<see cref="SetStep"/>) so that a resumed run and every device draw the same masks.
/// </summary>
/// <param name="step">the training-step tensor to read (Int64 [1]; layers of one network share one), or null for a new one</param>
public sealed class Dropout(ParameterFactory f, double probability, Tensor? step = null) : Module
{
    public double Probability { get; } = probability;
    public ulong Seed { get; } = f.Seed;
    public ulong Stream { get; } = f.NextStream();

    /// <summary>
    /// The training step s, one Int64 in device memory (not a launch argument), so that a CUDA graph
    /// captured once draws new masks at every replay. Layers of one network may share one tensor.
    /// </summary>
    public Tensor Step { get; } = step ?? Tensor.Zeros(new Shape(1), DType.Int64, f.Device);

    /// <summary>Writes s into <see cref="Step"/> (a host-to-device copy; outside any captured graph).</summary>
    public void SetStep(ulong step) => Step.Backend.CopyFromHost<long>([(long)step], Step);

    // Each dropout layer owns 2^32 Philox streams, one per step (Stream << 32, plus the step on the
    // device): two layers never draw the same mask, whatever the step.
    public override Tensor Forward(Tensor x) =>
        Functional.Dropout(x, Probability, IsTraining, Seed, Stream << 32, Step);
}

/// <summary>[N, C, H, W] -> [N, C*H*W] (C, H, W order, as PyTorch's flatten).</summary>
public sealed class Flatten : Module
{
    public override Tensor Forward(Tensor x) => x.Flatten(1);
}

/// <summary>Runs child modules in order.</summary>
public sealed class Sequential : Module
{
    private readonly List<Module> _layers = [];

    public Sequential Add(string name, Module layer)
    {
        _layers.Add(RegisterModule(name, layer));
        return this;
    }

    public override Tensor Forward(Tensor x)
    {
        foreach (var layer in _layers) x = layer.Forward(x);
        return x;
    }
}
