using FerEngine.Random;

namespace FerEngine.Model.Data;

/// <summary>
/// Random crop with 4-pixel replicate padding and horizontal flip, decided by one Philox word per
/// image so that every device can reproduce it bit for bit:
///   w = Philox.Word(seed, RandomStreams.Augment + epoch, position of the image in the epoch)
///   dx = (w & 0xFF) mod 9 - 4,  dy = ((w >> 8) & 0xFF) mod 9 - 4,  flip = (w >> 16) & 1
///   out[c, y, x] = in[c, clamp(y + dy), clamp(x' + dx)]  with x' = flip ? W - 1 - x : x
/// (clamp to the image = replicate padding).
/// </summary>
public static class Augmentation
{
    public const int Padding = 4;

    public readonly record struct Choice(int Dx, int Dy, bool Flip);

    public static Choice Decide(ulong seed, int epoch, long position)
    {
        uint w = Philox.Word(seed, RandomStreams.Augment + (ulong)epoch, (ulong)position);
        return new((int)((w & 0xFF) % 9) - Padding, (int)(((w >> 8) & 0xFF) % 9) - Padding, ((w >> 16) & 1) == 1);
    }

    /// <summary>Writes the augmented image (C x H x W bytes) as floats / 255 into destination.</summary>
    public static void Apply(ReadOnlySpan<byte> image, int channels, int height, int width, Choice choice, Span<float> destination)
    {
        for (int c = 0; c < channels; c++)
            for (int y = 0; y < height; y++)
            {
                int sourceY = Math.Clamp(y + choice.Dy, 0, height - 1);
                for (int x = 0; x < width; x++)
                {
                    int flipped = choice.Flip ? width - 1 - x : x;
                    int sourceX = Math.Clamp(flipped + choice.Dx, 0, width - 1);
                    destination[(c * height + y) * width + x] = image[(c * height + sourceY) * width + sourceX] / 255f;
                }
            }
    }
}
