using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;
using FerEngine.Backends.Cpu.Fast;

namespace FerEngine.Backends.Cpu;

/// <summary>
/// The fast CPU path, float32: convolutions by Winograd (3x3, and 5x5 from 32 input channels), by
/// direct kernels for one to three input channels (conv1), otherwise on a blocked, packed,
/// register-tiled SIMD GEMM (<see cref="Sgemm"/>) over an im2col read in place (<see cref="FastConvolution"/>);
/// vectorised, parallel elementwise and per-channel passes. Float64 and everything not overridden run the reference.
/// </summary>
public class CpuFastBackend : CpuReferenceBackend
{
    public override string Name => "cpu";

    /// <summary>Threads of the parallel loops, the calling thread included (<see cref="ComputeThreads"/>; default: all logical cores).</summary>
    public static int Threads { get; set; } = Environment.ProcessorCount;

    public override void Gemm(bool transposeA, bool transposeB, double alpha, Tensor a, Tensor b, double beta, Tensor c)
    {
        if (a.DType != DType.Float32) { base.Gemm(transposeA, transposeB, alpha, a, b, beta, c); return; }
        var (m, n, k) = GemmSizes(transposeA, transposeB, a, b, c);
        var (am, bm, cm) = (a.AsMemory<float>(), b.AsMemory<float>(), c.AsMemory<float>());
        int lda = a.Shape[1], ldb = b.Shape[1];
        if (m == 1 && !transposeA && transposeB) { RowTimesTransposed(n, k, (float)alpha, am, bm, ldb, (float)beta, cm); return; }
        // A big product splits C's columns over the threads (whole NR panels): every element is the
        // same sum in the same order either way, so the result does not depend on the thread count.
        int blocks = (long)m * n * k >= ParallelGemmWork ? Math.Max(1, Math.Min(Threads, n / Sgemm.NR)) : 1;
        if (blocks == 1) Columns(0);
        else ComputeThreads.Run(blocks, Columns);

        void Columns(int block)
        {
            int panels = n / Sgemm.NR;
            int first = block * panels / blocks * Sgemm.NR, last = block == blocks - 1 ? n : (block + 1) * panels / blocks * Sgemm.NR;
            // Columns [first, last) of op(B): columns of B as stored, or rows of B when it is transposed.
            var bColumns = bm.Span[(transposeB ? first * ldb : first)..];
            Sgemm.Multiply(transposeA, transposeB, m, last - first, k, (float)alpha, am.Span, lda, bColumns, ldb,
                (float)beta, cm.Span[first..], n);
        }
    }

    /// <summary>
    /// c [1, n] = alpha a [1, k] x b^T + beta c, b [n, k]: one image through the fully-connected layer or a head
    /// (as `fer predict` on one face). n dot products with b's rows, read in place: the GEMM would first pack
    /// all of b (4.7 MB for the fully-connected layer) to multiply it by a single row.
    /// </summary>
    private static void RowTimesTransposed(int n, int k, float alpha, ReadOnlyMemory<float> a, ReadOnlyMemory<float> b, int ldb, float beta, Memory<float> c) =>
        Parallel1D.For(n, (first, count) =>
        {
            var row = a.Span[..k];
            var output = c.Span;
            for (int j = first; j < first + count; j++)
            {
                float product = alpha * TensorPrimitives.Dot(row, b.Span.Slice(j * ldb, k));
                output[j] = beta == 0 ? product : product + beta * output[j];   // beta 0 never reads C (it may hold NaN)
            }
        }, itemSize: k);

    /// <summary>Multiply-adds from which a GEMM is split over the threads (the fc layer's are 38 M at batch 32).</summary>
    private const long ParallelGemmWork = 1 << 22;

    public override void ConvolutionForward(Tensor x, Tensor w, Tensor? bias, Tensor y, int padding)
    {
        if (x.DType != DType.Float32) { base.ConvolutionForward(x, w, bias, y, padding); return; }
        FastConvolution.Forward(ConvShape.Of(x, w, padding), x.AsMemory<float>(), w.AsMemory<float>(),
            bias is null ? ReadOnlyMemory<float>.Empty : bias.AsMemory<float>(), y.AsMemory<float>());
    }

    public override void ConvolutionBackwardData(Tensor dy, Tensor w, Tensor dx, int padding)
    {
        // The fast path is a forward convolution padded by K - 1 - padding, so padding >= K (rare) takes the reference loops.
        if (dy.DType != DType.Float32 || padding >= w.Shape[2]) { base.ConvolutionBackwardData(dy, w, dx, padding); return; }
        FastConvolution.BackwardData(ConvShape.Of(dx, w, padding), dy.AsMemory<float>(), w.AsMemory<float>(), dx.AsMemory<float>());
    }

    public override void ConvolutionBackwardFilter(Tensor x, Tensor dy, Tensor dw, int padding, bool accumulate)
    {
        if (x.DType != DType.Float32) { base.ConvolutionBackwardFilter(x, dy, dw, padding, accumulate); return; }
        FastConvolution.BackwardFilter(ConvShape.Of(x, dw, padding), x.AsMemory<float>(), dy.AsMemory<float>(), dw.AsMemory<float>(), accumulate);
    }

    public override void EluForward(Tensor x, Tensor? bias, Tensor y, double alpha)
    {
        if (x.DType != DType.Float32) { base.EluForward(x, bias, y, alpha); return; }
        if (bias is null) { FastElementwise.EluForward(x.AsMemory<float>(), y.AsMemory<float>(), (float)alpha); return; }
        var (_, channels, spatial) = ChannelLayout.Of(x);
        FastElementwise.BiasEluForward(x.AsMemory<float>(), bias.AsMemory<float>(), y.AsMemory<float>(), channels, spatial, (float)alpha);
    }

    public override void EluBackward(Tensor y, Tensor dy, Tensor dx, double alpha)
    {
        if (y.DType != DType.Float32) { base.EluBackward(y, dy, dx, alpha); return; }
        FastElementwise.EluBackward(y.AsMemory<float>(), dy.AsMemory<float>(), dx.AsMemory<float>(), (float)alpha);
    }

    public override void BatchNormForwardTraining(Tensor x, Tensor gamma, Tensor beta, Tensor runningMean, Tensor runningVar,
        double momentum, double eps, Tensor y, Tensor savedMean, Tensor savedInvStd)
    {
        if (x.DType != DType.Float32) { base.BatchNormForwardTraining(x, gamma, beta, runningMean, runningVar, momentum, eps, y, savedMean, savedInvStd); return; }
        var (n, c, s) = ChannelLayout.Of(x);
        FastBatchNorm.ForwardTraining(n, c, s, x.AsMemory<float>(), gamma.AsMemory<float>(), beta.AsMemory<float>(), runningMean.AsMemory<float>(),
            runningVar.AsMemory<float>(), momentum, eps, y.AsMemory<float>(), savedMean.AsMemory<float>(), savedInvStd.AsMemory<float>());
    }

    public override void BatchNormForwardInference(Tensor x, Tensor gamma, Tensor beta, Tensor runningMean, Tensor runningVar, double eps, Tensor y)
    {
        if (x.DType != DType.Float32) { base.BatchNormForwardInference(x, gamma, beta, runningMean, runningVar, eps, y); return; }
        var (n, c, s) = ChannelLayout.Of(x);
        FastBatchNorm.ForwardInference(n, c, s, x.AsMemory<float>(), gamma.AsMemory<float>(), beta.AsMemory<float>(), runningMean.AsMemory<float>(),
            runningVar.AsMemory<float>(), eps, y.AsMemory<float>());
    }

    public override void BatchNormBackward(Tensor x, Tensor dy, Tensor gamma, Tensor savedMean, Tensor savedInvStd,
        Tensor dx, Tensor dgamma, Tensor dbeta, bool accumulate)
    {
        if (x.DType != DType.Float32) { base.BatchNormBackward(x, dy, gamma, savedMean, savedInvStd, dx, dgamma, dbeta, accumulate); return; }
        var (n, c, s) = ChannelLayout.Of(x);
        FastBatchNorm.Backward(n, c, s, x.AsMemory<float>(), dy.AsMemory<float>(), gamma.AsMemory<float>(), savedMean.AsMemory<float>(),
            savedInvStd.AsMemory<float>(), dx.AsMemory<float>(), dgamma.AsMemory<float>(), dbeta.AsMemory<float>(), accumulate);
    }

    public override void BatchNormEluBackward(Tensor x, Tensor dy, Tensor gamma, Tensor savedMean, Tensor savedInvStd, double alpha,
        Tensor du, Tensor dgamma, Tensor dbeta)
    {
        if (x.DType != DType.Float32) { base.BatchNormEluBackward(x, dy, gamma, savedMean, savedInvStd, alpha, du, dgamma, dbeta); return; }
        var (n, c, s) = ChannelLayout.Of(x);
        FastBatchNorm.Backward(n, c, s, x.AsMemory<float>(), dy.AsMemory<float>(), gamma.AsMemory<float>(), savedMean.AsMemory<float>(),
            savedInvStd.AsMemory<float>(), du.AsMemory<float>(), dgamma.AsMemory<float>(), dbeta.AsMemory<float>(), accumulate: false, eluAlpha: (float)alpha);
    }

    public override void MaxPool2x2Forward(Tensor x, Tensor y, Tensor argmax)
    {
        if (x.DType != DType.Float32) { base.MaxPool2x2Forward(x, y, argmax); return; }
        FastMaxPool.Forward(x.Shape[0] * x.Shape[1], x.Shape[2], x.Shape[3], x.AsMemory<float>(), y.AsMemory<float>(), argmax.AsMemory<int>());
    }

    public override void MaxPool2x2Backward(Tensor dy, Tensor argmax, Tensor dx)
    {
        if (dy.DType != DType.Float32) { base.MaxPool2x2Backward(dy, argmax, dx); return; }
        FastMaxPool.Backward(dx.Shape[0] * dx.Shape[1], dx.Shape[2], dx.Shape[3], dy.AsMemory<float>(), argmax.AsMemory<int>(), dx.AsMemory<float>());
    }

    public override void DropoutForward(Tensor x, double p, ulong seed, ulong stream, Tensor step, Tensor y, Tensor mask)
    {
        if (x.DType != DType.Float32) { base.DropoutForward(x, p, seed, stream, step, y, mask); return; }
        FastElementwise.DropoutForward(x.AsMemory<float>(), (float)p, seed, stream + (ulong)step.AsSpan<long>()[0], y.AsMemory<float>(), mask.AsMemory<byte>());
    }

    public override void DropoutBackward(Tensor dy, Tensor mask, double p, Tensor dx)
    {
        if (dy.DType != DType.Float32) { base.DropoutBackward(dy, mask, p, dx); return; }
        FastElementwise.DropoutBackward(dy.AsMemory<float>(), mask.AsMemory<byte>(), (float)p, dx.AsMemory<float>());
    }

    public override void AdamUpdate(IReadOnlyList<AdamTensors> tensors, AdamHyperparameters h, Tensor stepScalars)
    {
        if (stepScalars.DType != DType.Float32) { base.AdamUpdate(tensors, h, stepScalars); return; }
        foreach (var (p, g, m, v) in tensors)
            FastAdam.Update(p.AsMemory<float>(), g.AsMemory<float>(), m.AsMemory<float>(), v.AsMemory<float>(), h, stepScalars.AsSpan<float>());
    }

    public override void Add(Tensor a, Tensor b, Tensor y)
    {
        if (a.DType != DType.Float32) { base.Add(a, b, y); return; }
        TensorPrimitives.Add(a.AsSpan<float>(), b.AsSpan<float>(), y.AsSpan<float>());
    }

    /// <summary>y[n, c, ...] += bias[c], one vectorised add per row of [N, C] or per (n, c) plane.</summary>
    public override void AddBias(Tensor y, Tensor bias)
    {
        if (y.DType != DType.Float32) { base.AddBias(y, bias); return; }
        var (n, c, s) = ChannelLayout.Of(y);
        Span<float> values = y.AsSpan<float>();
        ReadOnlySpan<float> b = bias.AsSpan<float>();
        for (int i = 0; i < n; i++)
        {
            if (s == 1) { TensorPrimitives.Add(values.Slice(i * c, c), b, values.Slice(i * c, c)); continue; }
            for (int ch = 0; ch < c; ch++)
                TensorPrimitives.Add(values.Slice((i * c + ch) * s, s), b[ch], values.Slice((i * c + ch) * s, s));
        }
    }

    /// <summary>The reference's loop on the float32 values themselves, without its float64 copy of x.</summary>
    public override void Argmax(Tensor x, Tensor indices)
    {
        if (x.DType != DType.Float32) { base.Argmax(x, indices); return; }
        int classes = x.Shape[1];
        ReadOnlySpan<float> values = x.AsSpan<float>();
        var result = indices.AsSpan<long>();
        for (int r = 0; r < result.Length; r++)
        {
            var row = values.Slice(r * classes, classes);
            int best = 0;
            for (int k = 1; k < classes; k++)
                if (row[k] > row[best]) best = k;   // first wins; NaN never wins (its comparisons are false)
            result[r] = best;
        }
    }

    public override void BiasBackward(Tensor dy, Tensor dbias, bool accumulate)
    {
        if (dy.DType != DType.Float32) { base.BiasBackward(dy, dbias, accumulate); return; }
        var (n, c, s) = ChannelLayout.Of(dy);
        var gradient = dy.AsMemory<float>();
        var result = dbias.AsMemory<float>();
        Parallel1D.ForEach(c, ch =>
        {
            double sum = 0; // per-run float sums, accumulated in double
            for (int i = 0; i < n; i++) sum += TensorPrimitives.Sum(gradient.Span.Slice((i * c + ch) * s, s));
            result.Span[ch] = (float)(accumulate ? result.Span[ch] + sum : sum);
        });
    }
}
