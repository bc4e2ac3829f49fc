using System.Runtime.Intrinsics;

namespace FerEngine.Backends.Cpu.Fast;

/// <summary>
/// Batch norm over x viewed as [N, C, S] (S = H*W, or 1 for [N, C]), one channel per task. Sums
/// are taken per contiguous S-run in float vectors and accumulated across runs in double, which
/// keeps them within 1e-4 of the float64 reference at the paper's sizes (N*S up to 73,728).
/// Formulas are those of <see cref="ReferenceLoops{T}"/>.
/// </summary>
public static class FastBatchNorm
{
    public static void ForwardTraining(int n, int c, int spatial, ReadOnlyMemory<float> x, ReadOnlyMemory<float> gamma, ReadOnlyMemory<float> beta,
        Memory<float> runningMean, Memory<float> runningVar, double momentum, double eps, Memory<float> y, Memory<float> savedMean, Memory<float> savedInvStd)
    {
        long count = (long)n * spatial;
        Parallel1D.ForEach(c, ch =>
        {
            var source = x.Span;
            double sum = 0;
            for (int i = 0; i < n; i++) sum += System.Numerics.Tensors.TensorPrimitives.Sum(source.Slice((i * c + ch) * spatial, spatial));
            double mean = sum / count;
            double squares = 0;
            for (int i = 0; i < n; i++) squares += CentredSquares(source.Slice((i * c + ch) * spatial, spatial), (float)mean);
            double variance = squares / count, invStd = 1.0 / Math.Sqrt(variance + eps);
            float scale = (float)(gamma.Span[ch] * invStd), shift = (float)(beta.Span[ch] - mean * gamma.Span[ch] * invStd);
            var destination = y.Span;
            for (int i = 0; i < n; i++)
            {
                int at = (i * c + ch) * spatial;
                var v = source.Slice(at, spatial);
                var o = destination.Slice(at, spatial);
                for (int p = 0; p < spatial; p++) o[p] = v[p] * scale + shift;
            }
            savedMean.Span[ch] = (float)mean;
            savedInvStd.Span[ch] = (float)invStd;
            double unbiased = count > 1 ? squares / (count - 1) : variance;
            runningMean.Span[ch] = (float)((1 - momentum) * runningMean.Span[ch] + momentum * mean);
            runningVar.Span[ch] = (float)((1 - momentum) * runningVar.Span[ch] + momentum * unbiased);
        });
    }

    /// <summary>dbeta = sum dy; dgamma = sum dy xhat; dx = gamma invStd / M (M dy - dbeta - xhat dgamma).</summary>
    public static void Backward(int n, int c, int spatial, ReadOnlyMemory<float> x, ReadOnlyMemory<float> dy, ReadOnlyMemory<float> gamma,
        ReadOnlyMemory<float> savedMean, ReadOnlyMemory<float> savedInvStd, Memory<float> dx, Memory<float> dgamma, Memory<float> dbeta, bool accumulate)
    {
        long count = (long)n * spatial;
        Parallel1D.ForEach(c, ch =>
        {
            var input = x.Span;
            var gradient = dy.Span;
            float mean = savedMean.Span[ch], invStd = savedInvStd.Span[ch];
            double sumDy = 0, sumDyCentred = 0;
            for (int i = 0; i < n; i++)
            {
                int at = (i * c + ch) * spatial;
                sumDy += System.Numerics.Tensors.TensorPrimitives.Sum(gradient.Slice(at, spatial));
                sumDyCentred += DotCentred(gradient.Slice(at, spatial), input.Slice(at, spatial), mean);
            }
            double sumDyXhat = sumDyCentred * invStd;
            // dx = a * dy + b * (x - mean) + d with a = gamma invStd, b = -gamma invStd^3 sumDyCentred / M, d = -gamma invStd sumDy / M
            float a = (float)(gamma.Span[ch] * invStd);
            float b = (float)(-gamma.Span[ch] * invStd * invStd * sumDyXhat / count);
            float d = (float)(-gamma.Span[ch] * invStd * sumDy / count);
            var destination = dx.Span;
            for (int i = 0; i < n; i++)
            {
                int at = (i * c + ch) * spatial;
                var g = gradient.Slice(at, spatial);
                var v = input.Slice(at, spatial);
                var o = destination.Slice(at, spatial);
                for (int p = 0; p < spatial; p++) o[p] = a * g[p] + b * (v[p] - mean) + d;
            }
            dgamma.Span[ch] = (float)(accumulate ? dgamma.Span[ch] + sumDyXhat : sumDyXhat);
            dbeta.Span[ch] = (float)(accumulate ? dbeta.Span[ch] + sumDy : sumDy);
        });
    }

    /// <summary>sum (v - mean)^2 over one run, 16 lanes at a time.</summary>
    private static double CentredSquares(ReadOnlySpan<float> values, float mean)
    {
        int i = 0;
        var acc = Vector512<float>.Zero;
        var m = Vector512.Create(mean);
        for (; i <= values.Length - 16; i += 16)
        {
            var d = Vector512.Create<float>(values.Slice(i, 16)) - m;
            acc = Vector512.FusedMultiplyAdd(d, d, acc);
        }
        double sum = Vector512.Sum(acc);
        for (; i < values.Length; i++) sum += (values[i] - mean) * (values[i] - mean);
        return sum;
    }

    /// <summary>sum g * (v - mean) over one run.</summary>
    private static double DotCentred(ReadOnlySpan<float> g, ReadOnlySpan<float> values, float mean)
    {
        int i = 0;
        var acc = Vector512<float>.Zero;
        var m = Vector512.Create(mean);
        for (; i <= values.Length - 16; i += 16)
            acc = Vector512.FusedMultiplyAdd(Vector512.Create<float>(g.Slice(i, 16)), Vector512.Create<float>(values.Slice(i, 16)) - m, acc);
        double sum = Vector512.Sum(acc);
        for (; i < values.Length; i++) sum += g[i] * (values[i] - mean);
        return sum;
    }
}
