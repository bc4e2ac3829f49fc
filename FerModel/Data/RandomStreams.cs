namespace FerEngine.Model.Data;

/// <summary>
/// Philox stream numbers of the data pipeline, one range per purpose (high bits), so that shuffling,
/// augmentation, splitting and synthesis never draw the same numbers. Layer streams (dropout,
/// initialisation) stay below 2^40.
/// </summary>
public static class RandomStreams
{
    public const ulong Shuffle = 1UL << 40;       // + epoch
    public const ulong Augment = 2UL << 40;       // + epoch
    public const ulong ValidationSplit = 3UL << 40;
    public const ulong Synthetic = 4UL << 40;     // + split
}
