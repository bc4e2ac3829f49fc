using FerEngine.Model.Network;
using FerEngine.Memory;
using FerEngine.Optim;

namespace FerEngine.Model.Training;

/// <summary>The four tasks' losses of one step, read back to the host.</summary>
public sealed record StepLosses(double Total, double Emotion, double Gender, double Race, double Age);

/// <summary>
/// One training step, the unit everything else repeats:
///   forward (train mode) -> joint loss -> backward in topological order -> optimiser update.
/// x [N, C, H, W] holds pixels / 255; labels are four Int64 [N] tensors (-1 = missing) in
/// <see cref="FaceTask"/> order. Everything the step allocates comes from this TrainStep's own
/// <see cref="Arena"/>, so the returned losses stay valid until the next step begins.
/// </summary>
public sealed class TrainStep(FerNet model, Optimizer optimizer, TaskWeights weights) : IDisposable
{
    public FerNet Model { get; } = model;
    public Optimizer Optimizer { get; } = optimizer;
    public TaskWeights Weights { get; } = weights;

    /// <summary>The memory every step reuses (activations, gradients, temporaries).</summary>
    public StepArena Arena { get; } = model.Fc.Weight.Device.CreateArena("train");

    public JointLossResult Run(Tensor x, IReadOnlyList<Tensor> labels, ulong step)
    {
        using var _ = x.Device.BeginStep(Arena);
        Model.Train();
        Model.SetStep(step);
        Optimizer.ZeroGrad();
        var loss = JointLoss.Compute(Model.ForwardTasks(x), labels, Weights);
        loss.Total.Backward();
        Optimizer.Step();
        return loss;
    }

    /// <summary>Gives the arena's memory back (the last step's losses become invalid).</summary>
    public void Dispose() => Arena.Dispose();

    public static StepLosses Read(JointLossResult loss) =>
        new(loss.Total.Item(), loss.Emotion.Item(), loss.Gender.Item(), loss.Race.Item(), loss.Age.Item());
}
