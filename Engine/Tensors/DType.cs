namespace FerEngine.Tensors;

/// <summary>The element types a tensor can hold.</summary>
public enum DType
{
    Float32,
    Float64,
    /// <summary>Raw image pixels.</summary>
    UInt8,
    Int32,
    /// <summary>Class labels (-1 = missing) and argmax results.</summary>
    Int64,
}

public static class DTypeInfo
{
    public static int SizeInBytes(this DType dtype) => dtype switch
    {
        DType.Float32 or DType.Int32 => 4,
        DType.Float64 or DType.Int64 => 8,
        DType.UInt8 => 1,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype)),
    };

    public static bool IsFloatingPoint(this DType dtype) => dtype is DType.Float32 or DType.Float64;

    /// <summary>The dtype of the CLR type T (float -> Float32, ...).</summary>
    public static DType Of<T>() where T : unmanaged =>
        typeof(T) == typeof(float) ? DType.Float32 :
        typeof(T) == typeof(double) ? DType.Float64 :
        typeof(T) == typeof(byte) ? DType.UInt8 :
        typeof(T) == typeof(int) ? DType.Int32 :
        typeof(T) == typeof(long) ? DType.Int64 :
        throw new NotSupportedException($"No tensor dtype for CLR type {typeof(T).Name}.");
}
