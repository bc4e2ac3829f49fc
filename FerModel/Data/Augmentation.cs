using FerEngine.Random;

namespace FerEngine.Model.Data;

/// <summary>
/// The training augmentation of the data pipeline: random crop (4-pixel replicate padding) and
/// horizontal flip, one Philox word per image from the epoch's augmentation stream
/// (<see cref="RandomStreams.Augment"/> + epoch) at the image's position in the epoch. The rule
/// itself is <see cref="ImageAugmentation"/>; every backend applies it in
/// <see cref="Backends.IBackend.ImageBatch"/> (on a GPU: the image_batch_u8 kernel).
/// </summary>
public static class Augmentation
{
    /// <summary>The augmentation of a batch whose first image sits at <paramref name="firstPosition"/> of the epoch.</summary>
    public static ImageAugmentation ForBatch(ulong seed, int epoch, long firstPosition) =>
        new(seed, RandomStreams.Augment + (ulong)epoch, firstPosition);

    /// <summary>The shift and flip of the image at <paramref name="position"/> of the epoch.</summary>
    public static ImageAugmentation.Choice Decide(ulong seed, int epoch, long position) => ForBatch(seed, epoch, position).For(0);
}
