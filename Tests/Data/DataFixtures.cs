using StbImageWriteSharp;

namespace FerEngine.Tests.Data;

/// <summary>A temporary folder and writers for fixture images in the datasets' published layouts.</summary>
public abstract class DataFixtures : IDisposable
{
    protected readonly string Root = Directory.CreateTempSubdirectory("fer-data-").FullName;
    public void Dispose() => Directory.Delete(Root, recursive: true);

    protected string PathOf(params string[] parts) => Path.Combine([Root, .. parts]);

    /// <summary>Writes a grey JPEG (or PNG) of the given size filled with a gradient plus <paramref name="level"/>.</summary>
    protected static string WriteImage(string path, int width = 24, int height = 24, int level = 0, bool png = false)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var pixels = new byte[width * height * 3];
        for (int i = 0; i < width * height; i++) pixels[3 * i] = pixels[3 * i + 1] = pixels[3 * i + 2] = (byte)Math.Clamp(level + i % width * 4, 0, 255);
        using var stream = File.Create(path);
        if (png) new ImageWriter().WritePng(pixels, width, height, ColorComponents.RedGreenBlue, stream);
        else new ImageWriter().WriteJpg(pixels, width, height, ColorComponents.RedGreenBlue, stream, 90);
        return path;
    }

    /// <summary>A JPEG cut in half: a corrupt file as found in real downloads.</summary>
    protected static string WriteTruncatedImage(string path)
    {
        WriteImage(path);
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..(bytes.Length / 4)]);
        return path;
    }
}
