using System.Runtime.InteropServices;
using FerEngine.Backends.Cpu;
using FerEngine.Kernels;
using FerEngine.Kernels.Emulator;

namespace FerEngine.Backends.Cuda;

/// <summary>
/// A GPU made of host memory: device memory is the PTX emulator's <see cref="EmulatedMemory"/>
/// (fake 64-bit addresses; out-of-bounds accesses are reported with kernel, thread and address),
/// kernels run in the PTX emulator, and the cuBLAS / cuDNN calls are computed by the CPU
/// reference loops directly on that memory. Allocations are tracked: a double free, a use after
/// free and a leak (<see cref="LiveAllocations"/>) are errors that name the address.
/// </summary>
public sealed class EmulatedGpu : IGpuDevice
{
    private readonly EmulatedMemory _memory = new();
    private readonly Dictionary<ulong, long> _live = [];
    private readonly HashSet<ulong> _freed = [];

    public string Name => "emulated";

    /// <summary>Address and size of every allocation not yet freed.</summary>
    public IReadOnlyDictionary<ulong, long> LiveAllocations
    {
        get { lock (_live) return new Dictionary<ulong, long>(_live); }
    }

    public ulong Allocate(long bytes)
    {
        ulong address = _memory.Allocate(Math.Max(bytes, 4));
        lock (_live)
        {
            _live[address] = bytes;
            _freed.Remove(address);
        }
        return address;
    }

    public void Free(ulong address)
    {
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

    public void CopyToDevice<T>(ReadOnlySpan<T> source, ulong destination) where T : unmanaged =>
        MemoryMarshal.AsBytes(source).CopyTo(Bytes(destination, source.Length * Marshal.SizeOf<T>()));

    public void CopyToHost<T>(ulong source, Span<T> destination) where T : unmanaged =>
        Bytes(source, destination.Length * Marshal.SizeOf<T>()).CopyTo(MemoryMarshal.AsBytes(destination));

    public void CopyDeviceToDevice(ulong source, ulong destination, long bytes) => Bytes(source, bytes).CopyTo(Bytes(destination, bytes));

    public void Memset(ulong destination, byte value, long bytes) => Bytes(destination, bytes).Fill(value);

    /// <summary>When set, every launch of <c>Kernel</c> prints the chosen thread's instructions (`fer trace`).</summary>
    public (string Kernel, KernelTrace Trace)? Tracing { get; set; }

    public void Launch(string kernel, long count, params object[] arguments)
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
        PtxInterpreter.Launch(KernelCatalog.Emulated(kernel), grid, _memory, arguments, trace);
    }

    private static bool Inside(Dim3 at, Dim3 extent) => at.X < extent.X && at.Y < extent.Y && at.Z < extent.Z;

    public void Sgemm(bool transposeA, bool transposeB, int m, int n, int k, float alpha, ulong a, ulong b, float beta, ulong c) =>
        ReferenceLoops<float>.Gemm(transposeA, transposeB, m, n, k, alpha, Floats(a, (long)m * k), Floats(b, (long)k * n), beta, Floats(c, (long)m * n));

    public void ConvolutionForward(ConvShape s, ulong x, ulong w, ulong y) =>
        ReferenceLoops<float>.ConvolutionForward(s, Floats(x, XCount(s)), Floats(w, WCount(s)), default, Floats(y, YCount(s)));

    public void ConvolutionBackwardData(ConvShape s, ulong dy, ulong w, ulong dx) =>
        ReferenceLoops<float>.ConvolutionBackwardData(s, Floats(dy, YCount(s)), Floats(w, WCount(s)), Floats(dx, XCount(s)));

    public void ConvolutionBackwardFilter(ConvShape s, ulong x, ulong dy, ulong dw, bool accumulate) =>
        ReferenceLoops<float>.ConvolutionBackwardFilter(s, Floats(x, XCount(s)), Floats(dy, YCount(s)), Floats(dw, WCount(s)), accumulate);

    public void AddBias(int n, int c, int spatial, ulong y, ulong bias) =>
        ReferenceLoops<float>.AddBias(n, c, spatial, Floats(y, (long)n * c * spatial), Floats(bias, c));

    public void BiasBackward(int n, int c, int spatial, ulong dy, ulong dbias, bool accumulate) =>
        ReferenceLoops<float>.BiasBackward(n, c, spatial, Floats(dy, (long)n * c * spatial), Floats(dbias, c), accumulate);

    public void Multiply(long count, ulong a, ulong b, ulong y)
    {
        Span<float> sa = Floats(a, count), sb = Floats(b, count), sy = Floats(y, count);
        for (int i = 0; i < sy.Length; i++) sy[i] = sa[i] * sb[i];
    }

    public void Relu(long count, ulong x, ulong y)
    {
        Span<float> sx = Floats(x, count), sy = Floats(y, count);
        for (int i = 0; i < sy.Length; i++) sy[i] = sx[i] > 0 ? sx[i] : 0f;
    }

    public void ReluBackward(long count, ulong y, ulong dy, ulong dx)
    {
        Span<float> sy = Floats(y, count), sdy = Floats(dy, count), sdx = Floats(dx, count);
        for (int i = 0; i < sdx.Length; i++) sdx[i] = sy[i] > 0 ? sdy[i] : 0f;
    }

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
