using FerEngine.Backends.Cpu.Fast;

namespace FerEngine.Backends.Cpu;

/// <summary>
/// The fast CPU path: float32 convolutions and GEMMs on a blocked, packed, register-tiled SIMD
/// kernel (<see cref="Sgemm"/>) over im2col, parallel across images; vectorised, parallel
/// elementwise and per-channel passes. Float64 and everything not overridden run the reference.
/// </summary>
public class CpuFastBackend : CpuReferenceBackend
{
    public override string Name => "cpu";

    /// <summary>Worker threads for the parallel loops (default: all logical cores).</summary>
    public static int Threads { get; set; } = Environment.ProcessorCount;

    public override void Gemm(bool transposeA, bool transposeB, double alpha, Tensor a, Tensor b, double beta, Tensor c)
    {
        if (a.DType != DType.Float32) { base.Gemm(transposeA, transposeB, alpha, a, b, beta, c); return; }
        var (m, n, k) = GemmSizes(transposeA, transposeB, a, b, c);
        Sgemm.Multiply(transposeA, transposeB, m, n, k, (float)alpha, a.AsSpan<float>(), a.Shape[1], b.AsSpan<float>(), b.Shape[1],
            (float)beta, c.AsSpan<float>(), n);
    }

    public override void ConvolutionForward(Tensor x, Tensor w, Tensor? bias, Tensor y, int padding)
    {
        if (x.DType != DType.Float32) { base.ConvolutionForward(x, w, bias, y, padding); return; }
        FastConvolution.Forward(ConvShape.Of(x, w, padding), x.AsMemory<float>(), w.AsMemory<float>(),
            bias is null ? ReadOnlyMemory<float>.Empty : bias.AsMemory<float>(), y.AsMemory<float>());
    }

    public override void ConvolutionBackwardData(Tensor dy, Tensor w, Tensor dx, int padding)
    {
        if (dy.DType != DType.Float32) { base.ConvolutionBackwardData(dy, w, dx, padding); return; }
        FastConvolution.BackwardData(ConvShape.Of(dx, w, padding), dy.AsMemory<float>(), w.AsMemory<float>(), dx.AsMemory<float>());
    }

    public override void ConvolutionBackwardFilter(Tensor x, Tensor dy, Tensor dw, int padding, bool accumulate)
    {
        if (x.DType != DType.Float32) { base.ConvolutionBackwardFilter(x, dy, dw, padding, accumulate); return; }
        FastConvolution.BackwardFilter(ConvShape.Of(x, dw, padding), x.AsMemory<float>(), dy.AsMemory<float>(), dw.AsMemory<float>(), accumulate);
    }
}
