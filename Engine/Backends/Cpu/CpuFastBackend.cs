namespace FerEngine.Backends.Cpu;

/// <summary>
/// The fast CPU path: float32 convolutions and GEMMs on a blocked, vectorised, multi-threaded
/// kernel, and fused elementwise passes. Float64 and everything not overridden run the reference.
/// </summary>
public class CpuFastBackend : CpuReferenceBackend
{
    public override string Name => "cpu";

    /// <summary>Worker threads for the parallel loops (default: all logical cores).</summary>
    public static int Threads { get; set; } = Environment.ProcessorCount;
}
