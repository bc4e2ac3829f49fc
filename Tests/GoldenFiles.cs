using FerEngine.Checkpoint;

namespace FerEngine.Tests;

/// <summary>The PyTorch goldens under Tests/Golden (copied next to the test assembly).</summary>
internal static class GoldenFiles
{
    public static SafetensorsContent Load(string name, Device device) =>
        SafetensorsFile.Load(Path.Combine(AppContext.BaseDirectory, "Golden", name), device);

    /// <summary>||a - b|| / ||b|| over all elements (the absolute norm when b is zero).</summary>
    public static double RelativeError(Tensor actual, Tensor expected)
    {
        double[] a = actual.ToDoubles(), b = expected.ToDoubles();
        Assert.Equal(b.Length, a.Length);
        double difference = 0, norm = 0;
        for (int i = 0; i < a.Length; i++) { difference += (a[i] - b[i]) * (a[i] - b[i]); norm += b[i] * b[i]; }
        return norm == 0 ? Math.Sqrt(difference) : Math.Sqrt(difference / norm);
    }

    /// <summary>The same values on another device and dtype.</summary>
    public static Tensor To(Tensor t, Device device, DType dtype) =>
        t.DType is DType.Int64 ? Tensor.FromArray(t.ToArray<long>(), t.Shape, device) : Tensor.FromDoubles(t.ToDoubles(), t.Shape, dtype, device);
}
