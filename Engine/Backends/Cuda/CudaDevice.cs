namespace FerEngine.Backends.Cuda;

/// <summary>A GPU as a <see cref="Device"/>: tensors live in its memory and the <see cref="CudaBackend"/> computes on them.</summary>
public sealed class CudaDevice : Device
{
    public CudaDevice(IGpuDevice gpu) : base(gpu.Name)
    {
        Gpu = gpu;
        Backend = new CudaBackend();
    }

    public IGpuDevice Gpu { get; }
    public override IBackend Backend { get; }

    protected override Storage AllocatePersistent(DType dtype, long length) => new CudaStorage(this, dtype, length);

    /// <summary>A device on a new emulated GPU (host memory, the PTX emulator): runs everywhere.</summary>
    public static CudaDevice Emulated() => new(new EmulatedGpu());
}
