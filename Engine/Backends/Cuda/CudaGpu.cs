using FerEngine.Backends.Cpu;
using FerEngine.Kernels;
using FerEngine.Native.Cuda;

namespace FerEngine.Backends.Cuda;

/// <summary>
/// A real GPU behind <see cref="IGpuDevice"/>: our bindings to the CUDA driver (<see cref="CudaContext"/>),
/// cuBLAS (<see cref="CudaBlas"/>) and cuDNN (<see cref="CudaDnn"/>), all on the context's one stream,
/// and our PTX kernels JIT-compiled once per file when the device is made. Allocations are tracked
/// like the emulated GPU's, so a double free is an error and leaks can be counted.
/// Use it from one thread at a time (as one CUDA stream is); any thread may be that thread.
/// </summary>
public sealed class CudaGpu : IGpuDevice, IDisposable
{
    private readonly CudaContext _context;
    private readonly CudaBlas _blas;
    private readonly CudaDnn _dnn;
    private readonly Dictionary<string, IntPtr> _functions = [];
    private readonly Dictionary<ulong, long> _live = [];

    /// <param name="ordinal">which GPU (0 = the first)</param>
    /// <param name="tf32">let cuBLAS and cuDNN use TF32 tensor cores for float32 (PyTorch's default for convolutions); false: strict float32</param>
    public CudaGpu(int ordinal = 0, bool tf32 = false)
    {
        _context = new CudaContext(ordinal);
        Tf32 = tf32;
        try
        {
            _blas = new CudaBlas(_context, tf32);
            _dnn = new CudaDnn(_context, tf32);
            foreach (var file in KernelCatalog.Files)
            {
                IntPtr module = _context.LoadModule(KernelCatalog.Source(file), file);
                foreach (var kernel in KernelCatalog.All.Where(k => k.File == file))
                    _functions[kernel.Name] = _context.GetFunction(module, kernel.Name);
            }
        }
        catch
        {
            // A GPU half set up (cuDNN missing, say) holds its context and memory: --device auto goes on on the CPU without them.
            _dnn?.Dispose();
            _blas?.Dispose();
            _context.Dispose();
            throw;
        }
    }

    public string Name => $"cuda:{_context.DeviceName}";
    public bool Tf32 { get; }
    public CudaContext Context => _context;

    /// <summary>Address and size of every allocation not yet freed.</summary>
    public IReadOnlyDictionary<ulong, long> LiveAllocations
    {
        get { lock (_live) return new Dictionary<ulong, long>(_live); }
    }

    public ulong Allocate(long bytes)
    {
        _context.EnsureCurrent();
        ulong address = _context.Allocate(bytes);
        lock (_live) _live[address] = bytes;
        return address;
    }

    public void Free(ulong address)
    {
        lock (_live)
            if (!_live.ContainsKey(address))
                throw new InvalidOperationException($"{Name}: free of 0x{address:x}, which is not a live allocation (double free?).");
        _context.EnsureCurrent();
        _context.Free(address);   // first: if it throws (during a capture, or an earlier kernel's error), the memory is still tracked
        lock (_live) _live.Remove(address);
    }

    public void CopyToDevice<T>(ReadOnlySpan<T> source, ulong destination) where T : unmanaged
    {
        _context.EnsureCurrent();
        _context.CopyToDevice(source, destination);
    }

    public void CopyToHost<T>(ulong source, Span<T> destination) where T : unmanaged
    {
        _context.EnsureCurrent();
        _context.CopyToHost(source, destination);
    }

    public PendingRead<T> BeginCopyToHost<T>(ulong source, int count) where T : unmanaged
    {
        _context.EnsureCurrent();
        return _context.BeginCopyToHost<T>(source, count);
    }

    public void CopyDeviceToDevice(ulong source, ulong destination, long bytes)
    {
        Queue();
        _context.CopyDeviceToDevice(source, destination, bytes);
    }

    public void Memset(ulong destination, byte value, long bytes)
    {
        Queue();
        _context.Memset(destination, value, bytes);
    }

    public void Launch(string kernel, long count, params object[] arguments)
    {
        var info = KernelCatalog.Get(kernel);
        var shape = info.LaunchFor(count);
        Queue();
        _context.Launch(_functions[kernel], kernel, ((uint)shape.Grid.X, (uint)shape.Grid.Y, (uint)shape.Grid.Z),
            ((uint)shape.Block.X, (uint)shape.Block.Y, (uint)shape.Block.Z), KernelArguments.Pack(info, arguments));
    }

    public void Sgemm(bool transposeA, bool transposeB, int m, int n, int k, float alpha, ulong a, ulong b, float beta, ulong c)
    {
        Queue();
        _blas.Sgemm(transposeA, transposeB, m, n, k, alpha, a, b, beta, c);
    }

    public void ConvolutionForward(ConvShape shape, ulong x, ulong w, ulong y)
    {
        Queue();
        _dnn.ConvolutionForward(shape, x, w, y);
    }

    public void ConvolutionBackwardData(ConvShape shape, ulong dy, ulong w, ulong dx)
    {
        Queue();
        _dnn.ConvolutionBackwardData(shape, dy, w, dx);
    }

    public void ConvolutionBackwardFilter(ConvShape shape, ulong x, ulong dy, ulong dw, bool accumulate)
    {
        Queue();
        _dnn.ConvolutionBackwardFilter(shape, x, dy, dw, accumulate);
    }

    public void AddBias(int n, int c, int spatial, ulong y, ulong bias)
    {
        Queue();
        _dnn.AddBias(n, c, spatial, y, bias);
    }

    public void BiasBackward(int n, int c, int spatial, ulong dy, ulong dbias, bool accumulate)
    {
        Queue();
        _dnn.BiasBackward(n, c, spatial, dy, dbias, accumulate);
    }

    public void Multiply(long count, ulong a, ulong b, ulong y)
    {
        Queue();
        _dnn.Multiply(count, a, b, y);
    }

    public void Relu(long count, ulong x, ulong y)
    {
        Queue();
        _dnn.ReluForward(count, x, y);
    }

    public void ReluBackward(long count, ulong y, ulong dy, ulong dx)
    {
        Queue();
        _dnn.ReluBackward(count, y, dy, dx);
    }

    public bool IsCapturing => _context.IsCapturing;

    public void BeginCapture()
    {
        _context.EnsureCurrent();
        _context.BeginCapture();
        _captured = 0;
    }

    public IGpuGraph EndCapture()
    {
        _context.EnsureCurrent();
        return new CudaGraph(_context, _context.EndCapture(), _captured);
    }

    private int _captured; // operations queued since BeginCapture (for IGpuGraph.Operations)

    /// <summary>Makes the context current for a stream operation (counted while capturing).</summary>
    private void Queue()
    {
        _context.EnsureCurrent();
        if (_context.IsCapturing) _captured++;
    }

    /// <summary>An instantiated CUDA graph (CUgraphExec): one cuGraphLaunch replays the whole captured step.</summary>
    private sealed class CudaGraph(CudaContext context, IntPtr executable, int operations) : IGpuGraph
    {
        private IntPtr _executable = executable;
        public int Operations => operations;

        public void Replay()
        {
            ObjectDisposedException.ThrowIf(_executable == IntPtr.Zero, this);
            context.EnsureCurrent();
            context.Replay(_executable);
        }

        public void Dispose()
        {
            if (_executable == IntPtr.Zero) return;
            context.EnsureCurrent();
            context.DestroyGraph(_executable);
            _executable = IntPtr.Zero;
        }
    }

    public void Dispose()
    {
        _dnn.Dispose();
        _blas.Dispose();
        _context.Dispose();
    }
}
