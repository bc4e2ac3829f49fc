namespace FerEngine.Checkpoint;

/// <summary>
/// Writes a file so that a crash or kill at any moment leaves either the old file or the complete
/// new one: the bytes go to a temporary file in the same folder, are flushed to the disk, and the
/// temporary file is renamed over the target (rename within a folder is atomic on POSIX).
/// </summary>
public static class AtomicFile
{
    public static void Write(string path, Action<Stream> write)
    {
        string full = Path.GetFullPath(path);
        string folder = Path.GetDirectoryName(full) ?? ".";
        Directory.CreateDirectory(folder);
        string temporary = Path.Combine(folder, $".{Path.GetFileName(full)}.tmp-{Guid.NewGuid():N}");
        try
        {
            using (var stream = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            {
                write(stream);
                stream.Flush(flushToDisk: true);
            }
            File.Move(temporary, full, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            File.Delete(temporary);
            // The system's message names the temporary file, which the user never asked for: name the target.
            string reason = e.Message.Replace($" : '{temporary}'", "").Replace(temporary, full).TrimEnd('.');   // .NET: "No space left on device : 'path'"
            throw new FileWriteException(full, reason, e);
        }
        catch
        {
            File.Delete(temporary);
            throw;
        }
    }

    public static void WriteAllText(string path, string text) =>
        Write(path, stream =>
        {
            using var writer = new StreamWriter(stream, leaveOpen: true);
            writer.Write(text);
        });

    public static void WriteAllBytes(string path, byte[] bytes) => Write(path, stream => stream.Write(bytes));
}

/// <summary>
/// <see cref="AtomicFile"/> could not write <see cref="Target"/> (a full disk, a read-only folder): the
/// file is as it was. <see cref="Reason"/> is the system's reason, without the temporary file's name.
/// </summary>
public sealed class FileWriteException(string target, string reason, Exception inner)
    : IOException($"cannot write {target}: {reason}. Any earlier {Path.GetFileName(target)} is unchanged.", inner)
{
    public string Target => target;
    public string Reason => reason;
}
