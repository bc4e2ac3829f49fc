using FerEngine.Model.Network;

namespace FerEngine.Trainer.Training;

/// <summary>Everything `fer train` was asked to do; defaults are the paper's reference settings.</summary>
public sealed record TrainOptions
{
    public IReadOnlyList<string> Data { get; init; } = [];
    public string? Format { get; init; }
    public string Device { get; init; } = "auto";
    public double Width { get; init; } = 1.0;
    public int Channels { get; init; } = 1;
    public int Height { get; init; } = 48;
    public int ImageWidth { get; init; } = 48;
    public int Epochs { get; init; } = 50;
    public int Batch { get; init; } = 32;
    public double LearningRate { get; init; } = 3e-4;
    public TaskWeights TaskWeights { get; init; } = new();   // the joint loss's weight per task
    public bool Augment { get; init; }
    public ulong Seed { get; init; }
    public string Out { get; init; } = "runs/fer";
    public bool Overwrite { get; init; }                // replace an earlier run in Out (otherwise a new run refuses to write there)
    public bool SkipBad { get; init; }
    public int Patience { get; init; } = 10;            // early stopping on validation emotion accuracy (without emotion labels: the trained tasks' mean)
    public double PlateauFactor { get; init; } = 0.2;
    public int PlateauPatience { get; init; } = 5;
    public double MinLearningRate { get; init; } = 1e-6;
    public int Threads { get; init; } = Environment.ProcessorCount;
    public bool StrictFloat32 { get; init; }            // GPU: TF32 off for convolutions and GEMMs
    public bool NoGraph { get; init; }                  // GPU: run every step eagerly instead of replaying a captured CUDA graph
    public string? Init { get; init; }                  // a model file whose weights the run starts from (full path): <see cref="FineTuning"/>
    public int? SyntheticTrain { get; init; }
    public int? SyntheticValidation { get; init; }
    public const int DefaultSyntheticTrain = 2000, DefaultSyntheticValidation = 400;

    /// <summary>The input size as --image-size takes it: "48" for 48 x 48, "40x56" for 40 high and 56 wide.</summary>
    [System.Text.Json.Serialization.JsonIgnore]   // Height and ImageWidth are what a saved run keeps
    public string ImageSize => FormatImageSize(Height, ImageWidth);

    public static string FormatImageSize(int height, int width) => height == width ? $"{height}" : $"{height}x{width}";

    /// <summary>"S" (S x S) or "HxW", each side a multiple of 8 from 8 to 1024 (the network pools three times by 2).</summary>
    public static bool TryParseImageSize(string text, out int height, out int width)
    {
        var sides = text.Split('x');
        height = width = 0;
        if (sides.Length is not (1 or 2) || !int.TryParse(sides[0], out height) || !int.TryParse(sides[^1], out width)) return false;
        return IsSide(height) && IsSide(width);
        static bool IsSide(int side) => side is >= 8 and <= 1024 && side % 8 == 0;
    }
}
