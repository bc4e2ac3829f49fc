using FerEngine.Backends.Cuda;
using FerEngine.Backends.Cpu;
using FerEngine.Kernels;
using FerEngine.Native.Cuda;

namespace FerEngine.Benchmarks.EndToEnd;

/// <summary>
/// A GPU that computes nothing: allocations are address ranges, every queued call returns at once,
/// and reads give zeros. Launches still go through the catalogue's launch shape and the argument
/// packing the real device does. Timing the CUDA backend's training step on it measures the host's
/// side of a GPU step alone (autograd, the step arena, argument packing), which an eager step pays
/// on every step and a CUDA graph replay does not.
/// </summary>
internal sealed class HostOnlyGpu : IGpuDevice
{
    private ulong _next = 0x7f00_0000_0000;

    public string Name => "host-only";
    public long Operations { get; private set; }

    public ulong Allocate(long bytes)
    {
        ulong address = _next;
        _next += ((ulong)Math.Max(bytes, 1) + 255) & ~255UL;
        return address;
    }

    public void Free(ulong address) { }
    public void CopyToDevice<T>(ReadOnlySpan<T> source, ulong destination) where T : unmanaged => Operations++;
    public void CopyToHost<T>(ulong source, Span<T> destination) where T : unmanaged => destination.Clear();
    public PendingRead<T> BeginCopyToHost<T>(ulong source, int count) where T : unmanaged => PendingRead<T>.Done(new T[count]);
    public void CopyDeviceToDevice(ulong source, ulong destination, long bytes) => Operations++;
    public void Memset(ulong destination, byte value, long bytes) => Operations++;

    public void Launch(string kernel, long count, params object[] arguments)
    {
        var info = KernelCatalog.Get(kernel);
        _ = info.LaunchFor(count);
        _ = KernelArguments.Pack(info, arguments);
        Operations++;
    }

    public void Sgemm(bool transposeA, bool transposeB, int m, int n, int k, float alpha, ulong a, ulong b, float beta, ulong c) => Operations++;
    public void ConvolutionForward(ConvShape shape, ulong x, ulong w, ulong y) => Operations++;
    public void ConvolutionBackwardData(ConvShape shape, ulong dy, ulong w, ulong dx) => Operations++;
    public void ConvolutionBackwardFilter(ConvShape shape, ulong x, ulong dy, ulong dw, bool accumulate) => Operations++;
    public void AddBias(int n, int c, int spatial, ulong y, ulong bias) => Operations++;
    public void BiasBackward(int n, int c, int spatial, ulong dy, ulong dbias, bool accumulate) => Operations++;
    public void Multiply(long count, ulong a, ulong b, ulong y) => Operations++;
    public void Relu(long count, ulong x, ulong y) => Operations++;
    public void ReluBackward(long count, ulong y, ulong dy, ulong dx) => Operations++;

    public bool IsCapturing => false;
    public void BeginCapture() => throw new NotSupportedException("host-only GPU: no graphs (a replay has no host side to measure)");
    public IGpuGraph EndCapture() => throw new NotSupportedException();
}
