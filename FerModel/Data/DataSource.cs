namespace FerEngine.Model.Data;

/// <summary>
/// One --data argument: a dataset's path, or FORMAT=PATH ("utkface=faces/wild") to name the format of
/// that path alone. --format names the format of every path without its own, so datasets that need
/// different named formats mix: --data fer2013.csv --data utkface=faces/wild. Text that is an existing
/// file or folder as written is a path, whatever '=' it holds.
/// </summary>
public sealed record DataSource(string Path, string? Format)
{
    /// <summary>The formats a path can name for itself (synthetic has no path).</summary>
    public static IEnumerable<string> PathFormats => DatasetLoader.Formats.Where(f => f != "synthetic");

    public static DataSource Parse(string text)
    {
        int equals = text.IndexOf('=');
        if (equals > 0 && !File.Exists(text) && !Directory.Exists(text) && PathFormats.Contains(text[..equals].ToLowerInvariant()))
            return new(text[(equals + 1)..], text[..equals].ToLowerInvariant());
        return new(text, null);
    }

    /// <summary>The same source with its path made absolute (a resumed run may start from another folder).</summary>
    public DataSource WithFullPath() => this with { Path = System.IO.Path.GetFullPath(Path) };

    public override string ToString() => Format is null ? Path : $"{Format}={Path}";
}
