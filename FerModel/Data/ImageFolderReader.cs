namespace FerEngine.Model.Data;

/// <summary>
/// root/&lt;split&gt;/&lt;class&gt;/**/*.{jpg,png,bmp} or root/&lt;class&gt;/**/*. Split folders: train/training,
/// val/valid/validation/publictest, test/privatetest. Class folders match the emotion names
/// case-insensitively, with common aliases; anything else (e.g. `contempt`) is reported and
/// skipped, never mapped to a class. A class folder's subfolders are read too; images outside
/// the class folders have no label and are listed as skipped.
/// </summary>
public static class ImageFolderReader
{
    private static readonly Dictionary<string, int> EmotionAliases = new(StringComparer.OrdinalIgnoreCase)
    {
        ["angry"] = 0, ["anger"] = 0,
        ["disgust"] = 1, ["disgusted"] = 1,
        ["fear"] = 2, ["fearful"] = 2,
        ["happy"] = 3, ["happiness"] = 3,
        ["sad"] = 4, ["sadness"] = 4,
        ["surprise"] = 5, ["surprised"] = 5,
        ["neutral"] = 6,
    };

    private static readonly Dictionary<string, DataSplit> SplitNames = new(StringComparer.OrdinalIgnoreCase)
    {
        ["train"] = DataSplit.Train, ["training"] = DataSplit.Train,
        ["val"] = DataSplit.Validation, ["valid"] = DataSplit.Validation, ["validation"] = DataSplit.Validation, ["publictest"] = DataSplit.Validation,
        ["test"] = DataSplit.Test, ["privatetest"] = DataSplit.Test,
    };

    public static bool TryEmotion(string folderName, out int emotion) => EmotionAliases.TryGetValue(folderName, out emotion);

    /// <summary>An emotion's folder name (or alias) or a split's (train, val, test, ...).</summary>
    public static bool IsClassOrSplit(string folderName) => TryEmotion(folderName, out _) || SplitNames.ContainsKey(folderName);

    public static void Read(string root, FaceDataset into)
    {
        var folders = Directory.GetDirectories(root).OrderBy(d => d, StringComparer.Ordinal).ToList();
        bool hasSplits = folders.Any(f => SplitNames.ContainsKey(Path.GetFileName(f)));
        SkipUnlabelled(root, into);
        int read = 0;
        foreach (var folder in folders)
        {
            if (hasSplits)
            {
                if (!SplitNames.TryGetValue(Path.GetFileName(folder), out var split))
                {
                    string name = Path.GetFileName(folder);
                    into.Report.UnknownClasses.Add(TryEmotion(name, out _)
                        ? $"{name} (a class folder beside the split folders; move it into train/, val/ or test/)"
                        : $"{name} (not a split folder)");
                    continue;
                }
                SkipUnlabelled(folder, into);
                foreach (var classFolder in Directory.GetDirectories(folder).OrderBy(d => d, StringComparer.Ordinal))
                    read += ReadClass(classFolder, split, into);
            }
            else read += ReadClass(folder, DataSplit.Train, into);
        }
        into.Report.Sources.Add($"image folders {root}: {read} images");
    }

    private static int ReadClass(string folder, DataSplit split, FaceDataset into)
    {
        string name = Path.GetFileName(folder);
        if (!TryEmotion(name, out int emotion))
        {
            if (!into.Report.UnknownClasses.Contains(name)) into.Report.UnknownClasses.Add(name);
            return 0;
        }
        int read = 0;
        var files = ImageFiles.In(folder, recursive: true, into.Report.NotImages);
        var images = TryLoadAll(files, into);
        for (int i = 0; i < files.Count; i++)
        {
            if (images[i] is { } pixels)
            {
                into[split].Add(new FaceSample(pixels, new FaceLabels(Emotion: emotion), files[i]));
                read++;
            }
        }
        return read;
    }

    /// <summary>Images beside the class folders rather than in one: listed as skipped, since nothing gives them a label.</summary>
    private static void SkipUnlabelled(string folder, FaceDataset into)
    {
        foreach (var image in ImageFiles.In(folder, recursive: false))
            into.Report.Skipped.Add((image, "outside the class folders (angry/, happy/, ...), so it has no emotion label"));
    }

    /// <summary>
    /// Each file's converted image, in the files' order, or null where it cannot be decoded (skipped,
    /// listed in the report in the files' order). Decoded in parallel: a 200 x 200 JPEG takes about
    /// 1.7 ms, so UTKFace's 23,708 would take 40 s on one core. A file that is gone (a broken link)
    /// or not readable by this user is skipped too; any other I/O error (a failing disk) stops the
    /// load, the first such file in order, as a sequential load would.
    /// </summary>
    public static byte[]?[] TryLoadAll(IReadOnlyList<string> files, FaceDataset into)
    {
        if (files.Count > 0) into.RequireRoomFor(files.Count, Path.GetDirectoryName(files[0]) ?? files[0]);
        var images = new byte[]?[files.Count];
        var failures = new Exception?[files.Count];
        Parallel.For(0, files.Count, i =>
        {
            try { images[i] = ImageConversion.Load(files[i], into.Channels, into.Height, into.Width); }
            catch (Exception e) { failures[i] = e; }
        });
        for (int i = 0; i < files.Count; i++)
        {
            string? reason = failures[i] switch
            {
                InvalidDataException corrupt => corrupt.Message.StartsWith(files[i] + ": ") ? corrupt.Message[(files[i].Length + 2)..] : corrupt.Message,   // the path once
                FileNotFoundException or DirectoryNotFoundException => "the file is gone (a broken link?)",
                UnauthorizedAccessException => "this user may not read it",
                _ => null,
            };
            if (reason is not null) into.Report.Skipped.Add((files[i], reason));
            else if (failures[i] is { } other) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(other);
        }
        return images;
    }
}
