using FerEngine.Ops;

namespace FerEngine.Model.Network;

/// <summary>Per-task loss weights; defaults from the paper's reference code.</summary>
public sealed record TaskWeights(double Emotion = 2.0, double Gender = 0.1, double Race = 1.5, double Age = 4.0)
{
    public double this[FaceTask task] => task switch
    {
        FaceTask.Emotion => Emotion,
        FaceTask.Gender => Gender,
        FaceTask.Race => Race,
        _ => Age,
    };
}

/// <summary>The losses of one batch: the weighted total (differentiable) and each task's mean CE.</summary>
public sealed record JointLossResult(Tensor Total, Tensor Emotion, Tensor Gender, Tensor Race, Tensor Age)
{
    public Tensor this[FaceTask task] => task switch
    {
        FaceTask.Emotion => Emotion,
        FaceTask.Gender => Gender,
        FaceTask.Race => Race,
        _ => Age,
    };
}

/// <summary>
/// L = sum over tasks of w_t * CE_t, where CE_t is the softmax cross-entropy averaged over the
/// samples that have a label for task t (label -1 = missing). A task with no labelled sample in
/// the batch contributes exactly 0 and no gradient, so datasets with partial labels mix freely.
/// </summary>
public static class JointLoss
{
    /// <summary>labels: one Int64 tensor [N] per task, in <see cref="FaceTask"/> order.</summary>
    public static JointLossResult Compute(MultiTaskLogits logits, IReadOnlyList<Tensor> labels, TaskWeights weights)
    {
        var perTask = new Tensor[4];
        Tensor? total = null;
        foreach (var task in Enum.GetValues<FaceTask>())
        {
            perTask[(int)task] = Functional.SoftmaxCrossEntropy(logits[task], labels[(int)task]);
            var weighted = Functional.Scale(perTask[(int)task], weights[task]);
            total = total is null ? weighted : Functional.Add(total, weighted);
        }
        return new(total!, perTask[0], perTask[1], perTask[2], perTask[3]);
    }
}
