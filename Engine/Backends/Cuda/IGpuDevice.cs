using FerEngine.Backends.Cpu;

namespace FerEngine.Backends.Cuda;

/// <summary>
/// The narrow interface between the CUDA backend and a GPU: memory, copies, PTX kernel launches
/// and the few cuBLAS / cuDNN calls the backend makes. Two devices: the real one (driver API,
/// cuBLAS, cuDNN) and <see cref="EmulatedGpu"/> (host memory, the PTX emulator, the CPU reference
/// for the library calls), so the whole CUDA backend runs in every test run. (Two tools wrap it too:
/// `fer trace`'s launch recorder and the benchmarks' host-only GPU.)
/// Addresses are device pointers; tensors are float32 NCHW / OIHW, row-major matrices.
/// </summary>
public interface IGpuDevice
{
    string Name { get; }

    ulong Allocate(long bytes);
    void Free(ulong address);
    void CopyToDevice<T>(ReadOnlySpan<T> source, ulong destination) where T : unmanaged;
    void CopyToHost<T>(ulong source, Span<T> destination) where T : unmanaged;
    /// <summary>Queues a copy of <paramref name="count"/> values to the host without waiting (see <see cref="IBackend.BeginCopyToHost"/>).</summary>
    PendingRead<T> BeginCopyToHost<T>(ulong source, int count) where T : unmanaged;
    void CopyDeviceToDevice(ulong source, ulong destination, long bytes);
    void Memset(ulong destination, byte value, long bytes);

    /// <summary>Launches a catalogue kernel with the catalogue's launch shape for <paramref name="count"/> items.</summary>
    void Launch(string kernel, long count, params object[] arguments);

    /// <summary>cublasSgemm (row-major view): C[M,N] = alpha op(A) op(B) + beta C.</summary>
    void Sgemm(bool transposeA, bool transposeB, int m, int n, int k, float alpha, ulong a, ulong b, float beta, ulong c);
    /// <summary>cudnnConvolutionForward (no bias).</summary>
    void ConvolutionForward(ConvShape shape, ulong x, ulong w, ulong y);
    /// <summary>cudnnConvolutionBackwardData.</summary>
    void ConvolutionBackwardData(ConvShape shape, ulong dy, ulong w, ulong dx);
    /// <summary>cudnnConvolutionBackwardFilter (beta 1 when accumulating).</summary>
    void ConvolutionBackwardFilter(ConvShape shape, ulong x, ulong dy, ulong dw, bool accumulate);
    /// <summary>cudnnAddTensor: y[n, c, s] += bias[c].</summary>
    void AddBias(int n, int c, int spatial, ulong y, ulong bias);
    /// <summary>cudnnConvolutionBackwardBias: dbias[c] (+)= sum over n, s of dy[n, c, s].</summary>
    void BiasBackward(int n, int c, int spatial, ulong dy, ulong dbias, bool accumulate);
    /// <summary>cudnnOpTensor (MUL): y = a * b elementwise.</summary>
    void Multiply(long count, ulong a, ulong b, ulong y);
    /// <summary>cudnnActivationForward / Backward (RELU): y = max(x, 0); dx = y > 0 ? dy : 0.</summary>
    void Relu(long count, ulong x, ulong y);
    void ReluBackward(long count, ulong y, ulong dy, ulong dx);

    // ---- graph capture (cuStreamBeginCapture / cuStreamEndCapture / cuGraphLaunch) --------------

    /// <summary>
    /// From now until <see cref="EndCapture"/>, the calls above are recorded into a graph instead of
    /// run. Allocating, freeing and host copies are errors while capturing: a step worth capturing
    /// has all its memory already (the step arena) and reads nothing back.
    /// </summary>
    void BeginCapture();
    /// <summary>Ends the capture; the returned graph runs the recorded calls, in order, at every <see cref="IGpuGraph.Replay"/>.</summary>
    IGpuGraph EndCapture();
    bool IsCapturing { get; }
}

/// <summary>A recorded sequence of GPU work (a CUDA graph): the same kernels, addresses and arguments at every replay.</summary>
public interface IGpuGraph : IDisposable
{
    /// <summary>How many operations were recorded.</summary>
    int Operations { get; }
    /// <summary>Queues the whole sequence again (one launch on a real GPU).</summary>
    void Replay();
}
