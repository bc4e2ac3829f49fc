namespace FerEngine.Memory;

/// <summary>
/// Memory for everything one kind of step creates (activations, gradients, temporaries).
/// A training step makes the same allocations in the same order every time, so the arena keeps
/// a list of slots and hands out slot i to the i-th allocation of each step: after the first
/// step nothing is allocated any more, memory stays flat, and every tensor gets the same address
/// each step (what CUDA graph replay needs).
///
/// Lifetime rule: a tensor allocated inside a step stays valid until the next step in the same
/// arena begins. Anything that must outlive that (parameters, optimiser state, a copy of the
/// best weights) is allocated outside a step.
///
/// Ownership rule: an arena belongs to the one loop that repeats its step (made with
/// <see cref="Device.CreateArena"/>). Two steps in one arena at once would hand out the same
/// memory twice, so that is an error, not a race. Disposing the arena gives its memory back
/// (what matters on a GPU, where the GC does not free device memory).
/// </summary>
public sealed class StepArena : IDisposable
{
    private readonly List<Storage> _slots = [];
    private readonly Func<DType, long, Storage> _allocate;
    private int _cursor;
    private int _running; // 1 while a step is in progress (set atomically)
    private bool _disposed;

    internal StepArena(string kind, Device device, Func<DType, long, Storage> allocate)
    {
        Kind = kind;
        Device = device;
        _allocate = allocate;
    }

    public string Kind { get; }
    public Device Device { get; }
    /// <summary>Storages the arena holds (constant once steps repeat).</summary>
    public int SlotCount => _slots.Count;
    /// <summary>Bytes the arena holds.</summary>
    public long Bytes => _slots.Sum(s => s.Length * s.DType.SizeInBytes());
    /// <summary>How many times a slot had to be (re)allocated; stops growing once steps repeat.</summary>
    public long Allocations { get; private set; }

    /// <summary>Begins a step: rewinds to the first slot; throws if a step is already running in this arena.</summary>
    internal void Enter()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (Interlocked.Exchange(ref _running, 1) == 1)
            throw new InvalidOperationException($"the \"{Kind}\" arena on {Device.Name} is already running a step (on another thread?); give each loop its own arena.");
        _cursor = 0;
    }

    internal void Exit() => Volatile.Write(ref _running, 0);

    /// <summary>The next slot if it has the right dtype and length; otherwise a new allocation replaces it.</summary>
    internal Storage Take(DType dtype, long length)
    {
        if (_cursor < _slots.Count && _slots[_cursor].DType == dtype && _slots[_cursor].Length == length)
            return _slots[_cursor++];
        var storage = _allocate(dtype, length);
        Allocations++;
        if (_cursor < _slots.Count)
        {
            _slots[_cursor].Release();   // the step changed shape: the old slot's tensors are already invalid
            _slots[_cursor] = storage;
        }
        else _slots.Add(storage);
        _cursor++;
        return storage;
    }

    /// <summary>Releases every slot. Tensors of the last step become invalid; the arena cannot be used again.</summary>
    public void Dispose()
    {
        if (_running == 1) throw new InvalidOperationException($"the \"{Kind}\" arena on {Device.Name} cannot be disposed while a step is running.");
        if (_disposed) return;
        _disposed = true;
        foreach (var slot in _slots) slot.Release();
        _slots.Clear();
    }
}
