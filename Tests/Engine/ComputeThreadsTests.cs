using System.Runtime.CompilerServices;
using FerEngine.Backends.Cpu.Fast;
using static FerEngine.Tests.CpuThreadsCollection;

namespace FerEngine.Tests.Engine;

/// <summary>The fast CPU path's own threads (<see cref="ComputeThreads"/>): every chunk once, in parallel, errors passed on.</summary>
[Collection(CpuThreadsCollection.Name)]
public class ComputeThreadsTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(8)]
    public void Every_chunk_runs_exactly_once(int threads) => WithThreads(threads, () =>
    {
        foreach (int chunks in new[] { 0, 1, 2, 5, 64, 1000 })
            for (int repeat = 0; repeat < 20; repeat++)
            {
                var runs = new int[chunks];
                ComputeThreads.Run(chunks, c => Interlocked.Increment(ref runs[c]));
                Assert.True(runs.All(r => r == 1), $"{chunks} chunks on {threads} threads: runs {string.Join(",", runs.Distinct())}");
            }
    });

    [Fact]
    public void Two_threads_run_two_chunks_at_the_same_time() => WithThreads(2, () =>
    {
        for (int repeat = 0; repeat < 50; repeat++)   // the worker awake (spinning) and asleep
        {
            using var bothStarted = new Barrier(2);
            var met = new bool[2];
            var ranOn = new int[2];
            ComputeThreads.Run(2, c =>
            {
                ranOn[c] = Environment.CurrentManagedThreadId;
                met[c] = bothStarted.SignalAndWait(TimeSpan.FromSeconds(30));
            });
            Assert.True(met[0] && met[1], "one chunk waited 30 s for the other: the loop ran on one thread");
            Assert.NotEqual(ranOn[0], ranOn[1]);
            if (repeat % 10 == 9) Thread.Sleep(20);   // long enough for the worker to stop spinning and sleep
        }
    });

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void A_chunks_exception_reaches_the_caller_after_the_other_chunks_ran(int threads) => WithThreads(threads, () =>
    {
        var runs = new int[16];
        var error = Assert.Throws<InvalidOperationException>(() => ComputeThreads.Run(16, c =>
        {
            Interlocked.Increment(ref runs[c]);
            if (c == 11) throw new InvalidOperationException("chunk 11 failed");
        }));
        Assert.Equal("chunk 11 failed", error.Message);
        Assert.All(runs, r => Assert.Equal(1, r));

        var after = new int[16];   // and the threads still work
        ComputeThreads.Run(16, c => Interlocked.Increment(ref after[c]));
        Assert.All(after, r => Assert.Equal(1, r));
    });

    [Fact]
    public void A_finished_loop_keeps_nothing_its_chunks_captured() => WithThreads(2, () =>
    {
        var captured = RunOnAnArray();
        GC.Collect();
        GC.WaitForPendingFinalizers();
        Assert.False(captured.IsAlive, "the last loop's work (and the array it captured) is still reachable");
    });

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static WeakReference RunOnAnArray()
    {
        var array = new float[1 << 20];
        ComputeThreads.Run(4, c => array[c] = c);
        return new WeakReference(array);
    }

    [Fact]
    public void A_loop_inside_a_chunk_and_loops_from_two_threads_all_complete() => WithThreads(2, () =>
    {
        var nested = new int[4 * 8];
        ComputeThreads.Run(4, outer => ComputeThreads.Run(8, inner => Interlocked.Increment(ref nested[outer * 8 + inner])));
        Assert.All(nested, r => Assert.Equal(1, r));

        var sums = new long[2];
        Parallel.For(0, 2, caller =>   // two callers at once, each summing its own loops
        {
            for (int repeat = 0; repeat < 200; repeat++)
            {
                var parts = new long[37];
                ComputeThreads.Run(37, c => parts[c] = c + 1);
                sums[caller] += parts.Sum();
            }
        });
        Assert.Equal([200L * 37 * 38 / 2, 200L * 37 * 38 / 2], sums);
    });
}
