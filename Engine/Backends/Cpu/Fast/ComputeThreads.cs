using System.Diagnostics;
using System.Runtime.ExceptionServices;

namespace FerEngine.Backends.Cpu.Fast;

/// <summary>
/// The threads of the fast CPU path's parallel loops: the calling thread and <see cref="CpuFastBackend.Threads"/> - 1
/// workers of our own, which wait for the next loop by spinning for a while before they sleep, as OpenMP's and
/// ONNX Runtime's threads do. .NET's <c>Parallel.For</c> wakes thread-pool threads that have gone to sleep, and
/// on this project's virtual machine that cost 10-150 µs per loop: a loop of two 50 µs chunks took 110 µs on two
/// threads, no faster than one. A training step runs a few hundred loops, and one face through the network
/// about 40, most of them that short.
///
/// Which thread runs a chunk can change from call to call (<see cref="Loop"/>); the callers' chunks are fixed by
/// the work alone, so results do not.
/// A loop started inside a chunk runs its chunks on that chunk's thread; loops started by two threads at once run
/// one after the other.
/// </summary>
internal static class ComputeThreads
{
    /// <summary>How long an idle worker spins before it sleeps: longer than the gaps between a step's loops.</summary>
    private static readonly TimeSpan SpinBeforeSleeping = TimeSpan.FromMilliseconds(2);

    /// <summary>
    /// One loop over chunks 0 .. Chunks - 1 on Threads threads. Thread t (0: the caller, t: worker t - 1) owns the
    /// contiguous range [t Chunks / Threads, (t + 1) Chunks / Threads) and runs it in order; a thread that runs out
    /// takes the next unclaimed chunks of the others' ranges. So each thread reads and writes one contiguous part
    /// of the data, as with a fixed split, and a thread that starts late (woken from sleep) delays nothing.
    /// </summary>
    private sealed class Loop(int chunks, Action<int>? work, int threads)
    {
        private const int Padding = 16;   // ints per counter: each on its own 64-byte cache line
        private readonly int[] _next = new int[threads * Padding];
        public readonly int Chunks = chunks, Threads = threads;
        public int Finished;
        public Exception? Error;

        private int First(int range) => (int)((long)range * Chunks / Threads);

        /// <summary>Runs thread t's own range, then what is left of the others'.</summary>
        public void RunChunks(int t)
        {
            for (int k = 0; k < Threads; k++)
            {
                int range = (t + k) % Threads, first = First(range), end = First(range + 1);
                long chunk;
                while ((chunk = first + (long)Interlocked.Increment(ref _next[range * Padding]) - 1) < end)
                {
                    try { work!((int)chunk); }
                    catch (Exception e) { Interlocked.CompareExchange(ref Error, e, null); }
                    Interlocked.Increment(ref Finished);
                }
            }
        }

        /// <summary>After the last chunk: no claim can succeed any more, so a late worker never reads work.</summary>
        public void ReleaseWork() => work = null;
    }

    /// <summary>A worker; it sleeps on itself (Monitor.Wait), so that a loop wakes only the workers it uses.</summary>
    private sealed class Worker { public int Sleeping; }

    private static readonly Lock Posting = new();             // the workers run one loop at a time
    private static readonly List<Worker> Workers = [];
    private static Loop? _current;
    private static int _posted;                                // loops posted so far: a worker waits for it to change
    [ThreadStatic] private static bool _inChunk;

    /// <summary>
    /// Runs work(0) .. work(chunks - 1) in parallel and returns when all have finished. A chunk that throws does not
    /// stop the others; the first exception is rethrown at the end.
    /// </summary>
    public static void Run(int chunks, Action<int> work)
    {
        var loop = new Loop(chunks, work, Math.Clamp(CpuFastBackend.Threads, 1, Math.Max(1, chunks)));
        if (loop.Threads == 1 || _inChunk) loop.RunChunks(0);   // one thread, or a loop inside a chunk: all on this thread
        else RunOnWorkers(loop);
        if (loop.Error is { } error) ExceptionDispatchInfo.Throw(error);
    }

    private static void RunOnWorkers(Loop loop)
    {
        int threads = loop.Threads;
        Posting.Enter();
        try
        {
            while (Workers.Count < threads - 1) StartWorker(Workers.Count);
            Volatile.Write(ref _current, loop);
            Interlocked.Increment(ref _posted);
            for (int i = 0; i < threads - 1; i++)   // after the full fence of the increment: see Sleeping, or it sees the loop
                if (Volatile.Read(ref Workers[i].Sleeping) != 0) lock (Workers[i]) Monitor.Pulse(Workers[i]);
            RunChunksHere(loop, 0);
            var wait = new SpinWait();
            while (Volatile.Read(ref loop.Finished) < loop.Chunks) wait.SpinOnce(sleep1Threshold: -1);
            loop.ReleaseWork();   // _current keeps the loop: not what its chunks captured
        }
        finally { Posting.Exit(); }
    }

    private static void RunChunksHere(Loop loop, int t)
    {
        _inChunk = true;
        try { loop.RunChunks(t); }
        finally { _inChunk = false; }
    }

    /// <summary>Called before the loop it is started for is posted: the worker waits for loops after those posted now.</summary>
    private static void StartWorker(int index)
    {
        int seen = _posted;
        var worker = new Worker();
        var thread = new Thread(() => Work(worker, index, seen)) { IsBackground = true, Name = $"FerEngine compute {index + 1}" };
        Workers.Add(worker);
        thread.Start();
    }

    /// <summary>Worker index (0-based) is thread index + 1 of every loop that has that many threads.</summary>
    private static void Work(Worker me, int index, int seen)
    {
        bool wanted = true;
        while (true)
        {
            WaitForLoop(me, seen, spin: wanted);
            seen = Volatile.Read(ref _posted);
            var loop = Volatile.Read(ref _current)!;
            wanted = index + 1 < loop.Threads;
            if (wanted) RunChunksHere(loop, index + 1);
        }
    }

    /// <summary>
    /// Spins until a loop after the seen one is posted, then sleeps until one is. A worker the last loop did not
    /// want (it had fewer threads) sleeps at once, leaving the cores to those that work.
    /// </summary>
    private static void WaitForLoop(Worker me, int seen, bool spin)
    {
        long spinUntil = spin ? Stopwatch.GetTimestamp() + (long)(SpinBeforeSleeping.TotalSeconds * Stopwatch.Frequency) : 0;
        var wait = new SpinWait();
        while (Volatile.Read(ref _posted) == seen)
        {
            if (Stopwatch.GetTimestamp() < spinUntil) { wait.SpinOnce(sleep1Threshold: -1); continue; }
            lock (me)
            {
                Interlocked.Exchange(ref me.Sleeping, 1);   // a full fence: the poster's read of Sleeping sees it, or we see its loop
                while (Volatile.Read(ref _posted) == seen) Monitor.Wait(me);
                Volatile.Write(ref me.Sleeping, 0);
            }
        }
    }
}
