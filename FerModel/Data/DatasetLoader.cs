using FerEngine.Random;

namespace FerEngine.Model.Data;

/// <summary>How to read datasets: the network's input shape, bad-row policy, seed of the validation split, and the memory the images may take (<see cref="FaceDataset.MemoryBudget"/>).</summary>
public sealed record LoadOptions(int Channels = 1, int Height = 48, int Width = 48, bool SkipBad = false, ulong Seed = 0,
    int SyntheticTrain = 2000, int SyntheticValidation = 400, long? MemoryBudget = null);

/// <summary>
/// Reads one or more datasets into one <see cref="FaceDataset"/> with partial labels. The format
/// is detected from each path or given (for all paths, or for one as FORMAT=PATH: <see cref="DataSource"/>):
/// fer2013 (a .csv), rafdb (a folder with
/// EmoLabel/list_patition_label.txt), utkface (a folder of [age]_[gender]_[race]_[date].jpg),
/// folder (class folders, optionally inside split folders), synthetic (no path).
/// Validation: the official split where the dataset has one, else a seeded 10 % of its training part.
/// </summary>
public static class DatasetLoader
{
    public static readonly string[] Formats = ["fer2013", "rafdb", "utkface", "folder", "synthetic"];

    public static FaceDataset Load(IReadOnlyList<string> paths, string? format, LoadOptions options)
    {
        if (format is not null && !Formats.Contains(format.ToLowerInvariant()))
            throw new ArgumentException($"--format {format}: unknown; choose one of {string.Join(", ", Formats)}.");
        var dataset = new FaceDataset(options.Channels, options.Height, options.Width) { MemoryBudget = options.MemoryBudget ?? FaceDataset.DefaultMemoryBudget };
        if (paths.Count > 0 && format?.ToLowerInvariant() == "synthetic")
            throw new ArgumentException($"--format synthetic makes its own faces: leave out --data {string.Join(" ", paths)}, or choose another --format.");
        var sources = paths.Select(DataSource.Parse).ToList();
        var full = sources.Select(source => Path.TrimEndingDirectorySeparator(Path.GetFullPath(source.Path))).ToList();
        if (full.GroupBy(p => p).FirstOrDefault(same => same.Count() > 1) is { } twice)
            throw new ArgumentException($"--data {twice.Key} is given {twice.Count()} times: its images would count {twice.Count()} times. Give each dataset once.");
        if (full.SelectMany(outer => full.Where(inner => inner.StartsWith(outer + Path.DirectorySeparatorChar)).Select(inner => (outer, inner))).FirstOrDefault() is ({ } folder, { } inside))
            throw new ArgumentException($"--data {inside} is inside --data {folder}: its images would be read twice. Give only {folder}.");
        if (paths.Count == 0)
            return SyntheticFaces.Generate(options.SyntheticTrain, options.SyntheticValidation, options.Seed, options.Channels, options.Height, options.Width);

        foreach (var (path, ownFormat) in sources)
        {
            string kind = ownFormat ?? format?.ToLowerInvariant() ?? Detect(path);
            if (kind == "fer2013" ? !File.Exists(path) : !Directory.Exists(path))
                throw new ArgumentException($"{path}: --format {kind} reads a {(kind == "fer2013" ? ".csv file" : "folder")}, and this is {(File.Exists(path) ? "a file" : Directory.Exists(path) ? "a folder" : "not there")}.");
            var part = new FaceDataset(options.Channels, options.Height, options.Width) { MemoryBudget = dataset.MemoryBudget, EarlierImages = dataset.Count };
            switch (kind)
            {
                case "fer2013": Fer2013CsvReader.Read(path, part, options.SkipBad); break;
                case "rafdb": RafDbReader.Read(path, part); break;
                case "utkface": UtkFaceReader.Read(path, part); break;
                case "folder": ImageFolderReader.Read(path, part); break;
            }
            if (part.Validation.Count == 0 && part.Train.Count > 1) SplitValidation(part, options.Seed);
            dataset.Train.AddRange(part.Train);
            dataset.Validation.AddRange(part.Validation);
            dataset.Test.AddRange(part.Test);
            dataset.Report.Sources.AddRange(part.Report.Sources);
            dataset.Report.Skipped.AddRange(part.Report.Skipped);
            dataset.Report.UnknownClasses.AddRange(part.Report.UnknownClasses);
            dataset.Report.NotImages.AddRange(part.Report.NotImages);
        }
        int labelled = dataset.Train.Count(s => s.Labels.HasAny), elsewhere = dataset.Validation.Count + dataset.Test.Count;
        if (dataset.Train.Count == 0 && elsewhere > 0)
            throw new InvalidDataException(
                $"{elsewhere} images read from {string.Join(", ", paths)}, but none for training: only validation or test ones. " +
                $"Training images are FER2013 rows with Usage `Training`, RAF-DB's train_ images, or image folders outside val/ and test/.\n{dataset.Report}");
        if (dataset.Train.Count == 0 || labelled == 0)
            throw new InvalidDataException(
                $"no labelled training images found in {string.Join(", ", paths)} ({dataset.Train.Count} images, {labelled} with a label). " +
                $"Expected a FER2013 .csv, a RAF-DB folder, a UTKFace folder or class folders (angry, happy, ...).\n{dataset.Report}");
        return dataset;
    }

    /// <summary>Which reader a path needs.</summary>
    public static string Detect(string path)
    {
        if (File.Exists(path))
            return path.EndsWith(".csv", StringComparison.OrdinalIgnoreCase)
                ? "fer2013"
                : throw new ArgumentException($"{path}: a single file must be a FER2013 .csv; give folders for image datasets.");
        if (!Directory.Exists(path)) throw new DirectoryNotFoundException($"{path}: no such file or folder.");
        if (File.Exists(Path.Combine(path, "EmoLabel", "list_patition_label.txt"))) return "rafdb";
        var (images, utkNames) = UtkFaceNames(path);
        if (images > 0 && utkNames * 2 > images) return "utkface";
        var folders = Directory.EnumerateDirectories(path).OrderBy(f => f, StringComparer.Ordinal).ToList();
        if (folders.Count == 0)
            throw new InvalidDataException($"{path}: cannot tell the dataset format (no .csv, no EmoLabel/list_patition_label.txt, no class folders, " +
                                           $"and {utkNames} of the first {images} images have UTKFace names, not most): pass --format, or name this path's own " +
                                           $"format as --data FORMAT={path} (FORMAT: {string.Join(", ", DataSource.PathFormats)}).");
        // UTKFace's in-the-wild images come as part1/, part2/, part3/: a folder above them is no image folder of emotions.
        if (folders.Any(f => ImageFolderReader.IsClassOrSplit(Path.GetFileName(f)))) return "folder";
        var utkFolders = folders.Where(MostlyUtkFaceNames).ToList();
        if (utkFolders.Count > 0)
            throw new InvalidDataException($"{path}: {string.Join(", ", utkFolders.Select(Path.GetFileName))} hold{(utkFolders.Count == 1 ? "s" : "")} UTKFace-named images, " +
                                           $"and a UTKFace folder is the one the images are in: pass --data {string.Join(" ", utkFolders)} " +
                                           "(each copy of the images once: an image read twice can land in training and in validation).");
        return "folder";
    }

    private static bool MostlyUtkFaceNames(string folder)
    {
        var (images, utkNames) = UtkFaceNames(folder);
        return images > 0 && utkNames * 2 > images;
    }

    /// <summary>How many of a folder's first 50 images there are, and how many of them have UTKFace names.</summary>
    private static (int Images, int UtkNames) UtkFaceNames(string folder)
    {
        var files = Directory.EnumerateFiles(folder).Where(ImageFiles.IsImage).Take(50).ToList();
        return (files.Count, files.Count(f => UtkFaceReader.TryParse(Path.GetFileName(f), out _)));
    }

    /// <summary>Moves a seeded 10 % of the training samples (at least one) to validation.</summary>
    public static void SplitValidation(FaceDataset part, ulong seed)
    {
        int count = Math.Max(1, part.Train.Count / 10);
        var keyed = part.Train.Select((s, i) => (Key: Philox.Word(seed, RandomStreams.ValidationSplit, (ulong)i), Index: i))
            .OrderBy(k => k.Key).ThenBy(k => k.Index).ToList();
        var chosen = keyed.Take(count).Select(k => k.Index).ToHashSet();
        part.Validation.AddRange(chosen.Order().Select(i => part.Train[i]));
        var rest = part.Train.Where((_, i) => !chosen.Contains(i)).ToList();
        part.Train.Clear();
        part.Train.AddRange(rest);
    }
}
