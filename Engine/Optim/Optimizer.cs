namespace FerEngine.Optim;

/// <summary>
/// Updates parameters from their accumulated gradients. State tensors (Adam's moments, SGD's
/// momentum) are persistent allocations beside the parameters, named "&lt;parameter&gt;.&lt;state&gt;"
/// so that the trainer can save and restore them.
/// </summary>
public abstract class Optimizer
{
    protected Optimizer(IEnumerable<(string Name, Tensor Tensor)> parameters, double learningRate)
    {
        Parameters = parameters.ToList();
        LearningRate = learningRate;
    }

    public IReadOnlyList<(string Name, Tensor Tensor)> Parameters { get; }
    public double LearningRate { get; set; }
    /// <summary>Number of steps taken (PyTorch's "step"; Adam's bias correction uses it).</summary>
    public int StepCount { get; set; }

    /// <summary>One update of every parameter that has a gradient: <see cref="PrepareStep"/>, then <see cref="ApplyUpdates"/>.</summary>
    public void Step()
    {
        PrepareStep();
        ApplyUpdates();
    }

    /// <summary>
    /// The host's part of a step: counts it and writes what changes from step to step (Adam's bias
    /// corrections, the learning rate) into device memory. A captured CUDA graph holds only
    /// <see cref="ApplyUpdates"/>, so this runs before every replay.
    /// </summary>
    public void PrepareStep()
    {
        StepCount++;
        WriteStepScalars();
    }

    /// <summary>The device's part of a step: the fused updates of every parameter that has a gradient.</summary>
    public abstract void ApplyUpdates();

    /// <summary>The parameters a gradient reached, with it (like PyTorch, the others are skipped).</summary>
    protected IEnumerable<(string Name, Tensor Parameter, Tensor Gradient)> WithGradients() =>
        Parameters.Where(p => p.Tensor.Grad is not null).Select(p => (p.Name, p.Tensor, p.Tensor.Grad!));

    /// <summary>Why <see cref="ApplyUpdates"/> cannot be captured in a CUDA graph and replayed (it passes per-step values as launch arguments), or null.</summary>
    public virtual string? NotCapturable => null;

    /// <summary>Writes this step's values into device memory (nothing by default).</summary>
    protected virtual void WriteStepScalars() { }

    /// <summary>
    /// Forgets every parameter's gradient (Grad = null, PyTorch's set_to_none), so that the next
    /// backward pass adopts its first gradient without a copy or a memset.
    /// </summary>
    public void ZeroGrad()
    {
        foreach (var (_, p) in Parameters) p.Grad = null;
    }

    /// <summary>The optimiser's state tensors by name, for checkpoints.</summary>
    public abstract IReadOnlyDictionary<string, Tensor> State { get; }
}
