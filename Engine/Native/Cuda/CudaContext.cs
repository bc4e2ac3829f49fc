using System.Runtime.InteropServices;
using System.Text;

namespace FerEngine.Native.Cuda;

/// <summary>
/// One GPU as the engine uses it (ManagedCuda's CudaContext): the device's primary context made
/// current on the calling thread, one non-blocking stream that every call is queued on, device
/// memory, copies, memsets, modules loaded from PTX text (JIT-compiled by the driver, with the JIT's
/// error log in the exception), kernel launches, events for timing, and stream capture into a graph.
/// The host waits for the stream only where a result is needed or memory is handed back: a copy to
/// the host (<see cref="BeginCopyToHost{T}"/> waits when its value is read), freeing memory, timing
/// events, and a staging half of <see cref="UploadRing"/> reused (copies from the host go through
/// pinned staging memory, so they do not wait).
/// </summary>
public sealed unsafe class CudaContext : IDisposable, IUploadStream
{
    private readonly DriverApi _api;
    private readonly int _device;
    private IntPtr _context;
    private readonly UploadRing _uploads;
    private readonly IntPtr[] _uploadFences = new IntPtr[2];
    private readonly List<Readback> _readbacks = [];              // every readback buffer made, for Dispose
    private readonly Stack<Readback> _idleReadbacks = new();      // those no pending read holds

    /// <summary>Loads libcuda, initialises the driver and retains the primary context of GPU <paramref name="ordinal"/>.</summary>
    public CudaContext(int ordinal = 0)
    {
        _api = new DriverApi(LibraryResolver.Load(NativeLibrarySpec.Driver));
        int status = _api.cuInit(0);
        if (status != DriverApi.Success)
            throw new CudaUnavailableException($"cuInit failed ({Describe(status)}): the NVIDIA driver is installed but no GPU is usable. Use --device cpu.");
        int device;
        _api.Check(_api.cuDeviceGet(&device, ordinal), $"cuDeviceGet({ordinal})", "Is there a GPU with that ordinal? `nvidia-smi -L` lists them.");
        _device = device;
        IntPtr context;
        _api.Check(_api.cuDevicePrimaryCtxRetain(&context, device), "cuDevicePrimaryCtxRetain");
        _context = context;
        MakeCurrent();
        IntPtr stream;
        _api.Check(_api.cuStreamCreate(&stream, DriverApi.StreamNonBlocking), "cuStreamCreate");
        Stream = stream;
        var name = new byte[256];
        fixed (byte* buffer = name) _api.Check(_api.cuDeviceGetName(buffer, name.Length, device), "cuDeviceGetName");
        DeviceName = Encoding.ASCII.GetString(name).TrimEnd('\0');
        _uploads = new UploadRing(this);
    }

    public string DeviceName { get; }

    /// <summary>The stream every call of this context is queued on (CUstream).</summary>
    public IntPtr Stream { get; }

    /// <summary>Makes this context current on the calling thread (each thread that calls CUDA needs it once).</summary>
    public void MakeCurrent()
    {
        _api.Check(_api.cuCtxSetCurrent(_context), "cuCtxSetCurrent");
        _currentOnThisThread = this;
    }

    [ThreadStatic] private static CudaContext? _currentOnThisThread;

    /// <summary><see cref="MakeCurrent"/> unless this thread's last context was already this one (cheap enough to call on every operation).</summary>
    public void EnsureCurrent()
    {
        if (!ReferenceEquals(_currentOnThisThread, this)) MakeCurrent();
    }

    private string Describe(int status)
    {
        byte* name = null;
        return _api.cuGetErrorName(status, &name) == DriverApi.Success && name != null ? Marshal.PtrToStringAnsi((IntPtr)name)! : $"CUresult {status}";
    }

    // ---- memory ------------------------------------------------------------------------------------

    public ulong Allocate(long bytes)
    {
        RefuseWhileCapturing($"cuMemAlloc({bytes:N0} bytes)");
        ulong address;
        int status = _api.cuMemAlloc_v2(&address, (nuint)Math.Max(bytes, 1));
        if (status == DriverApi.ErrorOutOfMemory)
        {
            nuint free, total;
            _api.cuMemGetInfo_v2(&free, &total);
            throw new CudaException($"cuMemAlloc({bytes:N0} bytes)", "CUDA_ERROR_OUT_OF_MEMORY",
                $"{(ulong)free / (1 << 20):N0} MiB of {(ulong)total / (1 << 20):N0} MiB are free on {DeviceName}. Use a smaller --batch (or --width), or free the GPU from other processes.");
        }
        _api.Check(status, $"cuMemAlloc({bytes:N0} bytes)");
        return address;
    }

    /// <summary>
    /// Frees device memory once the stream's queued work is done: that work may still read it (an arena
    /// outgrown by a new batch shape), and the driver's reference does not promise that cuMemFree waits.
    /// Frees are rare (shape changes, shutdown), so the wait costs nothing that shows.
    /// </summary>
    public void Free(ulong address)
    {
        RefuseWhileCapturing($"cuMemFree(0x{address:x})");
        Synchronize();
        _api.Check(_api.cuMemFree_v2(address), $"cuMemFree(0x{address:x})");
    }

    /// <summary>Queues a copy from the host without waiting: <paramref name="source"/> may be reused at once (its bytes are staged in pinned memory).</summary>
    public void CopyToDevice<T>(ReadOnlySpan<T> source, ulong destination) where T : unmanaged
    {
        RefuseWhileCapturing("cuMemcpyHtoDAsync (a copy from the host)");
        _uploads.Upload(MemoryMarshal.AsBytes(source), destination);
    }

    byte* IUploadStream.AllocatePinned(long bytes) => AllocatePinned(bytes);

    /// <summary>Page-locked host memory (cuMemHostAlloc): the GPU copies to and from it without the host waiting.</summary>
    private byte* AllocatePinned(long bytes)
    {
        void* memory;
        _api.Check(_api.cuMemHostAlloc(&memory, (nuint)bytes, 0), $"cuMemHostAlloc({bytes:N0} bytes)",
            "Page-locked host memory is short; close other GPU programs or raise the locked-memory limit (ulimit -l).");
        return (byte*)memory;
    }

    void IUploadStream.CopyAsync(byte* host, ulong destination, long bytes) =>
        _api.Check(_api.cuMemcpyHtoDAsync_v2(destination, host, (nuint)bytes, Stream), "cuMemcpyHtoDAsync");

    void IUploadStream.RecordFence(int fence)
    {
        if (_uploadFences[fence] == IntPtr.Zero) _uploadFences[fence] = CreateFence();
        Record(_uploadFences[fence]);
    }

    void IUploadStream.WaitFence(int fence)
    {
        if (_uploadFences[fence] != IntPtr.Zero) _api.Check(_api.cuEventSynchronize(_uploadFences[fence]), "cuEventSynchronize (upload staging)");
    }

    public void CopyToHost<T>(ulong source, Span<T> destination) where T : unmanaged
    {
        RefuseWhileCapturing("cuMemcpyDtoHAsync (a value read back inside the step)");
        fixed (T* host = destination)
        {
            _api.Check(_api.cuMemcpyDtoHAsync_v2(host, source, (nuint)(destination.Length * sizeof(T)), Stream), "cuMemcpyDtoHAsync");
            Synchronize();
        }
    }

    /// <summary>Pinned memory a queued copy to the host lands in, and the event recorded behind that copy.</summary>
    private sealed record Readback(IntPtr Memory, int Bytes, IntPtr Copied);

    /// <summary>
    /// Queues a copy of <paramref name="count"/> values to pinned memory and an event behind it, and
    /// returns at once; the read's Wait waits for that event only (the work queued before the copy),
    /// so the host may queue more work first.
    /// </summary>
    public PendingRead<T> BeginCopyToHost<T>(ulong source, int count) where T : unmanaged
    {
        RefuseWhileCapturing("cuMemcpyDtoHAsync (a value read back inside the step)");
        int bytes = count * sizeof(T);
        var readback = TakeReadback(bytes);
        _api.Check(_api.cuMemcpyDtoHAsync_v2((void*)readback.Memory, source, (nuint)bytes, Stream), "cuMemcpyDtoHAsync");
        Record(readback.Copied);
        return new PendingRead<T>(() =>
        {
            _api.Check(_api.cuEventSynchronize(readback.Copied), "cuEventSynchronize (a value read back)");
            var values = new ReadOnlySpan<T>((void*)readback.Memory, count).ToArray();
            _idleReadbacks.Push(readback);
            return values;
        });
    }

    private Readback TakeReadback(int bytes)
    {
        if (_idleReadbacks.TryPop(out var idle) && idle.Bytes >= bytes) return idle;
        if (idle is not null) _idleReadbacks.Push(idle);
        int size = Math.Max(bytes, 256);
        var made = new Readback((IntPtr)AllocatePinned(size), size, CreateFence());
        _readbacks.Add(made);
        return made;
    }

    public void CopyDeviceToDevice(ulong source, ulong destination, long bytes) =>
        _api.Check(_api.cuMemcpyDtoDAsync_v2(destination, source, (nuint)bytes, Stream), "cuMemcpyDtoDAsync");

    public void Memset(ulong destination, byte value, long bytes) =>
        _api.Check(_api.cuMemsetD8Async(destination, value, (nuint)bytes, Stream), "cuMemsetD8Async");

    /// <summary>Waits until everything queued on the stream has run (errors of earlier kernels surface here).</summary>
    public void Synchronize() => _api.Check(_api.cuStreamSynchronize(Stream), "cuStreamSynchronize",
        "An earlier kernel or library call on this stream failed; rerun with CUDA_LAUNCH_BLOCKING=1 to find which.");

    // ---- modules and kernels ------------------------------------------------------------------------

    /// <summary>JIT-compiles PTX text into a module (CUmodule); a compile error carries the JIT's log.</summary>
    public IntPtr LoadModule(string ptx, string name)
    {
        byte[] image = Encoding.ASCII.GetBytes(ptx + "\0");
        var log = new byte[8192];
        IntPtr module;
        int status;
        fixed (byte* imagePointer = image)
        fixed (byte* logPointer = log)
        {
            int* options = stackalloc int[] { DriverApi.JitErrorLogBuffer, DriverApi.JitErrorLogBufferSizeBytes };
            void** values = stackalloc void*[] { logPointer, (void*)(nuint)log.Length };   // sizes are passed as the pointer value
            status = _api.cuModuleLoadDataEx(&module, imagePointer, 2, options, values);
        }
        if (status != DriverApi.Success)
            _api.Check(status, $"cuModuleLoadDataEx({name})", "PTX JIT log: " + Encoding.ASCII.GetString(log).TrimEnd('\0'));
        return module;
    }

    public IntPtr GetFunction(IntPtr module, string kernel)
    {
        byte[] name = Encoding.ASCII.GetBytes(kernel + "\0");
        IntPtr function;
        fixed (byte* namePointer = name) _api.Check(_api.cuModuleGetFunction(&function, module, namePointer), $"cuModuleGetFunction({kernel})");
        return function;
    }

    /// <summary>Queues a kernel on the stream; <paramref name="arguments"/> is packed by <see cref="KernelArguments.Pack"/>.</summary>
    internal void Launch(IntPtr function, string kernel, (uint X, uint Y, uint Z) grid, (uint X, uint Y, uint Z) block, KernelArguments.Packed arguments)
    {
        int count = arguments.Offsets.Length;
        fixed (byte* values = arguments.Values)
        {
            void** parameters = stackalloc void*[Math.Max(count, 1)];
            for (int i = 0; i < count; i++) parameters[i] = values + arguments.Offsets[i];
            _api.Check(_api.cuLaunchKernel(function, grid.X, grid.Y, grid.Z, block.X, block.Y, block.Z, 0, Stream, parameters, null),
                $"cuLaunchKernel({kernel}, grid {grid}, block {block})");
        }
    }

    // ---- events and graphs ---------------------------------------------------------------------------

    /// <summary>An event that records the time it is reached (for <see cref="ElapsedMilliseconds"/>).</summary>
    public IntPtr CreateEvent() => CreateEvent(DriverApi.EventDefault);

    /// <summary>An event only waited on, never timed: recording it is cheaper (CU_EVENT_DISABLE_TIMING).</summary>
    private IntPtr CreateFence() => CreateEvent(DriverApi.EventDisableTiming);

    private IntPtr CreateEvent(uint flags)
    {
        IntPtr e;
        _api.Check(_api.cuEventCreate(&e, flags), "cuEventCreate");
        return e;
    }

    public void Record(IntPtr cudaEvent) => _api.Check(_api.cuEventRecord(cudaEvent, Stream), "cuEventRecord");

    public void DestroyEvent(IntPtr cudaEvent) => _api.Check(_api.cuEventDestroy_v2(cudaEvent), "cuEventDestroy");

    /// <summary>Milliseconds between two recorded events (waits for the later one).</summary>
    public float ElapsedMilliseconds(IntPtr start, IntPtr end)
    {
        _api.Check(_api.cuEventSynchronize(end), "cuEventSynchronize");
        float ms;
        _api.Check(_api.cuEventElapsedTime(&ms, start, end), "cuEventElapsedTime");
        return ms;
    }

    /// <summary>True between <see cref="BeginCapture"/> and <see cref="EndCapture"/>.</summary>
    public bool IsCapturing { get; private set; }

    /// <summary>Captures begun so far: memory in use before the latest one may be in a graph's recorded calls.</summary>
    public int CapturesBegun { get; private set; }

    /// <summary>From now on the stream's work is recorded into a graph instead of run.</summary>
    public void BeginCapture()
    {
        _api.Check(_api.cuStreamBeginCapture_v2(Stream, DriverApi.CaptureModeThreadLocal), "cuStreamBeginCapture");
        IsCapturing = true;
        CapturesBegun++;
    }

    /// <summary>Ends the capture and instantiates the recorded graph (CUgraphExec) for replay.</summary>
    public IntPtr EndCapture()
    {
        IntPtr graph, executable;
        IsCapturing = false;
        _api.Check(_api.cuStreamEndCapture(Stream, &graph), "cuStreamEndCapture",
            "A call inside the captured region cannot be captured (a synchronisation, or a library call that allocates); the step runs eagerly instead.");
        try { _api.Check(_api.cuGraphInstantiateWithFlags(&executable, graph, 0), "cuGraphInstantiateWithFlags"); }
        finally { _api.cuGraphDestroy(graph); }
        return executable;
    }

    public void Replay(IntPtr executable) => _api.Check(_api.cuGraphLaunch(executable, Stream), "cuGraphLaunch");

    public void DestroyGraph(IntPtr executable) => _api.Check(_api.cuGraphExecDestroy(executable), "cuGraphExecDestroy");

    /// <summary>
    /// Allocating, freeing and copies to or from the host are not allowed in a stream capture: an
    /// allocation or a free cannot be captured, a copy to the host would be read before the graph ever
    /// ran, and a copy from the host would record a staging address whose bytes change before any replay.
    /// Each would invalidate the capture with an error far from its cause, so they fail here.
    /// </summary>
    private void RefuseWhileCapturing(string call)
    {
        if (IsCapturing)
            throw new CudaException(call, "not allowed while capturing a CUDA graph",
                "A captured step must find all its memory in its step arena and read nothing back; run a warm-up step first and read results after the replay.");
    }

    public void Dispose()
    {
        if (_context == IntPtr.Zero) return;
        EnsureCurrent();
        _api.cuStreamSynchronize(Stream);   // queued copies may still read the staging memory
        if (_uploads.Memory != null) _api.cuMemFreeHost(_uploads.Memory);
        foreach (var readback in _readbacks)
        {
            _api.cuMemFreeHost((void*)readback.Memory);
            _api.cuEventDestroy_v2(readback.Copied);
        }
        foreach (var fence in _uploadFences)
            if (fence != IntPtr.Zero) _api.cuEventDestroy_v2(fence);
        _api.cuStreamDestroy_v2(Stream);
        _api.cuDevicePrimaryCtxRelease_v2(_device);
        _context = IntPtr.Zero;
    }
}
