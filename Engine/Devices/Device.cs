using FerEngine.Backends;
using FerEngine.Backends.Cpu;

namespace FerEngine;

/// <summary>
/// Where a tensor's memory lives and which backend computes on it. Every tensor of one
/// operation must be on the same device (the op says so otherwise).
/// </summary>
public abstract class Device
{
    protected Device(string name) => Name = name;

    /// <summary>Short, stable name shown in messages: "cpu", "cpu-reference", "cuda:0", ...</summary>
    public string Name { get; }

    /// <summary>The primitive set that computes on this device's memory.</summary>
    public abstract IBackend Backend { get; }

    /// <summary>Allocates <paramref name="length"/> zero-initialised elements.</summary>
    public abstract Storage Allocate(DType dtype, long length);

    public override string ToString() => Name;

    /// <summary>The fast CPU path (blocked SIMD float32 kernels, multi-threaded); float64 runs the reference loops.</summary>
    public static CpuDevice Cpu { get; } = new("cpu", new CpuFastBackend());

    /// <summary>Plain loops only: the reference that every other backend is checked against.</summary>
    public static CpuDevice CpuReference { get; } = new("cpu-reference", new CpuReferenceBackend());
}

/// <summary>Host memory; managed arrays.</summary>
public sealed class CpuDevice : Device
{
    public CpuDevice(string name, IBackend backend) : base(name) => Backend = backend;

    public override IBackend Backend { get; }

    public override Storage Allocate(DType dtype, long length) => dtype switch
    {
        DType.Float32 => new CpuStorage<float>(this, length),
        DType.Float64 => new CpuStorage<double>(this, length),
        DType.UInt8 => new CpuStorage<byte>(this, length),
        DType.Int32 => new CpuStorage<int>(this, length),
        DType.Int64 => new CpuStorage<long>(this, length),
        _ => throw new ArgumentOutOfRangeException(nameof(dtype)),
    };
}
