namespace FerEngine.Random;

/// <summary>
/// The training augmentation of one batch: a random crop with 4-pixel replicate padding and a
/// random horizontal flip per image, decided by one Philox word so that every device reproduces it
/// bit for bit (the CPU loops and the image_batch_u8 PTX kernel):
///   w    = Philox.Word(Seed, Stream, FirstPosition + n)      for image n of the batch
///   dx   = (w &amp; 0xFF) mod 9 - 4,  dy = ((w >> 8) &amp; 0xFF) mod 9 - 4,  flip = (w >> 16) &amp; 1
///   out[c, y, x] = in[c, clamp(y + dy), clamp(x' + dx)]  with x' = flip ? W - 1 - x : x
/// (clamping to the image is the replicate padding).
/// </summary>
/// <param name="Seed">the run's seed (the Philox key)</param>
/// <param name="Stream">what the numbers are for (the data pipeline uses one stream per epoch)</param>
/// <param name="FirstPosition">the position of the batch's first image in the epoch</param>
public readonly record struct ImageAugmentation(ulong Seed, ulong Stream, long FirstPosition)
{
    public const int Padding = 4;

    /// <summary>The shift and flip of one image.</summary>
    public readonly record struct Choice(int Dx, int Dy, bool Flip)
    {
        public static readonly Choice None = new(0, 0, false);
    }

    /// <summary>The choice for image <paramref name="n"/> of the batch.</summary>
    public Choice For(int n) => Decode(Philox.Word(Seed, Stream, (ulong)(FirstPosition + n)));

    public static Choice Decode(uint w) =>
        new((int)((w & 0xFF) % 9) - Padding, (int)(((w >> 8) & 0xFF) % 9) - Padding, ((w >> 16) & 1) == 1);
}
