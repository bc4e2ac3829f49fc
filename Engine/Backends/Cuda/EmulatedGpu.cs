using System.Runtime.InteropServices;
using FerEngine.Backends.Cpu;
using FerEngine.Kernels;
using FerEngine.Kernels.Emulator;
using FerEngine.Native.Cuda;

namespace FerEngine.Backends.Cuda;

/// <summary>
/// A GPU made of host memory: device memory is the PTX emulator's <see cref="EmulatedMemory"/>
/// (fake 64-bit addresses; out-of-bounds accesses are reported with kernel, thread and address),
/// kernels run in the PTX emulator, and the cuBLAS / cuDNN calls are computed by the CPU
/// reference loops directly on that memory. Allocations are tracked: a double free, a use after
/// free and a leak (<see cref="LiveAllocations"/>) are errors that name the address.
/// Graph capture works as on a GPU: while capturing, every call is recorded (not run), and a replay
/// runs the recorded calls in order; the calls a real capture forbids are errors here too.
/// </summary>
public sealed class EmulatedGpu : IGpuDevice
{
    private readonly EmulatedMemory _memory = new();
    private readonly Dictionary<ulong, long> _live = [];
    private readonly HashSet<ulong> _freed = [];

    public string Name => "emulated";

    /// <summary>The order kernels run their threads in (<see cref="ExecutionOrder.Reversed"/>: tests that a kernel's answer does not depend on it).</summary>
    public ExecutionOrder Order { get; init; } = ExecutionOrder.Parallel;

    /// <summary>Address and size of every allocation not yet freed.</summary>
    public IReadOnlyDictionary<ulong, long> LiveAllocations
    {
        get { lock (_live) return new Dictionary<ulong, long>(_live); }
    }

    /// <summary>
    /// What a new allocation holds: cuMemAlloc does not clear memory, so code that reads what it never
    /// wrote must not get the zeros a host array would give. As float32 this is a NaN, as int32 and
    /// int64 a huge positive number (an index far out of bounds, never the -1 of "no label").
    /// </summary>
    public const uint Leftover = 0x7FC0DEAD;

    public ulong Allocate(long bytes)
    {
        RefuseWhileCapturing($"allocating {bytes:N0} bytes");
        if (bytes > Array.MaxLength)   // a real GPU would take it; the emulator cannot
            throw new CudaException($"allocating {bytes:N0} bytes on the emulated GPU", "too large for the emulator",
                $"It holds each allocation in one .NET array, at most {Array.MaxLength:N0} bytes. Use a smaller --batch, --width or --image-size.");
        ulong address = _memory.Allocate(Math.Max(bytes, 4));
        MemoryMarshal.Cast<byte, uint>(_memory.Span(address, Math.Max(bytes, 4) & ~3L)).Fill(Leftover);
        lock (_live)
        {
            _live[address] = bytes;
            _freed.Remove(address);
        }
        return address;
    }

    public void Free(ulong address)
    {
        RefuseWhileCapturing($"freeing 0x{address:x}");
        lock (_live)
        {
            if (!_live.Remove(address))
                throw new InvalidOperationException(_freed.Contains(address)
                    ? $"emulated GPU: double free of 0x{address:x}."
                    : $"emulated GPU: free of 0x{address:x}, which was never allocated.");
            _freed.Add(address);
        }
        _memory.Free(address);
    }

    public void CopyToDevice<T>(ReadOnlySpan<T> source, ulong destination) where T : unmanaged
    {
        RefuseWhileCapturing("a copy from the host");
        MemoryMarshal.AsBytes(source).CopyTo(Bytes(destination, source.Length * Marshal.SizeOf<T>()));
    }

    /// <summary>Copies to the host so far: on a real GPU each one waits for everything queued before it.</summary>
    public long CopiesToHost { get; private set; }

    public void CopyToHost<T>(ulong source, Span<T> destination) where T : unmanaged
    {
        RefuseWhileCapturing("a copy to the host (a value read back inside the step)");
        CopiesToHost++;
        Bytes(source, destination.Length * Marshal.SizeOf<T>()).CopyTo(MemoryMarshal.AsBytes(destination));
    }

    /// <summary>The emulator runs every operation when it is queued, so the values are read now.</summary>
    public PendingRead<T> BeginCopyToHost<T>(ulong source, int count) where T : unmanaged
    {
        var values = new T[count];
        CopyToHost(source, values.AsSpan());
        return PendingRead<T>.Done(values);
    }

    public void CopyDeviceToDevice(ulong source, ulong destination, long bytes) => Queue(() => Bytes(source, bytes).CopyTo(Bytes(destination, bytes)));

    public void Memset(ulong destination, byte value, long bytes) => Queue(() => Bytes(destination, bytes).Fill(value));

    // ---- graph capture ------------------------------------------------------------------------------

    private List<Action>? _recording; // non-null while capturing

    public bool IsCapturing => _recording is not null;

    public void BeginCapture()
    {
        if (_recording is not null) throw new InvalidOperationException("emulated GPU: a capture is already in progress.");
        _recording = [];
    }

    public IGpuGraph EndCapture()
    {
        var recorded = _recording ?? throw new InvalidOperationException("emulated GPU: EndCapture without BeginCapture.");
        _recording = null;
        return new EmulatedGraph(recorded);
    }

    /// <summary>Runs an operation now, or records it while capturing.</summary>
    private void Queue(Action operation)
    {
        if (_recording is { } recording) recording.Add(operation);
        else operation();
    }

    private void RefuseWhileCapturing(string what)
    {
        if (_recording is not null)
            throw new InvalidOperationException($"emulated GPU: {what} while capturing a graph. A captured step must find all its memory in " +
                "its step arena and read nothing back; run a warm-up step first and read results after the replay.");
    }

    private sealed class EmulatedGraph(List<Action> operations) : IGpuGraph
    {
        public int Operations => operations.Count;
        public void Replay() { foreach (var operation in operations) operation(); }
        public void Dispose() { }
    }

    /// <summary>When set, every launch of <c>Kernel</c> prints the chosen thread's instructions (`fer trace`).</summary>
    public (string Kernel, KernelTrace Trace)? Tracing { get; set; }

    public void Launch(string kernel, long count, params object[] arguments)
    {
        // The real device's rules first: an argument cuLaunchKernel would refuse (an int for a .u32, say)
        // fails here too, not only on a GPU.
        KernelArguments.Pack(KernelCatalog.Get(kernel), arguments);
        Queue(() => LaunchNow(kernel, count, arguments));
    }

    private void LaunchNow(string kernel, long count, object[] arguments)
    {
        var grid = KernelCatalog.Get(kernel).LaunchFor(count);
        KernelTrace? trace = null;
        if (Tracing is { } tracing && tracing.Kernel == kernel)
        {
            trace = tracing.Trace;
            trace.Writer.WriteLine($"launch {kernel}: grid {grid.Grid} blocks x {grid.Block} threads; tracing block {trace.Block}, thread {trace.Thread}");
            if (!Inside(trace.Block, grid.Grid) || !Inside(trace.Thread, grid.Block))
                trace.Writer.WriteLine("  (that thread is not part of this launch: nothing to trace)");
        }
        PtxInterpreter.Launch(KernelCatalog.Emulated(kernel), grid, _memory, arguments, trace, Order);
    }

    private static bool Inside(Dim3 at, Dim3 extent) => at.X < extent.X && at.Y < extent.Y && at.Z < extent.Z;

    public void Sgemm(bool transposeA, bool transposeB, int m, int n, int k, float alpha, ulong a, ulong b, float beta, ulong c) => Queue(() =>
        ReferenceLoops<float>.Gemm(transposeA, transposeB, m, n, k, alpha, Floats(a, (long)m * k), Floats(b, (long)k * n), beta, Floats(c, (long)m * n)));

    public void ConvolutionForward(ConvShape s, ulong x, ulong w, ulong y) => Queue(() =>
        ReferenceLoops<float>.ConvolutionForward(s, Floats(x, XCount(s)), Floats(w, WCount(s)), default, Floats(y, YCount(s))));

    public void ConvolutionBackwardData(ConvShape s, ulong dy, ulong w, ulong dx) => Queue(() =>
        ReferenceLoops<float>.ConvolutionBackwardData(s, Floats(dy, YCount(s)), Floats(w, WCount(s)), Floats(dx, XCount(s))));

    public void ConvolutionBackwardFilter(ConvShape s, ulong x, ulong dy, ulong dw, bool accumulate) => Queue(() =>
        ReferenceLoops<float>.ConvolutionBackwardFilter(s, Floats(x, XCount(s)), Floats(dy, YCount(s)), Floats(dw, WCount(s)), accumulate));

    public void AddBias(int n, int c, int spatial, ulong y, ulong bias) => Queue(() =>
        ReferenceLoops<float>.AddBias(n, c, spatial, Floats(y, (long)n * c * spatial), Floats(bias, c)));

    public void BiasBackward(int n, int c, int spatial, ulong dy, ulong dbias, bool accumulate) => Queue(() =>
        ReferenceLoops<float>.BiasBackward(n, c, spatial, Floats(dy, (long)n * c * spatial), Floats(dbias, c), accumulate));

    public void Multiply(long count, ulong a, ulong b, ulong y) => Queue(() =>
    {
        Span<float> sa = Floats(a, count), sb = Floats(b, count), sy = Floats(y, count);
        for (int i = 0; i < sy.Length; i++) sy[i] = sa[i] * sb[i];
    });

    public void Relu(long count, ulong x, ulong y) => Queue(() =>
    {
        Span<float> sx = Floats(x, count), sy = Floats(y, count);
        for (int i = 0; i < sy.Length; i++) sy[i] = sx[i] > 0 ? sx[i] : 0f;
    });

    public void ReluBackward(long count, ulong y, ulong dy, ulong dx) => Queue(() =>
    {
        Span<float> sy = Floats(y, count), sdy = Floats(dy, count), sdx = Floats(dx, count);
        for (int i = 0; i < sdx.Length; i++) sdx[i] = sy[i] > 0 ? sdy[i] : 0f;
    });

    private static long XCount(ConvShape s) => (long)s.N * s.Cin * s.H * s.W;
    private static long YCount(ConvShape s) => (long)s.N * s.Cout * s.Ho * s.Wo;
    private static long WCount(ConvShape s) => (long)s.Cout * s.Cin * s.K * s.K;

    private Span<float> Floats(ulong address, long count) => MemoryMarshal.Cast<byte, float>(Bytes(address, count * 4));

    /// <summary>The bytes at an address, checked against the allocation table (use after free is named).</summary>
    private Span<byte> Bytes(ulong address, long bytes)
    {
        lock (_live)
            if (_freed.Contains(address) && !_live.ContainsKey(address))
                throw new InvalidOperationException($"emulated GPU: use of 0x{address:x} after it was freed.");
        return _memory.Span(address, bytes);
    }
}
