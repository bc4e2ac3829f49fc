using FerEngine.Backends.Cpu;
using FerEngine.Backends.Cuda;

namespace FerEngine.Trainer.Learning;

/// <summary>One kernel launch a primitive made: the catalogue name, the launch count and the arguments.</summary>
public sealed record RecordedLaunch(string Kernel, long Count, object[] Arguments);

/// <summary>
/// A GPU that passes everything to an inner one except kernel launches, which it records and does not
/// run: a dry run of a primitive call, so that `fer trace` knows, before it runs anything, which
/// launches the call makes (their grids, to check --thread) and which kernel parameter receives which
/// tensor (to name the outputs). Memory, copies and the library calls go to the inner GPU as usual.
/// </summary>
public sealed class LaunchRecorder(IGpuDevice inner) : IGpuDevice
{
    private readonly List<RecordedLaunch> launches = [];

    /// <summary>The launches so far, in order.</summary>
    public IReadOnlyList<RecordedLaunch> Launches => launches;

    public void Launch(string kernel, long count, params object[] arguments) => launches.Add(new RecordedLaunch(kernel, count, arguments));

    public string Name => inner.Name;
    public ulong Allocate(long bytes) => inner.Allocate(bytes);
    public void Free(ulong address) => inner.Free(address);
    public void CopyToDevice<T>(ReadOnlySpan<T> source, ulong destination) where T : unmanaged => inner.CopyToDevice(source, destination);
    public void CopyToHost<T>(ulong source, Span<T> destination) where T : unmanaged => inner.CopyToHost(source, destination);
    public PendingRead<T> BeginCopyToHost<T>(ulong source, int count) where T : unmanaged => inner.BeginCopyToHost<T>(source, count);
    public void CopyDeviceToDevice(ulong source, ulong destination, long bytes) => inner.CopyDeviceToDevice(source, destination, bytes);
    public void Memset(ulong destination, byte value, long bytes) => inner.Memset(destination, value, bytes);
    public void Sgemm(bool transposeA, bool transposeB, int m, int n, int k, float alpha, ulong a, ulong b, float beta, ulong c) =>
        inner.Sgemm(transposeA, transposeB, m, n, k, alpha, a, b, beta, c);
    public void ConvolutionForward(ConvShape shape, ulong x, ulong w, ulong y) => inner.ConvolutionForward(shape, x, w, y);
    public void ConvolutionBackwardData(ConvShape shape, ulong dy, ulong w, ulong dx) => inner.ConvolutionBackwardData(shape, dy, w, dx);
    public void ConvolutionBackwardFilter(ConvShape shape, ulong x, ulong dy, ulong dw, bool accumulate) =>
        inner.ConvolutionBackwardFilter(shape, x, dy, dw, accumulate);
    public void AddBias(int n, int c, int spatial, ulong y, ulong bias) => inner.AddBias(n, c, spatial, y, bias);
    public void BiasBackward(int n, int c, int spatial, ulong dy, ulong dbias, bool accumulate) => inner.BiasBackward(n, c, spatial, dy, dbias, accumulate);
    public void Multiply(long count, ulong a, ulong b, ulong y) => inner.Multiply(count, a, b, y);
    public void Relu(long count, ulong x, ulong y) => inner.Relu(count, x, y);
    public void ReluBackward(long count, ulong y, ulong dy, ulong dx) => inner.ReluBackward(count, y, dy, dx);
    public void BeginCapture() => inner.BeginCapture();
    public IGpuGraph EndCapture() => inner.EndCapture();
    public bool IsCapturing => inner.IsCapturing;
}
