using FerEngine.Model.Network;

namespace FerEngine.Model.Data;

/// <summary>
/// Turns samples into the tensors a step consumes: x [N, C, H, W] float32 = pixel / 255
/// (optionally augmented) and four Int64 label tensors [N] in <see cref="FaceTask"/> order (-1 = missing).
/// The pixels travel to the device as bytes (a quarter of the floats' size); the device's
/// <see cref="Backends.IBackend.ImageBatch"/> converts and augments them there.
/// </summary>
public static class BatchBuilder
{
    /// <param name="augmentEpoch">null: no augmentation; otherwise the epoch whose Philox stream decides crops and flips</param>
    /// <param name="firstPosition">position of indices[0] within the epoch (the augmentation word index)</param>
    public static (Tensor X, Tensor[] Labels) Build(FaceDataset dataset, IReadOnlyList<FaceSample> samples, ReadOnlySpan<int> indices,
        Device device, ulong seed = 0, int? augmentEpoch = null, long firstPosition = 0)
    {
        int n = indices.Length, size = dataset.PixelsPerImage;
        var pixels = new byte[n * size];
        var labels = new long[4][];
        for (int t = 0; t < 4; t++) labels[t] = new long[n];
        for (int i = 0; i < n; i++)
        {
            var sample = samples[indices[i]];
            sample.Pixels.CopyTo(pixels.AsSpan(i * size, size));
            foreach (var task in Enum.GetValues<FaceTask>())
            {
                int label = sample.Labels[task], classes = FerNet.ClassCounts[(int)task];
                // Checked here, on the host: a GPU kernel cannot refuse a label, it would read past the row.
                if (label < Labels.Missing || label >= classes)
                    throw new InvalidDataException($"{sample.Source}: {task} label {label} is outside 0..{classes - 1} (or -1 for none).");
                labels[(int)task][i] = label;
            }
        }
        var shape = new Shape(n, dataset.Channels, dataset.Height, dataset.Width);
        var x = Tensor.Empty(shape, DType.Float32, device);
        var augmentation = augmentEpoch is int epoch ? Augmentation.ForBatch(seed, epoch, firstPosition) : (Random.ImageAugmentation?)null;
        x.Backend.ImageBatch(Tensor.FromArray(pixels, shape, device), x, augmentation);
        return (x, labels.Select(l => Tensor.FromArray(l, new Shape(n), device)).ToArray());
    }
}
