using FerEngine.Model.Data;

namespace FerEngine.Tests.Data;

/// <summary>FER2013 CSV rows with spaces, blank lines, and the per-usage counts in the report.</summary>
public sealed class Fer2013CsvEdgeTests : DataFixtures
{
    private static string Pixels(int seed = 0) => string.Join(' ', Enumerable.Range(0, 2304).Select(i => (i * 7 + seed) % 256));

    // spaces around the fields of a row (e.g. "3 , ... , Training ") are ignored, Usage included.
    [Fact]
    public void Spaces_around_fields_are_ignored()
    {
        string path = PathOf("fer2013.csv");
        File.WriteAllLines(path, ["emotion,pixels,Usage", $" 3 , {Pixels(1)} , Training ", $"4,{Pixels(2)}, PublicTest"]);
        var data = new FaceDataset(1, 48, 48);
        Fer2013CsvReader.Read(path, data, skipBad: false);
        Assert.Equal(3, Assert.Single(data.Train).Labels.Emotion);
        Assert.Equal(4, Assert.Single(data.Validation).Labels.Emotion);
        Assert.Equal(Pixels(1).Split(' ').Select(byte.Parse).ToArray(), data.Train[0].Pixels);
    }

    // a line of only spaces or tabs (as an editor leaves at the end) is skipped like an empty line.
    [Fact]
    public void Lines_of_only_whitespace_are_skipped()
    {
        string path = PathOf("fer2013.csv");
        File.WriteAllLines(path, ["emotion,pixels,Usage", $"1,{Pixels()},Training", "   ", "\t", $"2,{Pixels()},Training", " "]);
        var data = new FaceDataset(1, 48, 48);
        Fer2013CsvReader.Read(path, data, skipBad: false);
        Assert.Equal(2, data.Train.Count);
        Assert.Empty(data.Report.Skipped);
    }

    // the load report counts the rows read per Usage.
    [Fact]
    public void The_report_counts_rows_per_usage()
    {
        string path = PathOf("fer2013.csv");
        File.WriteAllLines(path, ["emotion,pixels,Usage", $"1,{Pixels()},Training", $"2,{Pixels()},PublicTest", $"3,{Pixels()},PrivateTest", $"4,{Pixels()},PrivateTest", "9,1,Training"]);
        var data = new FaceDataset(1, 48, 48);
        Fer2013CsvReader.Read(path, data, skipBad: true);
        Assert.Equal($"fer2013 {path}: 4 rows (1 Training, 1 PublicTest, 2 PrivateTest)", Assert.Single(data.Report.Sources));
    }
}
