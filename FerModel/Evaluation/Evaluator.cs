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
    /// labelled tasks when the data has no emotion labels (UTKFace alone). Only the
    /// <paramref name="trained"/> tasks count: a head that no loss trained (no training labels, or
    /// a task weight of 0) predicts at random.
    /// </summary>
    public double SelectionMetric(IReadOnlyCollection<FaceTask> trained) => EmotionSelected(trained)
        ? Accuracy(FaceTask.Emotion)
        : trained.Select(t => this[t]).Where(m => m.Total > 0).Select(m => m.Accuracy).DefaultIfEmpty(0).Average();

    public string SelectionMetricName(IReadOnlyCollection<FaceTask> trained) => SelectionMetricNameFor(EmotionSelected(trained));

    private bool EmotionSelected(IReadOnlyCollection<FaceTask> trained) => trained.Contains(FaceTask.Emotion) && this[FaceTask.Emotion].Total > 0;

    public static string SelectionMetricNameFor(bool emotionSelected) => emotionSelected ? "emotion accuracy" : "mean task accuracy";
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
                // Each head's argmax and each task's labels as the rows of one tensor, read back at once:
                // on a GPU every read waits for the device, so one per batch rather than eight.
                var tasks = Enum.GetValues<FaceTask>();
                var rows = Tensor.Empty(new Shape(2 * tasks.Length, n), DType.Int64, x.Device);   // [predictions per task; labels per task]
                foreach (var task in tasks)
                {
                    x.Backend.Argmax(logits[task], Row(rows, (int)task));
                    x.Backend.Copy(labels[(int)task], Row(rows, tasks.Length + (int)task));
                }
                long[] values = rows.ToArray<long>();
                foreach (var task in tasks)
                    for (int i = 0; i < n; i++)
                        result[task].Add(values[(tasks.Length + (int)task) * n + i], values[(int)task * n + i]);
            }
        }
        finally
        {
            model.Train(wasTraining);
        }
        return result;
    }

    /// <summary>Row r of a [R, N] tensor as an [N] view.</summary>
    private static Tensor Row(Tensor rows, int r) => rows.Slice(r, 1).View(new Shape(rows.Shape[1]));

    /// <summary>logits [N, K] -> argmax per row.</summary>
    public static long[] Predict(Tensor logits)
    {
        var indices = Tensor.Empty(new Shape(logits.Shape[0]), DType.Int64, logits.Device);
        logits.Backend.Argmax(logits, indices);
        return indices.ToArray<long>();
    }
}
