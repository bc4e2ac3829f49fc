namespace FerEngine.Backends.Cpu.Fast;

/// <summary>Splits [0, count) into a fixed number of contiguous chunks and runs them in parallel (<see cref="ComputeThreads"/>).</summary>
internal static class Parallel1D
{
    /// <summary>Below this many elements a pass runs on the calling thread (thread start-up would dominate).</summary>
    private const int MinimumPerChunk = 1 << 15;

    /// <param name="itemSize">elements per item (a plane's H x W when the items are planes)</param>
    public static void For(long count, Action<int, int> work, int itemSize = 1)
    {
        int chunks = (int)Math.Clamp(count * itemSize / MinimumPerChunk, 1, Math.Max(1, Math.Min(count, CpuFastBackend.Threads)));
        InChunks(count, chunks, work);
    }

    /// <summary>One contiguous chunk per thread (fewer when there are fewer items), however little work they hold.</summary>
    public static void ForEachThread(long count, Action<int, int> work) =>
        InChunks(count, (int)Math.Max(1, Math.Min(count, CpuFastBackend.Threads)), work);

    private static void InChunks(long count, int chunks, Action<int, int> work)
    {
        if (chunks == 1) { work(0, (int)count); return; }
        ComputeThreads.Run(chunks, c =>
        {
            int first = (int)(c * count / chunks), last = (int)((c + 1) * count / chunks);
            work(first, last - first);
        });
    }

    /// <summary>One task per item (channels, planes), items spread over the threads.</summary>
    public static void ForEach(int items, Action<int> work) => ComputeThreads.Run(items, work);
}
