namespace FerEngine.Model.Data;

public enum DataSplit { Train, Validation, Test }

/// <summary>One image: Channels x Height x Width bytes (row-major per channel) and its labels.</summary>
public sealed record FaceSample(byte[] Pixels, FaceLabels Labels, string Source);

/// <summary>What loading found: counts, what was skipped and why, folders that are not classes.</summary>
public sealed class LoadReport
{
    public List<string> Sources { get; } = [];
    public List<(string Item, string Reason)> Skipped { get; } = [];
    public List<string> UnknownClasses { get; } = [];

    public override string ToString()
    {
        var lines = new List<string>(Sources);
        if (Skipped.Count > 0)
        {
            lines.Add($"skipped {Skipped.Count} item(s):");
            lines.AddRange(Skipped.Take(20).Select(s => $"  {s.Item}: {s.Reason}"));
            if (Skipped.Count > 20) lines.Add($"  ... and {Skipped.Count - 20} more");
        }
        if (UnknownClasses.Count > 0)
            lines.Add($"skipped folders (not one of the seven emotions, or not a split folder): {string.Join(", ", UnknownClasses)}");
        return string.Join(Environment.NewLine, lines);
    }
}

/// <summary>Samples by split, all of one image shape, plus the load report.</summary>
public sealed class FaceDataset(int channels, int height, int width)
{
    public int Channels { get; } = channels;
    public int Height { get; } = height;
    public int Width { get; } = width;
    public List<FaceSample> Train { get; } = [];
    public List<FaceSample> Validation { get; } = [];
    public List<FaceSample> Test { get; } = [];
    public LoadReport Report { get; } = new();

    public List<FaceSample> this[DataSplit split] => split switch
    {
        DataSplit.Train => Train,
        DataSplit.Validation => Validation,
        _ => Test,
    };

    public int PixelsPerImage => Channels * Height * Width;
}
