namespace FerEngine.Native.Cuda;

/// <summary>What an <see cref="UploadRing"/> needs from a stream: pinned host memory, an asynchronous copy, and two fences.</summary>
internal unsafe interface IUploadStream
{
    /// <summary>Page-locked host memory (cuMemHostAlloc): the GPU copies from it without the host waiting.</summary>
    byte* AllocatePinned(long bytes);
    /// <summary>Queues a copy of host memory to the device (cuMemcpyHtoDAsync); it reads the host bytes when it runs, not now.</summary>
    void CopyAsync(byte* host, ulong destination, long bytes);
    /// <summary>Marks fence <paramref name="fence"/> after everything queued so far (cuEventRecord).</summary>
    void RecordFence(int fence);
    /// <summary>Blocks until the work before fence <paramref name="fence"/>'s last record has run (cuEventSynchronize; at once if never recorded).</summary>
    void WaitFence(int fence);
}

/// <summary>
/// Host-to-device copies without a host wait. A copy from ordinary (pageable) memory has to wait
/// for the stream before the caller may reuse its array, and that wait stops the host from queueing
/// the next step while the GPU runs this one. Instead, the bytes are first copied into pinned
/// staging memory and the GPU copies them from there when the stream reaches the copy.
///
/// The staging memory is two halves used in turn. A half is filled copy after copy; when it is full
/// a fence is recorded behind its copies and the other half is taken, after waiting for that half's
/// own fence (its copies have run, so its bytes may be overwritten). A copy bigger than what is left
/// goes in pieces. With halves of a few MiB, the wait is for work queued steps ago: in practice none.
/// Use from one thread at a time, like the stream.
/// </summary>
internal sealed unsafe class UploadRing(IUploadStream stream, int halfBytes = UploadRing.DefaultHalfBytes)
{
    /// <summary>4 MiB: a batch of 1,024 48x48 images (2.4 MB of bytes) fits in one half.</summary>
    public const int DefaultHalfBytes = 4 << 20;

    private byte* _memory;  // 2 * halfBytes pinned bytes, allocated at the first upload
    private int _half;      // the half being filled
    private int _used;      // bytes of it already handed out

    public void Upload(ReadOnlySpan<byte> source, ulong destination)
    {
        if (_memory == null) _memory = stream.AllocatePinned(2L * halfBytes);
        while (source.Length > 0)
        {
            if (_used == halfBytes) TakeOtherHalf();
            int bytes = Math.Min(source.Length, halfBytes - _used);
            byte* staging = _memory + (long)_half * halfBytes + _used;
            source[..bytes].CopyTo(new Span<byte>(staging, bytes));
            stream.CopyAsync(staging, destination, bytes);
            _used = Math.Min(halfBytes, (_used + bytes + 63) & ~63);   // the next copy starts on a cache line
            source = source[bytes..];
            destination += (ulong)bytes;
        }
    }

    private void TakeOtherHalf()
    {
        stream.RecordFence(_half);
        _half ^= 1;
        stream.WaitFence(_half);
        _used = 0;
    }

    /// <summary>The pinned memory, for the owner to free (cuMemFreeHost) once the stream is idle; null if nothing was uploaded.</summary>
    public byte* Memory => _memory;
}
