using FerEngine.Model.Data;
using FerEngine.Model.Evaluation;
using FerEngine.Model.Network;

namespace FerEngine.Tests.Model;

public class EvaluatorTests
{
    /// <summary>
    /// Evaluator's confusion matrices against counts made here from the same model's logits: the argmax
    /// of each row, counted at [truth, prediction], unlabelled rows left out. The split goes through in
    /// batches of 4 (the last one partial); in evaluation mode batch norm uses its running statistics,
    /// so the logits do not depend on the batching.
    /// </summary>
    [Fact]
    public void Confusion_counts_are_truth_by_prediction_over_every_batch()
    {
        const int count = 11, side = 16;
        var net = new FerNet(new FerNetConfig(Width: 0.125, Height: side, ImageWidth: side), Device.Cpu, seed: 3);
        float[] pixels = Tensor.Uniform(new Shape(count, 1, side, side), 0, 1, 5, 1, DType.Float32, Device.Cpu).ToArray<float>();
        var tasks = Enum.GetValues<FaceTask>();
        var random = new System.Random(4);
        long[][] labels = tasks.Select(task => Enumerable.Range(0, count)
            .Select(i => i % 4 == 1 ? Labels.Missing : random.Next(Labels.ClassNames(task).Count)).Select(l => (long)l).ToArray()).ToArray();

        var result = Evaluator.Evaluate(net, count, batch: 4, (start, n) => (
            Tensor.FromArray(pixels[(start * side * side)..((start + n) * side * side)], new Shape(n, 1, side, side), Device.Cpu),
            labels.Select(task => Tensor.FromArray(task[start..(start + n)], new Shape(n), Device.Cpu)).ToList()));

        net.Eval();
        MultiTaskLogits logits;
        using (FerEngine.Autograd.Autograd.NoGrad()) logits = net.ForwardTasks(Tensor.FromArray(pixels, new Shape(count, 1, side, side), Device.Cpu));
        foreach (var task in tasks)
        {
            int classes = Labels.ClassNames(task).Count;
            float[] values = logits[task].ToArray<float>();
            var expected = new long[classes, classes];
            for (int i = 0; i < count; i++)
            {
                var row = values.AsSpan(i * classes, classes);
                int predicted = row.IndexOf(System.Numerics.Tensors.TensorPrimitives.Max(row));
                if (labels[(int)task][i] >= 0) expected[labels[(int)task][i], predicted]++;
            }
            Assert.Equal(expected, result[task].Counts);
            Assert.Equal(count - 3, result[task].Total);   // rows 1, 5 and 9 are unlabelled
        }
    }
}
