using FerEngine.Backends;
using FerEngine.Backends.Cpu;
using FerEngine.Memory;

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

    // The step belongs to the thread that began it: other threads allocating on this device at
    // the same time (a data loader, another test) get ordinary persistent memory.
    private readonly ThreadLocal<StepArena?> _activeArena = new();

    /// <summary>
    /// Memory for <paramref name="length"/> elements: from the active step's arena inside
    /// <see cref="BeginStep"/>, otherwise a new persistent allocation (zero-initialised).
    /// Arena memory is NOT cleared: use <see cref="Tensor.Zeros"/> when zeros are needed.
    /// </summary>
    public Storage Allocate(DType dtype, long length) =>
        _activeArena.Value is { } arena ? arena.Take(dtype, length) : AllocatePersistent(dtype, length);

    /// <summary>A new zero-initialised allocation owned by the caller.</summary>
    protected abstract Storage AllocatePersistent(DType dtype, long length);

    /// <summary>
    /// A new, empty arena on this device for one repeated step ("train", "eval"). Whoever repeats
    /// the step owns it (a <c>TrainStep</c>, one evaluation pass), so two loops never share slots.
    /// </summary>
    public StepArena CreateArena(string kind) => new(kind, this, AllocatePersistent);

    /// <summary>
    /// Starts a step in <paramref name="arena"/>: until the returned scope is disposed, this
    /// thread's allocations on this device come from the arena, rewound to its first slot.
    /// Tensors of the arena's previous step become invalid now.
    /// </summary>
    public IDisposable BeginStep(StepArena arena)
    {
        if (arena.Device != this)
            throw new ArgumentException($"BeginStep: the \"{arena.Kind}\" arena belongs to {arena.Device.Name}, not {Name}.", nameof(arena));
        if (_activeArena.Value is { } running)
            throw new InvalidOperationException($"BeginStep(\"{arena.Kind}\"): a \"{running.Kind}\" step is already running on {Name}; steps do not nest.");
        arena.Enter();
        _activeArena.Value = arena;
        return new StepScope(this, arena);
    }

    private sealed class StepScope(Device device, StepArena arena) : IDisposable
    {
        public void Dispose()
        {
            device._activeArena.Value = null;
            arena.Exit();
        }
    }

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

    protected override Storage AllocatePersistent(DType dtype, long length) => dtype switch
    {
        DType.Float32 => new CpuStorage<float>(this, length),
        DType.Float64 => new CpuStorage<double>(this, length),
        DType.UInt8 => new CpuStorage<byte>(this, length),
        DType.Int32 => new CpuStorage<int>(this, length),
        DType.Int64 => new CpuStorage<long>(this, length),
        _ => throw new ArgumentOutOfRangeException(nameof(dtype)),
    };
}
