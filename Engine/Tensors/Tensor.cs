using FerEngine.Autograd;
using FerEngine.Backends;
using FerEngine.Random;

namespace FerEngine.Tensors;

/// <summary>
/// An n-dimensional array on a device: a logical shape, a dtype, and a contiguous window
/// (element offset + element count) into a storage. Reshape and Flatten are views that share
/// the storage. Only backends index memory; everything above them speaks in logical shapes.
///
/// For autograd a tensor also carries RequiresGrad, its accumulated Grad, and GradFn: the node
/// of the operation that produced it (null for leaves such as inputs and parameters).
/// </summary>
public sealed class Tensor
{
    public Tensor(Storage storage, Shape shape, long offset = 0)
    {
        if (offset < 0 || offset + shape.ElementCount > storage.Length)
            throw new ArgumentException(
                $"A view of shape {shape} at offset {offset} does not fit a storage of {storage.Length} elements.");
        Storage = storage;
        Shape = shape;
        Offset = offset;
    }

    public Storage Storage { get; }
    public Shape Shape { get; }
    /// <summary>First element of this view inside <see cref="Storage"/>.</summary>
    public long Offset { get; }
    public DType DType => Storage.DType;
    public Device Device => Storage.Device;
    public IBackend Backend => Storage.Device.Backend;
    public long ElementCount => Shape.ElementCount;
    public int Rank => Shape.Rank;

    /// <summary>Optional name (parameters: "conv1.weight"); used in messages and checkpoints.</summary>
    public string? Name { get; set; }

    // ---- autograd state -------------------------------------------------------------------
    /// <summary>Leaves with RequiresGrad receive a Grad on backward; ops on them record a graph.</summary>
    public bool RequiresGrad { get; set; }
    /// <summary>Accumulated gradient (same shape, dtype and device); null until a backward reaches it.</summary>
    public Tensor? Grad { get; set; }
    /// <summary>The node that produced this tensor, or null for a leaf.</summary>
    public Node? GradFn { get; internal set; }

    /// <summary>Reverse-mode differentiation from this scalar (see <see cref="Autograd.Autograd.Backward"/>).</summary>
    public void Backward() => Autograd.Autograd.Backward(this);

    // ---- creation -------------------------------------------------------------------------
    /// <summary>A tensor whose contents are unspecified (the caller overwrites every element).</summary>
    public static Tensor Empty(Shape shape, DType dtype, Device device) =>
        new(device.Allocate(dtype, shape.ElementCount), shape);

    /// <summary>A tensor of zeros (step-arena memory is reused, so it is cleared explicitly).</summary>
    public static Tensor Zeros(Shape shape, DType dtype, Device device) => Full(shape, 0.0, dtype, device);

    public static Tensor Full(Shape shape, double value, DType dtype, Device device)
    {
        var t = Empty(shape, dtype, device);
        device.Backend.Fill(t, value);
        return t;
    }

    public static Tensor Ones(Shape shape, DType dtype, Device device) => Full(shape, 1.0, dtype, device);

    /// <summary>Copies host data into a new tensor: FromArray(new float[] {...}, new Shape(2, 3), Device.Cpu).</summary>
    public static Tensor FromArray<T>(T[] data, Shape shape, Device device) where T : unmanaged
    {
        if (data.Length != shape.ElementCount)
            throw new ArgumentException($"FromArray: {data.Length} values cannot fill shape {shape} ({shape.ElementCount} elements).");
        var t = Empty(shape, DTypeInfo.Of<T>(), device);
        device.Backend.CopyFromHost<T>(data, t);
        return t;
    }

    public static Tensor Scalar(double value, DType dtype, Device device) => Full(Shape.Scalar, value, dtype, device);

    /// <summary>Uniform in (low, high) from Philox(seed, stream): element i uses word i.</summary>
    public static Tensor Uniform(Shape shape, double low, double high, ulong seed, ulong stream, DType dtype, Device device)
    {
        var values = new double[shape.ElementCount];
        Philox.FillUniform(values, seed, stream, low, high);
        return FromDoubles(values, shape, dtype, device);
    }

    /// <summary>Normal(mean, std) from Philox(seed, stream) by Box-Muller.</summary>
    public static Tensor Normal(Shape shape, double mean, double std, ulong seed, ulong stream, DType dtype, Device device)
    {
        var values = new double[shape.ElementCount];
        Philox.FillNormal(values, seed, stream, mean, std);
        return FromDoubles(values, shape, dtype, device);
    }

    /// <summary>Host doubles rounded to <paramref name="dtype"/> (float32 or float64).</summary>
    public static Tensor FromDoubles(double[] values, Shape shape, DType dtype, Device device) => dtype switch
    {
        DType.Float64 => FromArray(values, shape, device),
        DType.Float32 => FromArray(Array.ConvertAll(values, v => (float)v), shape, device),
        _ => throw new ArgumentException($"FromDoubles makes float tensors, not {dtype}."),
    };

    // ---- host access ----------------------------------------------------------------------
    /// <summary>Copies the elements to a new host array (T must match the dtype).</summary>
    public T[] ToArray<T>() where T : unmanaged
    {
        RequireDType(DTypeInfo.Of<T>(), "ToArray");
        var host = new T[ElementCount];
        Backend.CopyToHost<T>(this, host);
        return host;
    }

    /// <summary>The elements as float64, whatever the dtype.</summary>
    public double[] ToDoubles() => DType switch
    {
        DType.Float64 => ToArray<double>(),
        DType.Float32 => Array.ConvertAll(ToArray<float>(), v => (double)v),
        DType.Int64 => Array.ConvertAll(ToArray<long>(), v => (double)v),
        DType.Int32 => Array.ConvertAll(ToArray<int>(), v => (double)v),
        DType.UInt8 => Array.ConvertAll(ToArray<byte>(), v => (double)v),
        _ => throw new InvalidOperationException(),
    };

    /// <summary>The single value of a one-element tensor (a loss), as float64.</summary>
    public double Item()
    {
        if (ElementCount != 1)
            throw new InvalidOperationException($"Item() needs a one-element tensor; this one has shape {Shape}.");
        return ToDoubles()[0];
    }

    /// <summary>Direct access to a CPU tensor's elements (backends and tests only).</summary>
    public Span<T> AsSpan<T>() where T : unmanaged
    {
        RequireDType(DTypeInfo.Of<T>(), "AsSpan");
        if (Storage is not CpuStorage<T> cpu)
            throw new InvalidOperationException($"AsSpan needs a CPU tensor; this one is on {Device}.");
        return cpu.Data.AsSpan((int)Offset, (int)ElementCount);
    }

    /// <summary>A CPU tensor's elements as Memory (capturable by parallel lambdas, unlike a Span).</summary>
    public Memory<T> AsMemory<T>() where T : unmanaged
    {
        RequireDType(DTypeInfo.Of<T>(), "AsMemory");
        if (Storage is not CpuStorage<T> cpu)
            throw new InvalidOperationException($"AsMemory needs a CPU tensor; this one is on {Device}.");
        return cpu.Data.AsMemory((int)Offset, (int)ElementCount);
    }

    // ---- views ----------------------------------------------------------------------------
    /// <summary>
    /// Same elements, new shape (one dimension may be -1). Differentiable: the gradient is
    /// reshaped back.
    /// </summary>
    public Tensor Reshape(params int[] dims) => Ops.Functional.Reshape(this, InferShape(dims));

    /// <summary>Keeps dimensions before <paramref name="startDim"/> and merges the rest: [N,C,H,W] -> [N, C*H*W].</summary>
    public Tensor Flatten(int startDim = 1)
    {
        var dims = new int[startDim + 1];
        for (int i = 0; i < startDim; i++) dims[i] = Shape[i];
        dims[startDim] = -1;
        return Reshape(dims);
    }

    /// <summary>A non-differentiable view with another shape (no autograd record).</summary>
    public Tensor View(Shape shape)
    {
        if (shape.ElementCount != ElementCount)
            throw new ArgumentException($"Cannot view shape {Shape} ({ElementCount} elements) as {shape}.");
        return new Tensor(Storage, shape, Offset);
    }

    /// <summary>Rows [start, start+count) of the outermost dimension, sharing storage (no autograd record).</summary>
    public Tensor Slice(int start, int count)
    {
        if (Rank == 0 || start < 0 || count < 0 || start + count > Shape[0])
            throw new ArgumentOutOfRangeException(nameof(start), $"Slice({start}, {count}) is outside dimension 0 of shape {Shape}.");
        var dims = Shape.ToArray();
        long rowSize = dims[0] == 0 ? 0 : ElementCount / dims[0];
        dims[0] = count;
        return new Tensor(Storage, new Shape(dims), Offset + start * rowSize);
    }

    /// <summary>A new tensor with a copy of the elements, detached from the graph.</summary>
    public Tensor Clone()
    {
        var copy = Empty(Shape, DType, Device);
        Backend.Copy(this, copy);
        return copy;
    }

    /// <summary>A copy on another device (through host memory): same shape, same dtype, detached.</summary>
    public Tensor To(Device device) => DType switch
    {
        DType.Float32 => FromArray(ToArray<float>(), Shape, device),
        DType.Float64 => FromArray(ToArray<double>(), Shape, device),
        DType.Int64 => FromArray(ToArray<long>(), Shape, device),
        DType.Int32 => FromArray(ToArray<int>(), Shape, device),
        DType.UInt8 => FromArray(ToArray<byte>(), Shape, device),
        _ => throw new InvalidOperationException($"To({device}): unknown dtype {DType}."),
    };

    /// <summary>The same storage without GradFn or RequiresGrad (gradients stop here).</summary>
    public Tensor Detach() => new(Storage, Shape, Offset) { Name = Name };

    private Shape InferShape(int[] dims)
    {
        int unknown = Array.IndexOf(dims, -1);
        if (dims.Count(d => d == -1) > 1) throw new ArgumentException($"Cannot reshape {Shape} to [{string.Join(", ", dims)}]: at most one dimension may be -1.");
        long known = 1;
        for (int i = 0; i < dims.Length; i++) if (i != unknown) known *= dims[i];
        var result = (int[])dims.Clone();
        if (unknown >= 0)
        {
            if (known == 0 || ElementCount % known != 0)
                throw new ArgumentException($"Cannot reshape {Shape} to [{string.Join(", ", dims)}].");
            result[unknown] = (int)(ElementCount / known);
        }
        var shape = new Shape(result);
        if (shape.ElementCount != ElementCount)
            throw new ArgumentException($"Cannot reshape {Shape} ({ElementCount} elements) to {shape} ({shape.ElementCount} elements).");
        return shape;
    }

    internal void RequireDType(DType expected, string op)
    {
        if (DType != expected)
            throw new ArgumentException($"{op}: expected a {expected} tensor, got {DType} with shape {Shape}.");
    }

    public override string ToString() =>
        $"Tensor{(Name is null ? "" : " " + Name)} {Shape} {DType} on {Device}{(GradFn is null ? "" : " grad_fn=" + GradFn.OpName)}";
}
