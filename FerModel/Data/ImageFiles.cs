namespace FerEngine.Model.Data;

/// <summary>
/// Which files the readers decode (JPEG, PNG and BMP), and the images of a folder tree. Files of
/// other kinds are collected, so that a folder of .webp or .tif faces is reported rather than read
/// as an empty class.
/// </summary>
public static class ImageFiles
{
    public const string Kinds = ".jpg, .jpeg, .png, .bmp";

    public static bool IsImage(string path) =>
        Path.GetExtension(path).ToLowerInvariant() is ".jpg" or ".jpeg" or ".png" or ".bmp";

    /// <summary>
    /// The images in <paramref name="folder"/> (and, when <paramref name="recursive"/>, its subfolders, the way
    /// torchvision's ImageFolder reads a class folder), in ordinal path order. A subfolder that is a link is not
    /// followed: a link to a folder above would loop. Other files are added to <paramref name="notImages"/>;
    /// hidden ones (.DS_Store) are left out of it.
    /// </summary>
    public static List<string> In(string folder, bool recursive, List<string>? notImages = null)
    {
        var images = new List<string>();
        Collect(folder, recursive, images, notImages);
        images.Sort(StringComparer.Ordinal);
        return images;
    }

    private static void Collect(string folder, bool recursive, List<string> images, List<string>? notImages)
    {
        foreach (var file in Directory.EnumerateFiles(folder))
        {
            if (IsImage(file)) images.Add(file);
            else if (!Path.GetFileName(file).StartsWith('.')) notImages?.Add(file);
        }
        if (!recursive) return;
        foreach (var subfolder in Directory.EnumerateDirectories(folder).Where(d => new DirectoryInfo(d).LinkTarget is null))
            Collect(subfolder, recursive, images, notImages);
    }

    /// <summary>"5 .webp files (first: faces/happy/0.webp), 1 .txt file (...)": the files <see cref="In"/> did not read, by extension.</summary>
    public static string Summary(IEnumerable<string> notImages) =>
        string.Join(", ", notImages
            .GroupBy(file => Path.GetExtension(file).ToLowerInvariant() is { Length: > 0 } extension ? extension : "extensionless")
            .OrderByDescending(kind => kind.Count()).ThenBy(kind => kind.Key, StringComparer.Ordinal)
            .Select(kind => $"{kind.Count()} {kind.Key} file{(kind.Count() == 1 ? "" : "s")} (first: {kind.Min(StringComparer.Ordinal)})"));
}
