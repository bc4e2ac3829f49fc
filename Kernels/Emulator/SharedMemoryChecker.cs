namespace FerEngine.Kernels.Emulator;

/// <summary>
/// Checks one block's shared-memory accesses for what a GPU does not promise. The emulator runs a
/// block's threads one after another between barriers, so it would give a kernel with a missing
/// bar.sync the answer the kernel wanted whenever the writing thread happens to run first, and
/// its shared memory starts zeroed where a GPU's holds whatever was there before. So, per byte:
/// <list type="bullet">
/// <item>a read of a byte no thread of this block has written yet is an error: either nothing writes it
/// (a GPU reads garbage) or the write comes later in the emulator's order, which on a GPU means a
/// missing bar.sync between the write and the read;</item>
/// <item>a read of what another thread wrote since the last barrier, a write over what another
/// thread read since then, or two threads' writes since then, are errors: only bar.sync orders
/// two threads' shared-memory accesses (warps are not treated as lockstep, as on Volta and later).</item>
/// </list>
/// Atomics (atom.shared, red.shared) need the byte written before and count as a write, but are not
/// checked against each other. Messages name the byte as the kernel does, by its .shared array and
/// offset ("partials+4").
/// </summary>
internal sealed class SharedMemoryChecker
{
    private const int Several = -2;   // reader[b] when more than one thread read b in this interval

    private readonly int[] writer, reader;                  // the thread of the last write / read
    private readonly int[] writeInterval, readInterval;     // the barrier interval of that write / read; -1: never
    private readonly PtxInstruction?[] writeSite, readSite;
    private readonly Func<int, string> threadName;          // "kernel k, block b, thread t", for the thread that errs
    private readonly Func<long, string?> byteName;           // "partials+4": the .shared array and offset of a byte
    private readonly Dim3 blockShape;
    private int interval;                                   // barriers released so far in this block

    public SharedMemoryChecker(int bytes, Dim3 blockShape, Func<int, string> threadName, Func<long, string?> byteName)
    {
        this.byteName = byteName;
        writer = new int[bytes]; reader = new int[bytes];
        writeInterval = new int[bytes]; readInterval = new int[bytes];
        writeSite = new PtxInstruction?[bytes]; readSite = new PtxInstruction?[bytes];
        this.blockShape = blockShape;
        this.threadName = threadName;
    }

    /// <summary>A new block: nothing written, nothing read.</summary>
    public void Reset()
    {
        Array.Fill(writeInterval, -1);
        Array.Fill(readInterval, -1);
        interval = 0;
    }

    /// <summary>A bar.sync has released: every access before it is ordered before every access after it.</summary>
    public void Barrier() => interval++;

    public void Read(int thread, int offset, int length, PtxInstruction site)
    {
        for (int b = offset; b < offset + length; b++)
        {
            if (writeInterval[b] < 0)
                throw Error(thread, site, $"reads {Byte(b)}, {NotYetWritten}");
            if (writeInterval[b] == interval && writer[b] != thread)
                throw Error(thread, site, $"reads {Byte(b)}, which {Other(writer[b])} wrote at {writeSite[b]!.Location} with no bar.sync between: on a GPU the read may come first");
            if (readInterval[b] != interval) { reader[b] = thread; readInterval[b] = interval; readSite[b] = site; }
            else if (reader[b] != thread) reader[b] = Several;
        }
    }

    public void Write(int thread, int offset, int length, PtxInstruction site, bool atomic = false)
    {
        for (int b = offset; b < offset + length; b++)
        {
            if (atomic && writeInterval[b] < 0)
                throw Error(thread, site, $"updates {Byte(b)}, {NotYetWritten}");
            if (!atomic && writeInterval[b] == interval && writer[b] != thread)
                throw Error(thread, site, $"writes {Byte(b)}, which {Other(writer[b])} also wrote at {writeSite[b]!.Location} with no bar.sync between: on a GPU either write may land last");
            if (!atomic && readInterval[b] == interval && reader[b] != thread)
                throw Error(thread, site, $"writes {Byte(b)}, which {(reader[b] == Several ? "other threads" : Other(reader[b]))} read at {readSite[b]!.Location} with no bar.sync between: on a GPU the write may come first");
            writer[b] = thread; writeInterval[b] = interval; writeSite[b] = site;
        }
    }

    /// <summary>
    /// The emulator runs a block's threads one after another, so a byte it has not seen written may be
    /// written later by another thread: without a bar.sync between, a GPU may run that read first too.
    /// </summary>
    private const string NotYetWritten = "which is not yet written by any thread of this block: uninitialised, or a missing bar.sync " +
        "between the write and this read (a GPU's shared memory holds whatever was left there)";

    /// <summary>"partials+4 (byte 4 of .shared)".</summary>
    private string Byte(int offset) => $"{byteName(offset) ?? "padding between .shared arrays"} (byte {offset} of .shared)";

    private string Other(int thread) => $"thread {LaunchGrid.Unflatten(thread, blockShape)}";

    private PtxEmulatorException Error(int thread, PtxInstruction site, string what) =>
        new($"{threadName(thread)}: {site.Location} '{site.Text}' {what}.");
}
