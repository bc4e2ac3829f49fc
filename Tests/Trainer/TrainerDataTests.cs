using FerEngine.Backends.Cpu;
using FerEngine.Model.Data;
using FerEngine.Model.Evaluation;
using FerEngine.Model.Network;
using FerEngine.Model.Training;
using FerEngine.Trainer.Reporting;
using FerEngine.Trainer.Training;

namespace FerEngine.Tests.Trainer;

/// <summary>What the training loop feeds the step and what it reports: batches, running losses, the selection metric.</summary>
public sealed class TrainerDataTests
{
    private sealed class Quiet : IProgressReporter
    {
        public void Info(string message) { }
        public void BeginEpoch(int epoch, int epochs, int batches) { }
        public void Step(StepLosses loss, int images) { }
        public void EndEpoch(EpochMetrics metrics, bool improved) { }
    }

    [Fact]
    public void A_training_batch_is_augmented_by_its_samples_positions_in_the_epoch()
    {
        var options = new TrainOptions { SyntheticTrain = 12, SyntheticValidation = 2, Augment = true, Threads = 1, Device = "cpu", Out = "unused" };
        using var data = TrainerData.Load(options, Device.Cpu, new Quiet());
        int[] order = data.EpochOrder(seed: 9, epoch: 2);

        var (x, labels) = data.TrainBatch(order, b: 1, batch: 4, epoch: 2, augment: true, seed: 9);
        // Batch 1 holds the epoch's positions 4..7: each image shifted and flipped as the rule decides for its position.
        const int size = 48 * 48;
        var expected = new float[4 * size];
        for (int i = 0; i < 4; i++)
        {
            var sample = data.Dataset.Train[order[4 + i]];
            ReferenceLoops<float>.AugmentImage(sample.Pixels, 1, 48, 48, Augmentation.Decide(seed: 9, epoch: 2, position: 4 + i), expected.AsSpan(i * size, size));
            Assert.Equal(sample.Labels.Emotion, labels[0].ToArray<long>()[i]);
        }
        Assert.Equal(expected, x.ToArray<float>());
        var (unaugmented, _) = BatchBuilder.Build(data.Dataset, data.Dataset.Train, order.AsSpan(4, 4), Device.Cpu);
        Assert.NotEqual(unaugmented.ToArray<float>(), x.ToArray<float>());   // the comparison above is about augmentation
    }

    [Fact]
    public void A_task_without_labels_in_any_batch_has_no_mean_loss()
    {
        var losses = new RunningLosses();
        losses.Add(new StepLosses(Total: 3, Emotion: 2, Gender: 0, Race: 0.5, Age: 0));
        losses.Add(new StepLosses(Total: 5, Emotion: 4, Gender: 0, Race: 0, Age: 0));
        Assert.Equal(4, losses.Total);
        Assert.Equal(3, losses.Mean(0));
        Assert.True(double.IsNaN(losses.Mean(1)), "gender had no labels: NaN (metrics.csv writes nan), not 0");
        Assert.Equal(0.5, losses.Mean(2));   // only the batch that had race labels counts
    }

    [Fact]
    public void Without_emotion_labels_the_selection_metric_is_the_mean_accuracy_of_the_labelled_trained_tasks()
    {
        var all = Enum.GetValues<FaceTask>();
        var result = new EvaluationResult();
        result[FaceTask.Gender].Add(0, 0);
        result[FaceTask.Gender].Add(1, 0);
        result[FaceTask.Race].Add(0, 1);
        result[FaceTask.Age].Add(2, 2);
        Assert.Equal((0.5 + 0.0 + 1.0) / 3, result.SelectionMetric(all));
        Assert.Equal("mean task accuracy", result.SelectionMetricName(all));
        Assert.Equal((0.5 + 1.0) / 2, result.SelectionMetric([FaceTask.Emotion, FaceTask.Gender, FaceTask.Age]));   // race untrained
        result[FaceTask.Emotion].Add(3, 4);
        Assert.Equal(0.0, result.SelectionMetric(all));
        Assert.Equal("emotion accuracy", result.SelectionMetricName(all));
        // Emotion labelled but not trained (weight 0): the trained tasks' mean.
        Assert.Equal(0.5, result.SelectionMetric([FaceTask.Gender]));
        Assert.Equal("mean task accuracy", result.SelectionMetricName([FaceTask.Gender]));
    }
}
