using FerEngine.Model.Data;

namespace FerEngine.Tests.Data;

public sealed class ImageDatasetReaderTests : DataFixtures
{
    private string RafDb()
    {
        string root = PathOf("RAF-DB", "basic");
        var lines = new List<string>();
        for (int raf = 1; raf <= 7; raf++)
        {
            string name = $"train_{raf:00000}";
            lines.Add($"{name}.jpg {raf}");
            WriteImage(Path.Combine(root, "Image", "aligned", $"{name}_aligned.jpg"), 100, 100);
            var attributes = Path.Combine(root, "Annotation", "manual", $"{name}_manu_attri.txt");
            Directory.CreateDirectory(Path.GetDirectoryName(attributes)!);
            File.WriteAllLines(attributes, ["10.5 20.5", "30 40", "50 60", "70 80", "90 95", $"{raf % 3}", $"{(raf + 1) % 3}", $"{raf % 5}"]);
        }
        lines.Add("test_0001.jpg 4");
        WriteImage(Path.Combine(root, "Image", "aligned", "test_0001_aligned.jpg"), 100, 100);
        Directory.CreateDirectory(Path.Combine(root, "EmoLabel"));
        File.WriteAllLines(Path.Combine(root, "EmoLabel", "list_patition_label.txt"), lines);
        return root;
    }

    [Fact]
    public void RafDb_maps_its_seven_labels_and_reads_the_attribute_files()
    {
        var data = new FaceDataset(1, 48, 48);
        RafDbReader.Read(RafDb(), data);
        // RAF 1..7 = surprise, fear, disgust, happiness, sadness, anger, neutral
        Assert.Equal([5, 2, 1, 3, 4, 0, 6], data.Train.Select(s => s.Labels.Emotion));
        Assert.Equal(new FaceLabels(5, Gender: 1, Race: 2, Age: 1), data.Train[0].Labels);
        // Every value of each attribute file's last three lines (gender, race, age), age 4 (70+) included.
        Assert.Equal([1, 2, 0, 1, 2, 0, 1], data.Train.Select(s => s.Labels.Gender));
        Assert.Equal([2, 0, 1, 2, 0, 1, 2], data.Train.Select(s => s.Labels.Race));
        Assert.Equal([1, 2, 3, 4, 0, 1, 2], data.Train.Select(s => s.Labels.Age));
        Assert.Empty(data.Report.Skipped);
        Assert.Single(data.Test);
        Assert.Equal(-1, data.Test[0].Labels.Gender); // no attribute file for the test image
        Assert.Equal(3, data.Test[0].Labels.Emotion);
        Assert.Equal(48 * 48, data.Train[0].Pixels.Length);
        Assert.Equal("rafdb", DatasetLoader.Detect(Path.Combine(Root, "RAF-DB", "basic")));
        Assert.Contains(data.Report.Sources, line => line.Contains("1 of 8 images have no Annotation/manual/"));
    }

    [Fact]
    public void RafDb_reads_the_original_image_where_there_is_no_aligned_one()
    {
        string root = RafDb();
        string aligned = Path.Combine(root, "Image", "aligned", "train_00003_aligned.jpg");
        File.Delete(aligned);
        string original = WriteImage(Path.Combine(root, "Image", "original", "train_00003.jpg"), 80, 60);
        var data = new FaceDataset(1, 48, 48);
        RafDbReader.Read(root, data);
        Assert.Equal(7, data.Train.Count);
        Assert.Equal(original, data.Train[2].Source);
        Assert.Equal(1, data.Train[2].Labels.Emotion);   // RAF 3, disgust
        Assert.Empty(data.Report.Skipped);
    }

    [Fact]
    public void RafDb_attributes_that_cannot_be_read_are_listed_and_left_unlabelled()
    {
        string root = RafDb();
        string Attributes(int raf) => Path.Combine(root, "Annotation", "manual", $"train_{raf:00000}_manu_attri.txt");
        File.WriteAllLines(Attributes(1), ["10.5 20.5", "30 40", "50 60", "70 80", "90 95", "male", "", "2"]);   // a word, an empty line
        File.WriteAllLines(Attributes(2), ["10.5 20.5", "30 40", "50 60", "70 80", "90 95", "1"]);               // no lines 7 and 8
        var data = new FaceDataset(1, 48, 48);
        RafDbReader.Read(root, data);
        Assert.Equal(new FaceLabels(5, Gender: -1, Race: -1, Age: 2), data.Train[0].Labels);
        Assert.Equal(new FaceLabels(2, Gender: 1, Race: -1, Age: -1), data.Train[1].Labels);
        Assert.Equal([$"{Attributes(1)}:6", $"{Attributes(1)}:7", $"{Attributes(2)}:7", $"{Attributes(2)}:8"], data.Report.Skipped.Select(s => s.Item));
        Assert.Contains("attribute `male` is not a number 0..2", data.Report.Skipped[0].Reason);
        Assert.Contains("no line 8 (the file has 6)", data.Report.Skipped[3].Reason);
    }

    [Fact]
    public void A_folder_read_as_RafDb_without_its_label_list_says_which_folder_to_pass()
    {
        string root = RafDb(), parent = Path.GetDirectoryName(root)!;
        var e = Assert.Throws<InvalidDataException>(() => RafDbReader.Read(parent, new FaceDataset(1, 48, 48)));
        Assert.Contains($"{parent}: not a RAF-DB basic folder", e.Message);
        Assert.Contains($"Pass {root} instead.", e.Message);
        e = Assert.Throws<InvalidDataException>(() => RafDbReader.Read(Path.Combine(root, "Image"), new FaceDataset(1, 48, 48)));
        Assert.Contains("Pass RAF-DB's `basic` folder", e.Message);
    }

    [Fact]
    public void RafDb_validation_is_a_tenth_of_train_and_never_the_test_images()
    {
        var data = DatasetLoader.Load([RafDb()], format: null, new LoadOptions(Seed: 5));
        Assert.Equal(6, data.Train.Count);
        Assert.Single(data.Validation);
        Assert.StartsWith("train_", Path.GetFileName(data.Validation[0].Source));
        Assert.Equal("test_0001_aligned.jpg", Path.GetFileName(Assert.Single(data.Test).Source));
    }

    [Theory]
    [InlineData("26_0_2_20170104023102422.jpg", -1, 0, 2, 2)]
    [InlineData("3_1_0_20170109150557335.jpg", -1, 1, 0, 0)]
    [InlineData("4_1_1_20170109150557335.jpg", -1, 1, 1, 1)]
    [InlineData("19_0_3_20170109150557335.jpg", -1, 0, -1, 1)]
    [InlineData("20_0_4_20170109150557335.jpg.chip.jpg", -1, 0, -1, 2)]
    [InlineData("39_1_2_20170109150557335.jpg", -1, 1, 2, 2)]
    [InlineData("40_1_2_20170109150557335.jpg", -1, 1, 2, 3)]
    [InlineData("69_1_2_20170109150557335.jpg", -1, 1, 2, 3)]
    [InlineData("70_1_2_20170109150557335.jpg", -1, 1, 2, 4)]
    [InlineData("116_1_2_20170109150557335.jpg", -1, 1, 2, 4)]   // the oldest in UTKFace
    public void UtkFace_names_map_to_gender_race_and_age_group(string name, int emotion, int gender, int race, int age)
    {
        Assert.True(UtkFaceReader.TryParse(name, out var labels));
        Assert.Equal(new FaceLabels(emotion, gender, race, age), labels);
    }

    [Theory]
    [InlineData("26 _0_1_20170104023102422.jpg")]   // a space
    [InlineData("+26_0_1_20170104023102422.jpg")]   // a sign
    [InlineData("117_0_1_20170104023102422.jpg")]   // past UTKFace's ages, 0-116
    [InlineData("26_2_1_20170104023102422.jpg")]    // gender is 0 or 1
    [InlineData("26_0_5_20170104023102422.jpg")]    // race is 0 to 4
    public void UtkFace_names_that_are_not_digits_in_range_are_malformed(string name) =>
        Assert.False(UtkFaceReader.TryParse(name, out _));

    [Fact]
    public void UtkFace_skips_and_counts_malformed_names_and_corrupt_images()
    {
        string root = PathOf("UTKFace");
        WriteImage(Path.Combine(root, "26_0_2_20170104023102422.jpg"));
        WriteImage(Path.Combine(root, "30_1_0_20170104023102422.jpg"));
        WriteImage(Path.Combine(root, "26_0_20170104.jpg"));
        WriteImage(Path.Combine(root, "x_0_1_2017.jpg"));
        WriteTruncatedImage(Path.Combine(root, "50_1_1_20170104023102422.jpg"));
        Assert.Equal("utkface", DatasetLoader.Detect(root));
        var data = new FaceDataset(1, 48, 48);
        UtkFaceReader.Read(root, data);
        Assert.Equal(2, data.Train.Count);
        Assert.All(data.Train, s => Assert.Equal(-1, s.Labels.Emotion));
        Assert.Equal(3, data.Report.Skipped.Count);
        Assert.Contains(data.Report.Skipped, s => s.Item.EndsWith("50_1_1_20170104023102422.jpg") && s.Reason.Contains("truncated"));
        Assert.Contains("2 malformed names skipped", data.Report.Sources[0]);
    }

    [Fact]
    public void A_folder_above_UTKFace_folders_names_them_instead_of_reading_them_as_emotions()
    {
        WriteImage(PathOf("UTKFace-wild", "part1", "26_0_2_20170104023102422.jpg"));
        WriteImage(PathOf("UTKFace-wild", "part2", "30_1_0_20170104023102422.jpg"));
        WriteImage(PathOf("UTKFace-wild", "landmarks", "notes.png"), png: true);   // not UTKFace-named: not listed
        var e = Assert.Throws<InvalidDataException>(() => DatasetLoader.Detect(PathOf("UTKFace-wild")));
        Assert.Contains($"part1, part2 hold UTKFace-named images", e.Message);
        Assert.Contains($"pass --data {PathOf("UTKFace-wild", "part1")} {PathOf("UTKFace-wild", "part2")}", e.Message);
        Assert.Equal("utkface", DatasetLoader.Detect(PathOf("UTKFace-wild", "part1")));

        WriteImage(PathOf("UTKFace-wild", "happy", "a.jpg"));   // a class folder beside them: an image folder after all
        Assert.Equal("folder", DatasetLoader.Detect(PathOf("UTKFace-wild")));
    }

    [Fact]
    public void Image_folders_with_splits_accept_aliases_and_report_contempt()
    {
        string root = PathOf("faces");
        WriteImage(PathOf("faces", "train", "Anger", "a.jpg"));
        WriteImage(PathOf("faces", "train", "HAPPINESS", "b.png"), png: true);
        WriteImage(PathOf("faces", "train", "contempt", "c.jpg"));
        WriteImage(PathOf("faces", "val", "surprised", "d.jpg"));
        WriteImage(PathOf("faces", "test", "Fearful", "e.jpg"));
        WriteImage(PathOf("faces", "test", "disgusted", "f.jpg"));
        WriteTruncatedImage(PathOf("faces", "train", "sad", "broken.jpg"));
        File.CreateSymbolicLink(PathOf("faces", "train", "sad", "gone.jpg"), "/nonexistent/gone.jpg");
        File.WriteAllBytes(PathOf("faces", "train", "sad", "empty.png"), []);
        // A link to a FIFO: opening it would wait for a writer forever (the link's own length is not 0).
        using (var mkfifo = System.Diagnostics.Process.Start("mkfifo", PathOf("pipe"))) mkfifo.WaitForExit();
        File.CreateSymbolicLink(PathOf("faces", "train", "sad", "pipe.png"), PathOf("pipe"));
        File.CreateSymbolicLink(PathOf("faces", "train", "sad", "loop.jpg"), PathOf("faces", "train", "sad", "loop.jpg"));
        var data = new FaceDataset(1, 48, 48);
        ImageFolderReader.Read(root, data);
        Assert.Equal([0, 3], data.Train.Select(s => s.Labels.Emotion).Order());
        Assert.Equal([5], data.Validation.Select(s => s.Labels.Emotion));
        Assert.Equal([1, 2], data.Test.Select(s => s.Labels.Emotion).Order());
        Assert.Contains("contempt", data.Report.UnknownClasses);
        Assert.DoesNotContain(data.Train.Concat(data.Validation).Concat(data.Test), s => s.Source.Contains("contempt"));
        Assert.Equal(["broken.jpg", "empty.png", "gone.jpg", "loop.jpg", "pipe.png"], data.Report.Skipped.Select(s => Path.GetFileName(s.Item)).Order());
        Assert.Contains(data.Report.Skipped, s => s.Item.EndsWith("gone.jpg") && s.Reason == "the file is gone (a broken link?)");
        Assert.Contains(data.Report.Skipped, s => s.Item.EndsWith("empty.png") && s.Reason.StartsWith("the file is empty"));
        Assert.Contains(data.Report.Skipped, s => s.Item.EndsWith("loop.jpg") && s.Reason.Contains("loop of links"));
        Assert.DoesNotContain(data.Report.Skipped, s => s.Reason.Contains(s.Item));   // the path is named once
        Assert.Equal("folder", DatasetLoader.Detect(root));
    }

    /// <summary>
    /// A class folder's subfolders hold images of its class (as torchvision's ImageFolder reads them); files of
    /// other kinds and images outside any class folder are reported, never silently left out.
    /// </summary>
    [Fact]
    public void Class_folders_are_read_with_their_subfolders_and_what_is_not_read_is_reported()
    {
        WriteImage(PathOf("faces", "happy", "a.jpg"));
        WriteImage(PathOf("faces", "happy", "session2", "b.jpg"));
        WriteImage(PathOf("faces", "happy", "session2", "deeper", "c.png"), png: true);
        Directory.CreateDirectory(PathOf("faces", "sad"));
        Directory.CreateSymbolicLink(PathOf("faces", "sad", "again"), PathOf("faces"));   // a loop: not followed
        foreach (var name in new[] { "d.webp", "e.webp", "f.WEBP", "g.tif", "README" })
            File.WriteAllBytes(PathOf("faces", "sad", name), [1, 2, 3]);
        File.WriteAllBytes(PathOf("faces", "happy", ".DS_Store"), [0]);
        WriteImage(PathOf("faces", "loose.jpg"));

        var data = new FaceDataset(1, 48, 48);
        ImageFolderReader.Read(PathOf("faces"), data);

        Assert.Equal(["a.jpg", "b.jpg", "c.png"], data.Train.Select(s => Path.GetFileName(s.Source)));
        Assert.All(data.Train, s => Assert.Equal(3, s.Labels.Emotion));
        Assert.Equal(["README", "d.webp", "e.webp", "f.WEBP", "g.tif"], data.Report.NotImages.Select(Path.GetFileName).Order(StringComparer.Ordinal));
        var (item, reason) = Assert.Single(data.Report.Skipped);
        Assert.Equal(PathOf("faces", "loose.jpg"), item);
        Assert.Contains("outside the class folders", reason);
        string report = data.Report.ToString();
        Assert.Contains($"3 .webp files (first: {PathOf("faces", "sad", "d.webp")}), 1 .tif file (first: {PathOf("faces", "sad", "g.tif")}), " +
                        $"1 extensionless file (first: {PathOf("faces", "sad", "README")})", report);
        Assert.Contains("convert images to PNG or JPEG", report);
    }

    /// <summary>
    /// Images are decoded in parallel, yet the samples come out in file order, each with its own
    /// pixels (the images differ in brightness), and the corrupt ones are reported in file order.
    /// </summary>
    [Fact]
    public void Many_images_load_in_file_order_and_corrupt_ones_are_reported_in_order()
    {
        var corrupt = new[] { 7, 30, 31, 58 };
        for (int i = 0; i < 64; i++)
        {
            string path = PathOf("many", "happy", $"{i:00}.jpg");
            if (corrupt.Contains(i)) WriteTruncatedImage(path);
            else WriteImage(path, level: 2 * i);
        }
        var data = new FaceDataset(1, 48, 48);
        ImageFolderReader.Read(PathOf("many"), data);
        var expected = Enumerable.Range(0, 64).Where(i => !corrupt.Contains(i)).ToList();
        Assert.Equal(expected.Select(i => $"{i:00}.jpg"), data.Train.Select(s => Path.GetFileName(s.Source)));
        var means = data.Train.Select(s => s.Pixels.Average(p => (double)p)).ToList();
        for (int k = 1; k < means.Count; k++)   // brighter with every file: each sample holds its own file's pixels
            Assert.True(means[k] > means[k - 1], $"sample {k} ({expected[k]:00}.jpg) is not brighter than the one before it");
        Assert.Equal(corrupt.Select(i => $"{i:00}.jpg"), data.Report.Skipped.Select(s => Path.GetFileName(s.Item)));
    }

    [Fact]
    public void Image_folders_without_splits_get_a_seeded_validation_split()
    {
        for (int i = 0; i < 20; i++) WriteImage(PathOf("flat", i % 2 == 0 ? "happy" : "neutral", $"{i}.jpg"), level: i);
        var a = DatasetLoader.Load([PathOf("flat")], null, new LoadOptions(Seed: 3));
        var b = DatasetLoader.Load([PathOf("flat")], null, new LoadOptions(Seed: 3));
        Assert.Equal(2, a.Validation.Count);
        Assert.Equal(18, a.Train.Count);
        Assert.Equal(a.Validation.Select(s => s.Source), b.Validation.Select(s => s.Source));
        Assert.Empty(a.Train.Select(s => s.Source).Intersect(a.Validation.Select(s => s.Source)));
        // The seed decides the split: of five other seeds, at least one draws other images.
        Assert.Contains(new ulong[] { 4, 5, 6, 7, 8 }, seed => !DatasetLoader.Load([PathOf("flat")], null, new LoadOptions(Seed: seed))
            .Validation.Select(s => s.Source).SequenceEqual(a.Validation.Select(s => s.Source)));
    }

    [Fact]
    public void Mixed_sources_keep_partial_labels()
    {
        string csv = PathOf("fer.csv");
        string pixels = string.Join(' ', Enumerable.Repeat("7", 2304));
        File.WriteAllLines(csv, ["emotion,pixels,Usage", .. Enumerable.Range(0, 10).Select(i => $"{i % 7},{pixels},{(i < 8 ? "Training" : "PublicTest")}")]);
        for (int i = 0; i < 10; i++) WriteImage(PathOf("utk", $"{20 + i}_{i % 2}_{i % 3}_2017010402310242{i}.jpg"));
        var data = DatasetLoader.Load([csv, PathOf("utk")], null, new LoadOptions());
        Assert.Equal(8 + 9, data.Train.Count); // UTKFace: 10 % held out for validation
        Assert.All(data.Train.Where(s => s.Source.StartsWith(csv)), s => Assert.True(s.Labels.Emotion >= 0 && s.Labels.Gender == -1));
        Assert.All(data.Train.Where(s => s.Source.Contains("utk")), s => Assert.True(s.Labels.Emotion == -1 && s.Labels.Gender >= 0));
    }

    [Fact]
    public void A_path_can_name_its_own_format_and_mix_with_detected_ones()
    {
        Assert.Equal(new DataSource("faces/wild", "utkface"), DataSource.Parse("UTKFace=faces/wild"));
        Assert.Equal(new DataSource("a=b", null), DataSource.Parse("a=b"));                       // not a format: a path
        Assert.Equal(new DataSource("synthetic=x", null), DataSource.Parse("synthetic=x"));       // synthetic has no path
        Directory.CreateDirectory(PathOf("folder=1"));
        Assert.Equal(new DataSource(PathOf("folder=1"), null), DataSource.Parse(PathOf("folder=1")));   // a path as written stays one
        Assert.Equal("rafdb=/data/raf", new DataSource("/data/raf", "rafdb").ToString());

        // A UTKFace folder where most names are not UTKFace's: detection cannot tell, the prefix can.
        string csv = PathOf("fer.csv");
        string pixels = string.Join(' ', Enumerable.Repeat("7", 2304));
        File.WriteAllLines(csv, ["emotion,pixels,Usage", .. Enumerable.Range(0, 4).Select(i => $"{i},{pixels},Training")]);
        for (int i = 0; i < 4; i++) WriteImage(PathOf("wild", $"{20 + i}_{i % 2}_{i % 3}_2017010402310242{i}.jpg"));
        for (int i = 0; i < 5; i++) WriteImage(PathOf("wild", $"scan_{i}.jpg"));
        Assert.Throws<InvalidDataException>(() => DatasetLoader.Load([csv, PathOf("wild")], null, new LoadOptions()));
        var data = DatasetLoader.Load([csv, "utkface=" + PathOf("wild")], null, new LoadOptions());
        Assert.Equal(4, data.Train.Concat(data.Validation).Count(s => s.Labels.Emotion >= 0));   // the CSV, detected
        Assert.Equal(4, data.Train.Concat(data.Validation).Count(s => s.Labels.Age >= 0));   // the four UTKFace names
        Assert.Equal(5, data.Report.Skipped.Count);
        // --format names every path without its own: the CSV cannot be read as UTKFace.
        var all = Assert.Throws<ArgumentException>(() => DatasetLoader.Load([csv, PathOf("wild")], "utkface", new LoadOptions()));
        Assert.Contains("--format utkface reads a folder", all.Message);
    }

    [Fact]
    public void An_empty_or_unlabelled_dataset_is_a_clear_error()
    {
        Directory.CreateDirectory(PathOf("empty", "contempt"));
        var e = Assert.Throws<InvalidDataException>(() => DatasetLoader.Load([PathOf("empty")], "folder", new LoadOptions()));
        Assert.Contains("no labelled training images", e.Message);
        Assert.Contains("contempt", e.Message);
        Assert.Throws<DirectoryNotFoundException>(() => DatasetLoader.Detect(PathOf("missing")));
        Assert.Throws<ArgumentException>(() => DatasetLoader.Load([PathOf("empty")], "imagenet", new LoadOptions()));

        string testOnly = PathOf("test_only.csv");
        File.WriteAllLines(testOnly, ["emotion,pixels,Usage", .. Enumerable.Range(0, 3).Select(i => $"{i},{string.Join(' ', Enumerable.Repeat("7", 2304))},PrivateTest")]);
        var none = Assert.Throws<InvalidDataException>(() => DatasetLoader.Load([testOnly], null, new LoadOptions()));
        Assert.Contains("3 images read", none.Message);
        var twice = Assert.Throws<ArgumentException>(() => DatasetLoader.Load([testOnly, Path.Combine(Path.GetDirectoryName(testOnly)!, ".", "test_only.csv")], null, new LoadOptions()));
        Assert.Contains("is given 2 times", twice.Message);
        var nested = Assert.Throws<ArgumentException>(() => DatasetLoader.Load([PathOf("empty"), PathOf("empty", "contempt") + "/"], "folder", new LoadOptions()));
        Assert.Contains("is inside --data", nested.Message);
        Assert.Contains("none for training", none.Message);
    }
}
