using FerEngine.Model.Data;

namespace FerEngine.Tests.Data;

public sealed class Fer2013CsvReaderTests : DataFixtures
{
    private static string Pixels(int seed = 0) => string.Join(' ', Enumerable.Range(0, 2304).Select(i => (i * 7 + seed) % 256));

    private string Csv(params string[] rows)
    {
        string path = PathOf("fer2013.csv");
        File.WriteAllLines(path, ["emotion,pixels,Usage", .. rows]);
        return path;
    }

    [Fact]
    public void Without_a_Usage_column_every_row_trains_and_the_columns_may_come_in_any_order()
    {
        string path = PathOf("fer2013.csv");
        File.WriteAllLines(path, ["pixels,emotion", $"{Pixels(1)},4", $"{Pixels(2)},2"]);
        var data = new FaceDataset(1, 48, 48);
        Fer2013CsvReader.Read(path, data, skipBad: false);
        Assert.Equal([4, 2], data.Train.Select(s => s.Labels.Emotion));
        Assert.Empty(data.Validation);
        Assert.Empty(data.Test);
        Assert.Equal(Pixels(2).Split(' ').Select(byte.Parse).ToArray(), data.Train[1].Pixels);
    }

    [Fact]
    public void Rows_go_to_their_split_with_exact_pixels_and_emotion_only()
    {
        string path = Csv($"3,{Pixels(1)},Training", $"0,{Pixels(2)},PublicTest", $"6,{Pixels(3)},PrivateTest", $"5,{Pixels(4)},Training");
        var data = new FaceDataset(1, 48, 48);
        Fer2013CsvReader.Read(path, data, skipBad: false);
        Assert.Equal(2, data.Train.Count);
        Assert.Single(data.Validation);
        Assert.Single(data.Test);
        Assert.Equal(new FaceLabels(Emotion: 3), data.Train[0].Labels);
        Assert.Equal(0, data.Validation[0].Labels.Emotion);
        Assert.Equal(-1, data.Test[0].Labels.Gender);
        Assert.Equal(Pixels(1).Split(' ').Select(byte.Parse).ToArray(), data.Train[0].Pixels);
    }

    [Fact]
    public void Quoted_fields_tab_separated_pixels_and_any_case_of_usage_are_read()
    {
        string path = PathOf("fer2013-quoted.csv");
        File.WriteAllLines(path, ["\"emotion\",\"pixels\",\"Usage\"", $"\"3\",\"{Pixels(1)}\",\"Training\"", $"2,{Pixels(2).Replace(' ', '\t')},publictest"]);
        var data = new FaceDataset(1, 48, 48);
        Fer2013CsvReader.Read(path, data, skipBad: false);
        Assert.Equal(3, Assert.Single(data.Train).Labels.Emotion);
        Assert.Equal(Pixels(1).Split(' ').Select(byte.Parse).ToArray(), data.Train[0].Pixels);
        Assert.Equal(Pixels(2).Split(' ').Select(byte.Parse).ToArray(), Assert.Single(data.Validation).Pixels);
    }

    [Fact]
    public void A_compressed_file_is_not_read_as_a_header()
    {
        string path = PathOf("fer2013.csv");
        File.WriteAllBytes(path, [0x1f, 0x8b, 0x08, 0x00, 0x65, 0x6d, 0x6f, 0x0a, 0x00]);   // the start of a gzip stream
        var e = Assert.Throws<InvalidDataException>(() => Fer2013CsvReader.Read(path, new FaceDataset(1, 48, 48), skipBad: false));
        Assert.Contains("not a text file (compressed? unpack it first)", e.Message);
    }

    [Theory]
    [InlineData("3,1 2 3,Training", "3 pixel values, expected 2304")]
    [InlineData("3,PIXELS_WITH_TEXT,Training", "not an integer 0-255")]
    [InlineData("3,PIXELS_WITH_256,Training", "not an integer 0-255")]
    [InlineData("7,PIXELS,Training", "emotion `7` is not an integer 0-6")]
    [InlineData("x,PIXELS,Training", "emotion `x`")]
    [InlineData("3", "1 column(s), expected 3")]
    [InlineData("3,PIXELS,Training,extra", "4 column(s), expected 3")]   // a stray comma: the columns may be shifted
    [InlineData("3,PIXELS,Holdout", "Usage `Holdout`")]
    public void A_malformed_row_names_file_and_line(string row, string expected)
    {
        row = row.Replace("PIXELS_WITH_TEXT", Pixels()[..^3] + "abc").Replace("PIXELS_WITH_256", "256 " + Pixels()[(Pixels().IndexOf(' ') + 1)..])
            .Replace("PIXELS", Pixels());
        string path = Csv($"1,{Pixels()},Training", row);
        var e = Assert.Throws<InvalidDataException>(() => Fer2013CsvReader.Read(path, new FaceDataset(1, 48, 48), skipBad: false));
        Assert.Contains($"{path}:3", e.Message);
        Assert.Contains(expected, e.Message);
        Assert.Contains("--skip-bad", e.Message);   // and says what to do
    }

    [Fact]
    public void SkipBad_skips_counts_and_lists_bad_rows()
    {
        string path = Csv($"1,{Pixels()},Training", "9,1 2,Training", $"2,{Pixels()},Training", "oops");
        var data = new FaceDataset(1, 48, 48);
        Fer2013CsvReader.Read(path, data, skipBad: true);
        Assert.Equal(2, data.Train.Count);
        Assert.Equal([$"{path}:3", $"{path}:5"], data.Report.Skipped.Select(s => s.Item));
    }

    [Fact]
    public void A_wrong_header_is_refused()
    {
        string path = PathOf("other.csv");
        File.WriteAllLines(path, ["label,image", "1,2"]);
        var e = Assert.Throws<InvalidDataException>(() => Fer2013CsvReader.Read(path, new FaceDataset(1, 48, 48), false));
        Assert.Contains($"{path}:1", e.Message);
        Assert.Contains("emotion,pixels,Usage", e.Message);
    }

    [Fact]
    public void Rows_are_resized_to_the_requested_input()
    {
        string path = Csv($"1,{string.Join(' ', Enumerable.Repeat("100", 2304))},Training");
        var data = new FaceDataset(3, 24, 24);
        Fer2013CsvReader.Read(path, data, false);
        Assert.Equal(3 * 24 * 24, data.Train[0].Pixels.Length);
        Assert.All(data.Train[0].Pixels, p => Assert.Equal(100, p));
    }

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

    // numbers written otherwise than the published file does (a sign, leading zeros, several spaces) are read as the same pixels.
    [Fact]
    public void Pixels_with_signs_leading_zeros_and_runs_of_spaces_are_the_same_pixels()
    {
        var plain = Pixels(5).Split(' ');
        string unusual = string.Join("  ", plain.Select((p, i) => i % 3 == 0 ? "+" + p : i % 3 == 1 ? "000" + p : p));
        string path = Csv($"1,{Pixels(5)},Training", $"1, {unusual} ,Training");
        var data = new FaceDataset(1, 48, 48);
        Fer2013CsvReader.Read(path, data, skipBad: false);
        Assert.Equal(data.Train[0].Pixels, data.Train[1].Pixels);
    }

    // rows are parsed in parallel blocks of 1,024: samples stay in file order, and a bad row past the first block is named by its own line.
    [Fact]
    public void Rows_past_the_first_parallel_block_keep_their_order_and_line_numbers()
    {
        var rows = Enumerable.Range(0, 2500).Select(i => i == 1800 ? "3,1 2 3,Training" : $"{i % 7},{Pixels(i)},Training").ToArray();
        string path = Csv(rows);
        var data = new FaceDataset(1, 48, 48);
        Fer2013CsvReader.Read(path, data, skipBad: true);
        Assert.Equal(2499, data.Train.Count);
        Assert.Equal([$"{path}:1802"], data.Report.Skipped.Select(s => s.Item));
        var expectedLines = Enumerable.Range(2, 2500).Where(line => line != 1802).Select(line => $"{path}:{line}");
        Assert.Equal(expectedLines, data.Train.Select(s => s.Source));
        Assert.Equal(Pixels(2499).Split(' ').Select(byte.Parse).ToArray(), data.Train[^1].Pixels);
        var e = Assert.Throws<InvalidDataException>(() => Fer2013CsvReader.Read(path, new FaceDataset(1, 48, 48), skipBad: false));
        Assert.Contains($"{path}:1802: 3 pixel values", e.Message);
    }
}
