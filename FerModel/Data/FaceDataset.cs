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
    /// <summary>Files in image folders that are not of a kind the readers decode (<see cref="ImageFiles.Kinds"/>).</summary>
    public List<string> NotImages { get; } = [];

    /// <summary>Whether anything was skipped or left unread: what `fer eval` shows before its scores.</summary>
    public bool HasNotes => Skipped.Count > 0 || UnknownClasses.Count > 0 || NotImages.Count > 0;

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
        if (NotImages.Count > 0)
            lines.Add($"not read, being none of {ImageFiles.Kinds} (convert images to PNG or JPEG to use them): {ImageFiles.Summary(NotImages)}");
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

    public int Count => Train.Count + Validation.Count + Test.Count;

    /// <summary>
    /// The most bytes of images the dataset may hold (one byte per pixel and channel, all held at once): readers
    /// check it before they decode, so that a dataset too large for this machine stops at once with a message,
    /// not after minutes of decoding with the process killed. By default half the memory .NET may use; the
    /// training step needs the rest.
    /// </summary>
    public long MemoryBudget { get; init; } = DefaultMemoryBudget;

    public static long DefaultMemoryBudget => GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / 2;

    /// <summary>Images loaded before this dataset, from the run's earlier sources: they count against the budget too.</summary>
    public int EarlierImages { get; init; }

    /// <summary>Refuses <paramref name="more"/> images from <paramref name="source"/> that would take the images past <see cref="MemoryBudget"/>.</summary>
    public void RequireRoomFor(long more, string source)
    {
        long images = EarlierImages + Count + more, bytes = images * PixelsPerImage;
        if (bytes <= MemoryBudget) return;
        static string GiB(long b) => $"{b / (double)(1L << 30):N1} GiB";
        throw new InvalidDataException($"{source}: {images:N0} images of {Channels} x {Height} x {Width} would take {GiB(bytes)} of memory, " +
            $"more than the {GiB(MemoryBudget)} they may have (half of this machine's memory; training needs the rest). " +
            "Use a smaller --image-size, --channels 1, or fewer images.");
    }
}
