namespace FerEngine.Trainer.Training;

/// <summary>
/// One `fer train` at a time per run folder. Two processes on one --out would write over each
/// other's checkpoints, and a resume tidies away the temporaries of a save in progress, so the
/// run holds an exclusive lock on --out/.fer-train.lock while it runs. .NET takes the lock with
/// flock(2) for FileShare.None: the kernel drops it when the process ends, even when killed, so a
/// crashed run never leaves a stale lock. The file stays with the run's files (deleting it could let
/// a process that opened it just before lock a file no longer in the folder); <see cref="RunFolder.HoldsRun"/>
/// does not count it.
/// </summary>
public sealed class RunLock : IDisposable
{
    public const string FileName = ".fer-train.lock";
    private readonly FileStream handle;
    private bool released;

    private RunLock(FileStream handle) => this.handle = handle;

    /// <summary>Creates <paramref name="folder"/> if needed and locks it, or says that another run holds it.</summary>
    public static RunLock Acquire(string folder)
    {
        string path = Path.Combine(folder, FileName);
        try
        {
            Directory.CreateDirectory(folder);
            return new RunLock(Open(path));
        }
        catch (IOException e) when (HeldByAnother(e))
        {
            throw new IOException($"--out {Path.GetFullPath(folder)} is in use by another `fer train` (it holds {FileName}). Wait for it to end, or choose another --out.", e);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new IOException($"--out {Path.GetFullPath(folder)}: cannot write the run's files there ({e.Message}). Choose another --out.", e);
        }
    }

    /// <summary>True when another process (or another lock in this one) holds <paramref name="folder"/>.</summary>
    public static bool IsHeld(string folder)
    {
        string path = Path.Combine(folder, FileName);
        if (!File.Exists(path)) return false;
        try { Open(path).Dispose(); return false; }
        catch (IOException e) when (HeldByAnother(e)) { return true; }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return false; }   // not ours to judge: Acquire says why it cannot write there
    }

    /// <summary>
    /// True when opening the lock file failed because another handle holds its lock, rather than for
    /// another reason (a read-only file system, say, where a finished run's lock file is still there).
    /// .NET gives the error code as the exception's HResult: on Linux flock's EWOULDBLOCK (11), on
    /// Windows ERROR_SHARING_VIOLATION.
    /// </summary>
    internal static bool HeldByAnother(IOException e) => e.HResult is LinuxWouldBlock or WindowsSharingViolation;
    private const int LinuxWouldBlock = 11;
    private const int WindowsSharingViolation = unchecked((int)0x80070020);

    private static FileStream Open(string path) => new(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);

    /// <summary>
    /// Unlocks (once; later calls do nothing). When the lock file is all that is left in the folder (a
    /// run that saved nothing), it is deleted first, so that the empty folder can go too.
    /// </summary>
    public void Dispose()
    {
        if (released) return;
        released = true;
        string path = handle.Name;
        try
        {
            if (Directory.EnumerateFileSystemEntries(Path.GetDirectoryName(path)!).All(entry => entry == path)) File.Delete(path);
        }
        catch (IOException) { }   // the folder went meanwhile: nothing to tidy
        handle.Dispose();
    }
}
