namespace FerEngine.Kernels.Emulator;

/// <summary>Three extents (x, y, z), as in CUDA's dim3.</summary>
public readonly record struct Dim3(int X, int Y = 1, int Z = 1)
{
    public long Count => (long)X * Y * Z;
    public override string ToString() => $"({X},{Y},{Z})";
}

/// <summary>A launch shape: blocks per grid and threads per block.</summary>
public readonly record struct LaunchGrid(Dim3 Grid, Dim3 Block)
{
    public static LaunchGrid Linear(int blocks, int threadsPerBlock) => new(new Dim3(blocks), new Dim3(threadsPerBlock));

    /// <summary>Coordinates of the linear index <paramref name="index"/> inside <paramref name="extent"/> (x fastest).</summary>
    public static Dim3 Unflatten(long index, Dim3 extent) =>
        new((int)(index % extent.X), (int)(index / extent.X % extent.Y), (int)(index / ((long)extent.X * extent.Y)));
}
