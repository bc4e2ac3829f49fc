using System.Globalization;
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

    /// <summary>"2,0.1,1.5,4": emotion, gender, race, age, as `fer train --task-weights` takes them.</summary>
    public override string ToString() => string.Join(",", new[] { Emotion, Gender, Race, Age }.Select(w => w.ToString(CultureInfo.InvariantCulture)));

    /// <summary>Reads "E,G,R,A": four finite weights, each 0 or more, not all 0. Null when the text is not that.</summary>
    public static TaskWeights? TryParse(string text)
    {
        var parts = text.Split(',');
        var weights = new double[parts.Length];
        for (int i = 0; i < parts.Length; i++)
            if (!double.TryParse(parts[i], NumberStyles.Float, CultureInfo.InvariantCulture, out weights[i]) || !double.IsFinite(weights[i]) || weights[i] < 0) return null;
        return weights.Length == 4 && weights.Any(w => w > 0) ? new(weights[0], weights[1], weights[2], weights[3]) : null;
    }
}

/// <summary>
/// The losses of one batch: the weighted total (differentiable) and each task's mean CE, one-element
/// views of <see cref="All"/> = [total, emotion, gender, race, age] (one copy reads the five).
/// </summary>
public sealed record JointLossResult(Tensor Total, Tensor All)
{
    public Tensor Emotion => Task(FaceTask.Emotion);
    public Tensor Gender => Task(FaceTask.Gender);
    public Tensor Race => Task(FaceTask.Race);
    public Tensor Age => Task(FaceTask.Age);

    private Tensor Task(FaceTask task) => All.Slice(1 + (int)task, 1).View(Shape.Scalar);

    public Tensor this[FaceTask task] => Task(task);
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
        var tasks = Enum.GetValues<FaceTask>();
        var (total, all) = Functional.JointSoftmaxCrossEntropy([.. tasks.Select(t => logits[t])], labels, [.. tasks.Select(t => weights[t])]);
        return new(total, all);
    }
}
