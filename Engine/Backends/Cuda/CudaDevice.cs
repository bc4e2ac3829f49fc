namespace FerEngine.Backends.Cuda;

/// <summary>A GPU as a <see cref="Device"/>: tensors live in its memory and the <see cref="CudaBackend"/> computes on them.</summary>
public sealed class CudaDevice : Device
{
    /// <param name="gpu">the GPU whose memory the tensors live in</param>
    /// <param name="backend">the primitives (default <see cref="CudaBackend"/>; a benchmark may wrap it to time each call)</param>
    public CudaDevice(IGpuDevice gpu, IBackend? backend = null) : base(gpu.Name)
    {
        Gpu = gpu;
        Backend = backend ?? new CudaBackend();
    }

    public IGpuDevice Gpu { get; }
    public override IBackend Backend { get; }

    /// <summary>Device memory; never float64, which no GPU primitive computes (one check here instead of one per primitive).</summary>
    protected override Storage AllocatePersistent(DType dtype, long length) => dtype == DType.Float64
        ? throw new NotSupportedException($"{Name}: the CUDA backend computes in float32, so a float64 tensor cannot live on the GPU. Use the CPU reference for float64.")
        : new CudaStorage(this, dtype, length);

    /// <summary>A device on a new emulated GPU (host memory, the PTX emulator): runs everywhere.</summary>
    public static CudaDevice Emulated() => new(new EmulatedGpu());

    /// <summary>
    /// A device on real GPU <paramref name="ordinal"/> through our driver, cuBLAS and cuDNN bindings.
    /// No driver, GPU or library: a <see cref="Native.CudaUnavailableException"/> saying where it looked.
    /// </summary>
    public static CudaDevice Real(int ordinal = 0, bool tf32 = false) => new(new CudaGpu(ordinal, tf32));
}
