using System.Text.Json;

namespace FerEngine.Model.Network;

/// <summary>
/// The shape of the network: input channels and size, and the width multiplier that scales the
/// paper's 64/128/256 convolution channels and 128 fully-connected units. Stored as JSON in the
/// checkpoint's __metadata__ so that a model file says how to rebuild its network.
/// </summary>
public sealed record FerNetConfig(double Width = 1.0, int Channels = 1, int Height = 48, int ImageWidth = 48)
{
    public const string Architecture = "saroop2021";

    public int Block1 => Scaled(64);
    public int Block2 => Scaled(128);
    public int Block3 => Scaled(256);
    public int Hidden => Scaled(128);
    /// <summary>Features entering the fully-connected layer: Block3 x H/8 x W/8.</summary>
    public int FlatFeatures => Block3 * (Height / 8) * (ImageWidth / 8);

    /// <summary>
    /// About how many bytes a training step needs per image of the batch, for its activations,
    /// gradients and temporaries: six float32 copies of every convolution's output (a step arena on
    /// the fast CPU path measured 11.7 MB per image at width 1 and 2.9 MB at width 0.25; this gives
    /// 12.4 and 3.1). For refusing a batch that cannot fit before it is tried.
    /// </summary>
    public long StepBytesPerImage => 6L * sizeof(float) * 2 * ((long)Block1 * Height * ImageWidth + (long)Block2 * Height * ImageWidth / 4 + (long)Block3 * Height * ImageWidth / 16);

    private int Scaled(int channels) => Math.Max(1, (int)Math.Round(channels * Width));

    public void Validate()
    {
        if (!(Width > 0 && Width <= 8)) throw new ArgumentException($"width multiplier {Width} must be in (0, 8].");
        if (Channels is not (1 or 3)) throw new ArgumentException($"input channels {Channels} must be 1 (grey) or 3 (colour): the images are read as one or the other.");
        if (Height < 8 || ImageWidth < 8 || Height % 8 != 0 || ImageWidth % 8 != 0)
            throw new ArgumentException($"image size {Height}x{ImageWidth} must be a multiple of 8 (three 2x2 poolings).");
    }

    public string ToJson() => JsonSerializer.Serialize(this);
    public static FerNetConfig FromJson(string json) =>
        JsonSerializer.Deserialize<FerNetConfig>(json) ?? throw new ArgumentException("empty model configuration");
}
