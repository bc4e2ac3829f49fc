namespace FerEngine.Model.Data;

/// <summary>
/// RAF-DB (basic) as published: EmoLabel/list_patition_label.txt (sic) with lines
/// `train_00001.jpg 5`; labels 1-7 = surprise, fear, disgust, happiness, sadness, anger, neutral.
/// Images Image/aligned/&lt;name&gt;_aligned.jpg (else Image/original/&lt;name&gt;). Attributes
/// Annotation/manual/&lt;name&gt;_manu_attri.txt: lines 1-5 landmarks, 6 gender, 7 race, 8 age group.
/// train_ / test_ prefixes give the split. RAF-DB has no validation split: the loader takes a seeded
/// 10 % of train, so that choosing the best epoch never looks at the test images.
/// </summary>
public static class RafDbReader
{
    /// <summary>RAF label (1-7) -> canonical emotion index.</summary>
    public static readonly IReadOnlyDictionary<int, int> EmotionMap = new Dictionary<int, int>
    {
        [1] = 5, // surprise
        [2] = 2, // fear
        [3] = 1, // disgust
        [4] = 3, // happiness -> happy
        [5] = 4, // sadness -> sad
        [6] = 0, // anger -> angry
        [7] = 6, // neutral
    };

    public static void Read(string root, FaceDataset into)
    {
        string list = Path.Combine(root, "EmoLabel", "list_patition_label.txt");
        if (!File.Exists(list))
        {
            string basic = Path.Combine(root, "basic");
            throw new InvalidDataException($"{root}: not a RAF-DB basic folder: {list} is not there. " + (Directory.Exists(basic)
                ? $"Pass {basic} instead."
                : "Pass RAF-DB's `basic` folder (it holds EmoLabel/ and Image/), or name the dataset's format with --format or FORMAT=PATH."));
        }
        int lineNumber = 0, read = 0, withoutAttributes = 0;
        var listed = new List<(string Image, string Stem, int Emotion, DataSplit Split)>();
        foreach (var line in File.ReadLines(list))
        {
            lineNumber++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            var parts = line.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length != 2 || !int.TryParse(parts[1], out int raf) || !EmotionMap.TryGetValue(raf, out int emotion))
            {
                into.Report.Skipped.Add(($"{list}:{lineNumber}", $"expected `<name>.jpg <label 1-7>`, found `{line.Trim()}`"));
                continue;
            }
            string name = parts[0], stem = Path.GetFileNameWithoutExtension(name);
            var split = stem.StartsWith("train", StringComparison.OrdinalIgnoreCase) ? DataSplit.Train : DataSplit.Test;
            string aligned = Path.Combine(root, "Image", "aligned", $"{stem}_aligned.jpg");
            string image = File.Exists(aligned) ? aligned : Path.Combine(root, "Image", "original", name);
            if (!File.Exists(image))
            {
                into.Report.Skipped.Add((name, $"image not found at {aligned} or {image}"));
                continue;
            }
            listed.Add((image, stem, emotion, split));
        }
        var images = ImageFolderReader.TryLoadAll(listed.Select(l => l.Image).ToList(), into);
        for (int i = 0; i < listed.Count; i++)
        {
            if (images[i] is not { } pixels) continue;
            var (image, stem, emotion, split) = listed[i];
            string attributes = Path.Combine(root, "Annotation", "manual", $"{stem}_manu_attri.txt");
            bool hasAttributes = File.Exists(attributes);
            if (!hasAttributes) withoutAttributes++;
            var (gender, race, age) = hasAttributes ? ReadAttributes(attributes, into) : (Labels.Missing, Labels.Missing, Labels.Missing);
            into[split].Add(new FaceSample(pixels, new FaceLabels(emotion, gender, race, age), image));
            read++;
        }
        into.Report.Sources.Add($"rafdb {root}: {read} images ({into.Train.Count} train, {into.Test.Count} test)");
        if (withoutAttributes > 0)
            into.Report.Sources.Add($"rafdb {root}: {withoutAttributes} of {read} images have no Annotation/manual/<name>_manu_attri.txt: their gender, race and age are unlabelled");
    }

    /// <summary>Lines 6, 7, 8 of the attribute file; a missing, unreadable or out-of-range value -> -1, and listed in the report.</summary>
    private static (int Gender, int Race, int Age) ReadAttributes(string path, FaceDataset into)
    {
        var lines = File.ReadAllLines(path);
        int Value(int lineIndex, int classes)
        {
            string where = $"{path}:{lineIndex + 1}";
            if (lineIndex >= lines.Length)
                into.Report.Skipped.Add((where, $"no line {lineIndex + 1} (the file has {lines.Length}): attribute left unlabelled"));
            else if (!int.TryParse(lines[lineIndex].Trim(), out int v))
                into.Report.Skipped.Add((where, $"attribute `{lines[lineIndex].Trim()}` is not a number 0..{classes - 1}, left unlabelled"));
            else if (v < 0 || v >= classes)
                into.Report.Skipped.Add((where, $"attribute {v} outside 0..{classes - 1}, left unlabelled"));
            else return v;
            return Labels.Missing;
        }
        return (Value(5, 3), Value(6, 3), Value(7, 5));
    }
}
