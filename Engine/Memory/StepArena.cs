namespace FerEngine.Memory;

/// <summary>
/// Memory for everything one kind of step creates (activations, gradients, temporaries).
/// A training step makes the same allocations in the same order every time, so the arena keeps
/// a list of slots and hands out slot i to the i-th allocation of each step: after the first
/// step nothing is allocated any more, memory stays flat, and every tensor gets the same address
/// each step (what CUDA graph replay needs).
///
/// Lifetime rule: a tensor allocated inside a step stays valid until the same kind of step
/// begins again. Anything that must outlive that (parameters, optimiser state, a copy of the
/// best weights) is allocated outside a step.
/// </summary>
public sealed class StepArena
{
    private readonly List<Storage> _slots = [];
    private readonly Func<DType, long, Storage> _allocate;
    private int _cursor;

    internal StepArena(string kind, Func<DType, long, Storage> allocate)
    {
        Kind = kind;
        _allocate = allocate;
    }

    public string Kind { get; }
    /// <summary>Storages the arena holds (constant once steps repeat).</summary>
    public int SlotCount => _slots.Count;
    /// <summary>Bytes the arena holds.</summary>
    public long Bytes => _slots.Sum(s => s.Length * s.DType.SizeInBytes());
    /// <summary>How many times a slot had to be (re)allocated; stops growing once steps repeat.</summary>
    public long Allocations { get; private set; }

    internal void Rewind() => _cursor = 0;

    /// <summary>The next slot if it has the right dtype and length; otherwise a new allocation replaces it.</summary>
    internal Storage Take(DType dtype, long length)
    {
        if (_cursor < _slots.Count && _slots[_cursor].DType == dtype && _slots[_cursor].Length == length)
            return _slots[_cursor++];
        var storage = _allocate(dtype, length);
        Allocations++;
        if (_cursor < _slots.Count) _slots[_cursor] = storage;
        else _slots.Add(storage);
        _cursor++;
        return storage;
    }
}
