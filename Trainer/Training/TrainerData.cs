using FerEngine.Model.Data;
using FerEngine.Trainer.Reporting;

namespace FerEngine.Trainer.Training;

/// <summary>
/// The loaded dataset as the training loop sees it: the epoch order, batches by position, and the
/// validation split in order. A final training batch of one image is dropped (batch norm needs two).
/// Training batches live in their own step arena: a batch is valid until the next one is made, and
/// device memory does not grow with the number of batches (a GPU does not collect garbage).
/// </summary>
public sealed class TrainerData(FaceDataset dataset, Device device) : IDisposable
{
    private readonly Memory.StepArena _batches = device.CreateArena("batch");

    public FaceDataset Dataset { get; } = dataset;

    /// <summary>Where the batches are made.</summary>
    public Device Device => device;

    public static TrainerData Load(TrainOptions options, Device device, IProgressReporter progress)
    {
        var loadOptions = new LoadOptions(options.Channels, options.Height, options.ImageWidth, options.SkipBad, options.Seed,
            options.SyntheticTrain ?? TrainOptions.DefaultSyntheticTrain, options.SyntheticValidation ?? TrainOptions.DefaultSyntheticValidation);
        var dataset = DatasetLoader.Load(options.Data, options.Format, loadOptions);
        progress.Info(dataset.Report.ToString());
        progress.Info($"{dataset.Train.Count} training, {dataset.Validation.Count} validation, {dataset.Test.Count} test images");
        if (dataset.Validation.Count == 0)
            throw new InvalidDataException("no validation images: the dataset is too small to hold out 10 % for validation.");
        return new TrainerData(dataset, device);
    }

    /// <summary>
    /// Refuses synthetic faces that cannot fit in memory before they are made (one byte per pixel and
    /// channel, all held at once): the operating system would kill the process without a word.
    /// </summary>
    public static void RequireMemoryForSynthetic(TrainOptions options)
    {
        if (options.Data.Count > 0) return;
        int train = options.SyntheticTrain ?? TrainOptions.DefaultSyntheticTrain, validation = options.SyntheticValidation ?? TrainOptions.DefaultSyntheticValidation;
        long bytes = ((long)train + validation) * options.Channels * options.Height * options.ImageWidth;
        long available = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
        if (bytes <= 0.5 * available) return;
        throw new UsageException($"--synthetic-train {train} and --synthetic-validation {validation} at --image-size {options.ImageSize} " +
            $"need {bytes / (double)(1L << 30):N1} GiB of images; this machine has {available / (double)(1L << 30):N1} GiB. Use fewer images or a smaller --image-size.");
    }

    public int BatchesPerEpoch(int batch)
    {
        int full = Dataset.Train.Count / batch, rest = Dataset.Train.Count % batch;
        return full + (rest >= 2 ? 1 : 0);
    }

    public int[] EpochOrder(ulong seed, int epoch) => Model.Data.EpochOrder.Shuffle(Dataset.Train.Count, seed, epoch);

    /// <summary>Batch b of the epoch: samples order[b * batch ...], augmented by their position when asked.</summary>
    public (Tensor X, Tensor[] Labels) TrainBatch(int[] order, int b, int batch, int epoch, bool augment, ulong seed)
    {
        int start = b * batch, count = Math.Min(batch, order.Length - start);
        using var _ = device.BeginStep(_batches);
        return BatchBuilder.Build(Dataset, Dataset.Train, order.AsSpan(start, count), device, seed, augment ? epoch : null, start);
    }

    public int ValidationCount => Dataset.Validation.Count;

    public (Tensor X, IReadOnlyList<Tensor> Labels) ValidationBatch(int start, int count) => SplitBatch(Dataset.Validation, start, count);

    /// <summary>Images start .. start + count - 1 of the test split, in order (scored once, at the end of a run).</summary>
    public (Tensor X, IReadOnlyList<Tensor> Labels) TestBatch(int start, int count) => SplitBatch(Dataset.Test, start, count);

    private (Tensor X, IReadOnlyList<Tensor> Labels) SplitBatch(List<FaceSample> split, int start, int count) =>
        BatchBuilder.Build(Dataset, split, Enumerable.Range(start, count).ToArray(), device);

    public void Dispose() => _batches.Dispose();
}
