namespace FerEngine.Tensors;

/// <summary>
/// A block of memory owned by one device. Tensors are views into a storage
/// (an element offset plus a shape); reshape shares the storage.
/// </summary>
public abstract class Storage
{
    protected Storage(Device device, DType dtype, long length)
    {
        Device = device;
        DType = dtype;
        Length = length;
    }

    public Device Device { get; }
    public DType DType { get; }
    /// <summary>Number of elements (not bytes).</summary>
    public long Length { get; }

    /// <summary>
    /// Gives device memory back now instead of never (GPU memory is not collected by the GC). Only
    /// the owner of the storage calls this (a step arena for its slots); host memory needs nothing.
    /// </summary>
    public virtual void Release() { }
}

/// <summary>Host memory: a managed array of T.</summary>
public sealed class CpuStorage<T> : Storage where T : unmanaged
{
    public CpuStorage(Device device, long length) : base(device, DTypeInfo.Of<T>(), length)
    {
        if (length > Array.MaxLength)
            throw new OutOfMemoryException($"A CPU tensor of {length} elements is larger than one .NET array can hold.");
        Data = new T[length];
    }

    public T[] Data { get; }
}
