using FerEngine.Backends.Cuda;

namespace FerEngine.Tests.Cuda;

/// <summary>
/// The CUDA backend on the emulated GPU (PTX kernels in the emulator, library calls by the CPU
/// reference): the shared backend tests, and the emulated device's allocation checks.
/// </summary>
public class EmulatedDeviceTests : CudaBackendTests
{
    private static readonly CudaDevice Emulated = CudaDevice.Emulated();
    protected override CudaDevice Gpu => Emulated;

    [Fact]
    public void Double_free_and_use_after_free_are_named()
    {
        var gpu = new EmulatedGpu();
        ulong a = gpu.Allocate(64);
        Assert.Single(gpu.LiveAllocations);
        gpu.Free(a);
        Assert.Empty(gpu.LiveAllocations);
        Assert.Contains($"double free of 0x{a:x}", Assert.Throws<InvalidOperationException>(() => gpu.Free(a)).Message);
        Assert.Contains($"use of 0x{a:x} after it was freed", Assert.Throws<InvalidOperationException>(() => gpu.Memset(a, 0, 4)).Message);
        Assert.Contains("never allocated", Assert.Throws<InvalidOperationException>(() => gpu.Free(12345)).Message);
    }

    [Fact]
    public void An_allocation_too_large_for_the_emulator_says_what_to_make_smaller()
    {
        var gpu = new EmulatedGpu();
        var e = Assert.Throws<FerEngine.Native.Cuda.CudaException>(() => gpu.Allocate(3L << 30));   // 3 GiB: one .NET array cannot hold it
        Assert.StartsWith("allocating 3,221,225,472 bytes on the emulated GPU failed: too large for the emulator.", e.Message);
        Assert.Contains("Use a smaller --batch", e.Message);
        Assert.Empty(gpu.LiveAllocations);
    }

    [Fact]
    public void A_float4_kernel_refuses_a_view_that_is_not_16_byte_aligned()
    {
        var x = Tensor.Uniform(new Shape(9), -1, 1, 1, 1, DType.Float32, Emulated);
        var view = x.Slice(1, 8);   // starts 4 bytes past a 16-byte boundary
        var y = Tensor.Zeros(new Shape(8), DType.Float32, Emulated);
        var error = Assert.Throws<NotSupportedException>(() => Emulated.Backend.Scale(view, 2, y));
        Assert.Contains("16-byte aligned", error.Message);
        Emulated.Backend.Scale(view.Clone(), 2, y);   // what the message says to do
        Assert.Equal(view.ToArray<float>().Select(v => 2 * v), y.ToArray<float>());
    }

    [Fact]
    public void Raw_memory_holds_leftovers_tensors_start_cleared_and_none_is_float64()
    {
        // As cuMemAlloc: memory read before anything writes it shows NaNs as floats and huge numbers as integers, not zeros.
        var gpu = new EmulatedGpu();
        ulong a = gpu.Allocate(16);
        var floats = new float[4];
        gpu.CopyToHost<float>(a, floats);
        Assert.All(floats, f => Assert.True(float.IsNaN(f)));
        var longs = new long[2];
        gpu.CopyToHost<long>(a, longs);
        Assert.All(longs, v => Assert.True(v > int.MaxValue, $"{v}"));
        // A tensor's storage is cleared when it is made (CudaStorage), on the emulated GPU as on a real one.
        Assert.All(Tensor.Empty(new Shape(3), DType.Int64, new CudaDevice(gpu)).ToArray<long>(), v => Assert.Equal(0, v));
        Assert.Contains("computes in float32", Assert.Throws<NotSupportedException>(() => Tensor.Zeros(new Shape(3), DType.Float64, new CudaDevice(gpu))).Message);
    }
}
