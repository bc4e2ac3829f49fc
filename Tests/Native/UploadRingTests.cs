using System.Runtime.InteropServices;
using FerEngine.Native.Cuda;

namespace FerEngine.Tests.Native;

/// <summary>
/// The upload ring against a stream that is as lazy as a real one can be: a queued copy reads its
/// staging bytes only when a fence behind it is waited on (or at the end), so a ring that reused
/// staging memory too early would deliver the wrong bytes.
/// </summary>
public unsafe class UploadRingTests
{
    private sealed class LazyStream : IUploadStream, IDisposable
    {
        private readonly List<(Action Run, int Fence)> _queue = [];   // Fence: -1 for a copy
        private readonly List<IntPtr> _pinned = [];
        public readonly byte[] Device = new byte[1 << 16];
        public int Copies, Waits;

        public byte* AllocatePinned(long bytes)
        {
            var memory = (byte*)NativeMemory.AllocZeroed((nuint)bytes);
            _pinned.Add((IntPtr)memory);
            return memory;
        }

        public void CopyAsync(byte* host, ulong destination, long bytes)
        {
            Copies++;
            _queue.Add((() => new ReadOnlySpan<byte>(host, (int)bytes).CopyTo(Device.AsSpan((int)destination, (int)bytes)), -1));
        }

        public void RecordFence(int fence) => _queue.Add((() => { }, fence));

        /// <summary>Runs the queue up to the last record of the fence (the stream got that far).</summary>
        public void WaitFence(int fence)
        {
            Waits++;
            RunFirst(_queue.FindLastIndex(operation => operation.Fence == fence) + 1);
        }

        public void Drain() => RunFirst(_queue.Count);

        private void RunFirst(int count)
        {
            foreach (var operation in _queue.Take(count)) operation.Run();
            _queue.RemoveRange(0, count);
        }

        public void Dispose()
        {
            foreach (var memory in _pinned) NativeMemory.Free((void*)memory);
        }
    }

    [Fact]
    public void Every_upload_arrives_although_the_stream_runs_late_and_the_caller_reuses_its_array()
    {
        using var stream = new LazyStream();
        var ring = new UploadRing(stream, halfBytes: 256);
        var expected = new byte[stream.Device.Length];
        var source = new byte[1000];   // one array reused for every upload, as a caller may
        var random = new System.Random(7);
        int destination = 0;
        foreach (int length in new[] { 1, 8, 200, 100, 255, 256, 257, 3, 600, 1000, 40, 7, 512, 90 })
        {
            random.NextBytes(source.AsSpan(0, length));
            source.AsSpan(0, length).CopyTo(expected.AsSpan(destination));
            ring.Upload(source.AsSpan(0, length), (ulong)destination);
            destination += length + 5;
        }
        stream.Drain();

        Assert.Equal(expected, stream.Device);
        Assert.True(stream.Waits > 10, $"the ring waited {stream.Waits} times: it must wait before every reuse of a half");
        Assert.True(stream.Copies > 14, "copies bigger than what is left of a half go in pieces");
    }

    [Fact]
    public void Small_uploads_do_not_wait_until_a_half_is_full()
    {
        using var stream = new LazyStream();
        var ring = new UploadRing(stream, halfBytes: 4096);
        for (int i = 0; i < 60; i++) ring.Upload(BitConverter.GetBytes((long)i), (ulong)(8 * i));   // 60 x 64-byte slots < one half

        Assert.Equal(0, stream.Waits);
        stream.Drain();
        for (int i = 0; i < 60; i++) Assert.Equal(i, BitConverter.ToInt64(stream.Device, 8 * i));
    }
}
