using FerEngine.Model.Network;

namespace FerEngine.Model.Data;

/// <summary>
/// Turns samples into the tensors a step consumes: x [N, C, H, W] float32 = pixel / 255
/// (optionally augmented) and four Int64 label tensors [N] in <see cref="FaceTask"/> order (-1 = missing).
/// </summary>
public static class BatchBuilder
{
    /// <param name="augmentEpoch">null: no augmentation; otherwise the epoch whose Philox stream decides crops and flips</param>
    /// <param name="firstPosition">position of indices[0] within the epoch (the augmentation word index)</param>
    public static (Tensor X, Tensor[] Labels) Build(FaceDataset dataset, IReadOnlyList<FaceSample> samples, ReadOnlySpan<int> indices,
        Device device, ulong seed = 0, int? augmentEpoch = null, long firstPosition = 0)
    {
        int n = indices.Length, size = dataset.PixelsPerImage;
        var x = new float[n * size];
        var labels = new long[4][];
        for (int t = 0; t < 4; t++) labels[t] = new long[n];
        for (int i = 0; i < n; i++)
        {
            var sample = samples[indices[i]];
            var destination = x.AsSpan(i * size, size);
            if (augmentEpoch is int epoch)
                Augmentation.Apply(sample.Pixels, dataset.Channels, dataset.Height, dataset.Width,
                    Augmentation.Decide(seed, epoch, firstPosition + i), destination);
            else
                for (int p = 0; p < size; p++) destination[p] = sample.Pixels[p] / 255f;
            foreach (var task in Enum.GetValues<FaceTask>()) labels[(int)task][i] = sample.Labels[task];
        }
        var shape = new Shape(n, dataset.Channels, dataset.Height, dataset.Width);
        return (Tensor.FromArray(x, shape, device), labels.Select(l => Tensor.FromArray(l, new Shape(n), device)).ToArray());
    }
}
