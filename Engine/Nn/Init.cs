namespace FerEngine.Nn;

/// <summary>
/// Parameter initialisation from Philox, so that a seed gives the same weights on every device.
/// Each parameter uses its own stream (the caller passes a distinct number per tensor).
/// </summary>
public static class Init
{
    /// <summary>He-normal (Kaiming, fan-in): N(0, 2 / fan_in), fan_in = product of all dims but the first.</summary>
    public static Tensor HeNormal(Shape shape, ulong seed, ulong stream, DType dtype, Device device)
    {
        long fanIn = shape.ElementCount / shape[0];
        return Tensor.Normal(shape, 0.0, Math.Sqrt(2.0 / fanIn), seed, stream, dtype, device);
    }
}

/// <summary>What every layer needs to create its tensors: device, dtype, seed and a stream counter.</summary>
public sealed class ParameterFactory(Device device, DType dtype = DType.Float32, ulong seed = 0)
{
    private ulong _nextStream;

    public Device Device { get; } = device;
    public DType DType { get; } = dtype;
    public ulong Seed { get; } = seed;

    public Tensor HeNormal(params int[] dims) => Init.HeNormal(new Shape(dims), Seed, _nextStream++, DType, Device);
    public Tensor Zeros(params int[] dims) => Tensor.Zeros(new Shape(dims), DType, Device);
    public Tensor Ones(params int[] dims) => Tensor.Ones(new Shape(dims), DType, Device);

    /// <summary>A fresh stream number (dropout layers take one each).</summary>
    public ulong NextStream() => _nextStream++;
}
