using FerEngine.Model.Data;

namespace FerEngine.Tests.Data;

/// <summary>A dataset too large for the machine's memory stops before it is decoded, with what to change.</summary>
public sealed class MemoryBudgetTests : DataFixtures
{
    private const int GreyImage = 48 * 48;

    private string Csv(string name, int rows)
    {
        string pixels = string.Join(' ', Enumerable.Range(0, GreyImage).Select(i => i % 256));
        string path = PathOf(name);
        File.WriteAllLines(path, ["emotion,pixels,Usage", .. Enumerable.Range(0, rows).Select(i => $"{i % 7},{pixels},Training")]);
        return path;
    }

    [Fact]
    public void Image_files_past_the_budget_are_refused_before_any_is_read()
    {
        // The files do not exist: a check that came after decoding would report them as skipped instead.
        var files = Enumerable.Range(0, 20).Select(i => PathOf("faces", $"{i}.jpg")).ToList();
        var e = Assert.Throws<InvalidDataException>(() => ImageFolderReader.TryLoadAll(files, new FaceDataset(1, 48, 48) { MemoryBudget = 19 * GreyImage }));
        Assert.Contains("20 images of 1 x 48 x 48", e.Message);
        Assert.Contains("--image-size", e.Message);
        var fits = new FaceDataset(1, 48, 48) { MemoryBudget = 20 * GreyImage };
        Assert.All(ImageFolderReader.TryLoadAll(files, fits), Assert.Null);
        Assert.Equal(20, fits.Report.Skipped.Count);
    }

    [Fact]
    public void A_csv_past_the_budget_is_refused_naming_the_file()
    {
        string path = Csv("fer2013.csv", 30);
        var e = Assert.Throws<InvalidDataException>(() => Fer2013CsvReader.Read(path, new FaceDataset(1, 48, 48) { MemoryBudget = 29 * GreyImage }, skipBad: false));
        Assert.StartsWith($"{path}: 30 images", e.Message);
        var fits = new FaceDataset(1, 48, 48) { MemoryBudget = 30 * GreyImage };
        Fer2013CsvReader.Read(path, fits, skipBad: false);
        Assert.Equal(30, fits.Count);
    }

    [Fact]
    public void Several_datasets_share_one_budget()
    {
        string first = Csv("a.csv", 8), second = Csv("b.csv", 8);
        Assert.Equal(16, DatasetLoader.Load([first, second], null, new LoadOptions(MemoryBudget: 16 * GreyImage)).Count);
        var e = Assert.Throws<InvalidDataException>(() => DatasetLoader.Load([first, second], null, new LoadOptions(MemoryBudget: 15 * GreyImage)));
        Assert.StartsWith($"{second}: 16 images", e.Message);   // the second source counts the first one's images
    }
}
