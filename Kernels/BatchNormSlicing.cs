namespace FerEngine.Kernels;

/// <summary>
/// How BatchNormSliced.ptx cuts the channels of x [N, C, S] into blocks of work: channel c holds
/// N * S4 float4 units (S4 = S / 4), cut into <see cref="Slices"/> slices of
/// <see cref="UnitsPerSlice"/> units (the last one shorter); every (channel, slice) pair is one
/// 256-thread block, so a layer keeps the whole GPU busy however few channels it has.
/// </summary>
public readonly record struct BatchNormSlicing(int Batch, int Channels, int Spatial, int UnitsPerSlice = BatchNormSlicing.DefaultUnitsPerSlice)
{
    /// <summary>256 threads x 4 units: 16 KB of x per block, small enough that the second pass over it hits the cache.</summary>
    public const int DefaultUnitsPerSlice = 1024;

    /// <summary>The sliced kernels load float4 units: S must be a multiple of 4 (the tensors' 16-byte alignment is the launcher's check).</summary>
    public static bool Applies(int spatial) => spatial > 0 && spatial % 4 == 0;

    public int Spatial4 => Spatial / 4;
    public long UnitsPerChannel => (long)Batch * Spatial4;
    public int Slices => (int)((UnitsPerChannel + UnitsPerSlice - 1) / UnitsPerSlice);

    /// <summary>The launch count of the per-slice kernels: C * K blocks.</summary>
    public long Blocks => (long)Channels * Slices;

    /// <summary>Floats of the partials buffer [C, K, 2] the per-slice reductions write.</summary>
    public long PartialFloats => Blocks * 2;
}
