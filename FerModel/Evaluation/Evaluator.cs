using FerEngine.Model.Data;
using FerEngine.Model.Network;

namespace FerEngine.Model.Evaluation;

/// <summary>Confusion matrices of the four tasks over one split.</summary>
public sealed class EvaluationResult
{
    public EvaluationResult() =>
        Matrices = Enum.GetValues<FaceTask>().Select(t => new ConfusionMatrix(Labels.ClassNames(t))).ToArray();

    public IReadOnlyList<ConfusionMatrix> Matrices { get; }
    public ConfusionMatrix this[FaceTask task] => Matrices[(int)task];
    public double Accuracy(FaceTask task) => this[task].Accuracy;

    /// <summary>
    /// What early stopping and the LR schedule watch: emotion accuracy, or the mean accuracy of the
    /// labelled tasks when the data has no emotion labels (UTKFace alone).
    /// </summary>
    public double SelectionMetric => this[FaceTask.Emotion].Total > 0
        ? Accuracy(FaceTask.Emotion)
        : Matrices.Where(m => m.Total > 0).Select(m => m.Accuracy).DefaultIfEmpty(0).Average();

    public string SelectionMetricName => this[FaceTask.Emotion].Total > 0 ? "emotion accuracy" : "mean task accuracy";
}

/// <summary>
/// Runs the model in evaluation mode (running batch-norm statistics, no dropout, no graph) over
/// a split, batch by batch, and counts predictions (argmax of each head) against the labels.
/// </summary>
public static class Evaluator
{
    /// <param name="count">samples in the split</param>
    /// <param name="batch">batch size</param>
    /// <param name="makeBatch">(first sample, count) -> x [n, C, H, W] and four Int64 label tensors [n]</param>
    public static EvaluationResult Evaluate(FerNet model, int count, int batch,
        Func<int, int, (Tensor X, IReadOnlyList<Tensor> Labels)> makeBatch)
    {
        var result = new EvaluationResult();
        bool wasTraining = model.IsTraining;
        model.Eval();
        using var arena = model.Fc.Weight.Device.CreateArena("eval"); // reused by every batch of this pass, released at the end
        try
        {
            for (int start = 0; start < count; start += batch)
            {
                int n = Math.Min(batch, count - start);
                using var _ = model.Fc.Weight.Device.BeginStep(arena);
                var (x, labels) = makeBatch(start, n);
                using var noGrad = Autograd.Autograd.NoGrad();
                var logits = model.ForwardTasks(x);
                foreach (var task in Enum.GetValues<FaceTask>())
                {
                    long[] predicted = Predict(logits[task]), truth = labels[(int)task].ToArray<long>();
                    for (int i = 0; i < n; i++) result[task].Add(truth[i], predicted[i]);
                }
            }
        }
        finally
        {
            model.Train(wasTraining);
        }
        return result;
    }

    /// <summary>logits [N, K] -> argmax per row.</summary>
    public static long[] Predict(Tensor logits)
    {
        var indices = Tensor.Empty(new Shape(logits.Shape[0]), DType.Int64, logits.Device);
        logits.Backend.Argmax(logits, indices);
        return indices.ToArray<long>();
    }
}
