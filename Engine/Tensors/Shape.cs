namespace FerEngine.Tensors;

/// <summary>
/// The logical shape of a tensor, outermost dimension first (NCHW for images,
/// OIHW for convolution weights). Immutable; compared by value.
/// </summary>
public sealed class Shape : IEquatable<Shape>
{
    private readonly int[] _dims;

    public Shape(params int[] dims)
    {
        foreach (int d in dims)
            if (d < 0) throw new ArgumentException($"Shape {Format(dims)} has a negative dimension.");
        _dims = (int[])dims.Clone();
        long count = 1;
        foreach (int d in dims) count *= d;
        ElementCount = count;
    }

    public static readonly Shape Scalar = new();

    public int Rank => _dims.Length;
    public long ElementCount { get; }
    public int this[int axis] => _dims[axis < 0 ? axis + _dims.Length : axis];
    public ReadOnlySpan<int> Dims => _dims;
    public int[] ToArray() => (int[])_dims.Clone();

    public bool Equals(Shape? other) => other is not null && _dims.AsSpan().SequenceEqual(other._dims);
    public override bool Equals(object? obj) => Equals(obj as Shape);
    public override int GetHashCode()
    {
        var hash = new HashCode();
        foreach (int d in _dims) hash.Add(d);
        return hash.ToHashCode();
    }
    public static bool operator ==(Shape? a, Shape? b) => a is null ? b is null : a.Equals(b);
    public static bool operator !=(Shape? a, Shape? b) => !(a == b);

    public override string ToString() => Format(_dims);
    private static string Format(int[] dims) => "[" + string.Join(", ", dims) + "]";
}
