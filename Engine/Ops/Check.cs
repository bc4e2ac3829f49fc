namespace FerEngine.Ops;

/// <summary>Argument checks shared by the ops: each message names the op and the shapes involved.</summary>
internal static class Check
{
    public static void SameDeviceAndDType(string op, params Tensor[] tensors)
    {
        var first = tensors[0];
        foreach (var t in tensors)
        {
            if (t.Device != first.Device)
                throw new ArgumentException($"{op}: tensors are on different devices ({first.Device} and {t.Device}); move them to one device first.");
            if (t.DType != first.DType)
                throw new ArgumentException($"{op}: tensors have different dtypes ({first.DType} {first.Shape} and {t.DType} {t.Shape}).");
        }
    }

    public static void SameDevice(string op, params Tensor[] tensors)
    {
        foreach (var t in tensors)
            if (t.Device != tensors[0].Device)
                throw new ArgumentException($"{op}: tensors are on different devices ({tensors[0].Device} and {t.Device}); move them to one device first.");
    }

    public static void SameShape(string op, Tensor a, Tensor b)
    {
        if (a.Shape != b.Shape)
            throw new ArgumentException($"{op}: shapes {a.Shape} and {b.Shape} must be equal.");
    }

    public static void Rank(string op, Tensor t, string role, params int[] allowedRanks)
    {
        if (!allowedRanks.Contains(t.Rank))
            throw new ArgumentException($"{op}: {role} must have rank {string.Join(" or ", allowedRanks)}; got shape {t.Shape}.");
    }

    public static void FloatingPoint(string op, Tensor t)
    {
        if (!t.DType.IsFloatingPoint())
            throw new ArgumentException($"{op}: needs a float tensor; got {t.DType} with shape {t.Shape}.");
    }

    public static void That(bool condition, string op, string message)
    {
        if (!condition) throw new ArgumentException($"{op}: {message}");
    }
}
