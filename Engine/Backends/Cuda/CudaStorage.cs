namespace FerEngine.Backends.Cuda;

/// <summary>Device memory of a tensor: a device pointer on an <see cref="IGpuDevice"/>.</summary>
public sealed class CudaStorage : Storage
{
    internal CudaStorage(CudaDevice device, DType dtype, long length)
        : base(device, dtype, length)
    {
        Gpu = device.Gpu;
        Bytes = length * dtype.SizeInBytes();
        Address = Gpu.Allocate(Bytes);
        Gpu.Memset(Address, 0, Bytes); // persistent allocations start at zero, like every device's
    }

    public IGpuDevice Gpu { get; }
    public ulong Address { get; }
    public long Bytes { get; }

    private int _released;

    /// <summary>Frees the device memory (once; a later use is the device's use-after-free error).</summary>
    public override void Release()
    {
        if (Interlocked.Exchange(ref _released, 1) == 0) Gpu.Free(Address);
    }
}
