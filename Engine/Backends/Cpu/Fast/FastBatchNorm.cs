using System.Runtime.Intrinsics;

namespace FerEngine.Backends.Cpu.Fast;

/// <summary>
/// Batch norm over x viewed as [N, C, S] (S = H*W, or 1 for [N, C]), one channel per task in
/// training (its passes over the planes in memory order measured no faster). Sums
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
            double squares = 0;   // a second pass over the centred values: E[x^2] - E[x]^2 would cancel badly
            for (int i = 0; i < n; i++) squares += CentredSquares(source.Slice((i * c + ch) * spatial, spatial), (float)mean);
            double variance = squares / count, invStd = 1.0 / Math.Sqrt(variance + eps);
            float scale = (float)(gamma.Span[ch] * invStd), shift = (float)(beta.Span[ch] - mean * gamma.Span[ch] * invStd);
            var destination = y.Span;
            for (int i = 0; i < n; i++)
            {
                int at = (i * c + ch) * spatial;
                ScaleAndShift(source.Slice(at, spatial), scale, shift, destination.Slice(at, spatial));
            }
            savedMean.Span[ch] = (float)mean;
            savedInvStd.Span[ch] = (float)invStd;
            double unbiased = count > 1 ? squares / (count - 1) : variance;
            runningMean.Span[ch] = (float)((1 - momentum) * runningMean.Span[ch] + momentum * mean);
            runningVar.Span[ch] = (float)((1 - momentum) * runningVar.Span[ch] + momentum * unbiased);
        });
    }

    /// <summary>
    /// Evaluation mode: y = x scale + shift per channel, scale = gamma / sqrt(runningVar + eps) and
    /// shift = beta - runningMean scale, computed in double once per channel (the reference computes
    /// gamma (x - mean) invStd + beta per element in double: the same value, rounded differently).
    /// </summary>
    public static void ForwardInference(int n, int c, int spatial, ReadOnlyMemory<float> x, ReadOnlyMemory<float> gamma, ReadOnlyMemory<float> beta,
        ReadOnlyMemory<float> runningMean, ReadOnlyMemory<float> runningVar, double eps, Memory<float> y)
    {
        var (scale, shift) = (new float[c], new float[c]);
        for (int ch = 0; ch < c; ch++)
        {
            double invStd = 1.0 / Math.Sqrt(runningVar.Span[ch] + eps);
            scale[ch] = (float)(gamma.Span[ch] * invStd);
            shift[ch] = (float)(beta.Span[ch] - runningMean.Span[ch] * gamma.Span[ch] * invStd);
        }
        // The (n, c) planes in memory order, each thread a contiguous part: one channel at a time (its N
        // runs far apart) took twice as long for this single pass.
        Parallel1D.For((long)n * c, (first, planes) =>
        {
            for (int plane = first; plane < first + planes; plane++)
                ScaleAndShift(x.Span.Slice(plane * spatial, spatial), scale[plane % c], shift[plane % c], y.Span.Slice(plane * spatial, spatial));
        }, spatial);
    }

    /// <summary>
    /// dbeta = sum dy; dgamma = sum dy xhat; dx = gamma invStd / M (M dy - dbeta - xhat dgamma). With
    /// <paramref name="eluAlpha"/>, x is an ELU's output and dx continues through it: dx ELU'(u) = dx
    /// where x > 0, dx (x + alpha) elsewhere (<see cref="IBackend.BatchNormEluBackward"/>).
    /// </summary>
    public static void Backward(int n, int c, int spatial, ReadOnlyMemory<float> x, ReadOnlyMemory<float> dy, ReadOnlyMemory<float> gamma,
        ReadOnlyMemory<float> savedMean, ReadOnlyMemory<float> savedInvStd, Memory<float> dx, Memory<float> dgamma, Memory<float> dbeta, bool accumulate,
        float? eluAlpha = null)
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
                var (runDy, runDyCentred) = GradientSums(gradient.Slice(at, spatial), input.Slice(at, spatial), mean);
                sumDy += runDy;
                sumDyCentred += runDyCentred;
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
                InputGradient(gradient.Slice(at, spatial), input.Slice(at, spatial), mean, a, b, d, eluAlpha, destination.Slice(at, spatial));
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

    /// <summary>(sum g, sum g (v - mean)) over one run, in one pass, 16 lanes at a time.</summary>
    private static (double SumDy, double SumDyCentred) GradientSums(ReadOnlySpan<float> g, ReadOnlySpan<float> values, float mean)
    {
        int i = 0;
        Vector512<float> sumDy = Vector512<float>.Zero, sumDyCentred = Vector512<float>.Zero, m = Vector512.Create(mean);
        for (; i <= values.Length - 16; i += 16)
        {
            var gi = Vector512.Create<float>(g.Slice(i, 16));
            sumDy += gi;
            sumDyCentred = Vector512.FusedMultiplyAdd(gi, Vector512.Create<float>(values.Slice(i, 16)) - m, sumDyCentred);
        }
        double dy = Vector512.Sum(sumDy), dyCentred = Vector512.Sum(sumDyCentred);
        for (; i < values.Length; i++) { dy += g[i]; dyCentred += g[i] * (values[i] - mean); }
        return (dy, dyCentred);
    }

    /// <summary>o = v scale + shift over one run (a multiply, then an add, as the reference).</summary>
    private static void ScaleAndShift(ReadOnlySpan<float> v, float scale, float shift, Span<float> o)
    {
        int p = 0;
        for (; p <= v.Length - 16; p += 16)
            (Vector512.Create<float>(v.Slice(p, 16)) * Vector512.Create(scale) + Vector512.Create(shift)).CopyTo(o[p..]);
        for (; p < v.Length; p++) o[p] = v[p] * scale + shift;
    }

    /// <summary>
    /// o = a g + b (v - mean) + d over one run; with an ELU's alpha, times ELU'(u) (1 where v > 0,
    /// v + alpha elsewhere), as <see cref="FastElementwise.EluBackward"/> would multiply it.
    /// </summary>
    private static void InputGradient(ReadOnlySpan<float> g, ReadOnlySpan<float> v, float mean, float a, float b, float d, float? eluAlpha, Span<float> o)
    {
        int p = 0;
        bool elu = eluAlpha.HasValue;
        float alpha = eluAlpha ?? 0f;
        for (; p <= v.Length - 16; p += 16)
        {
            var values = Vector512.Create<float>(v.Slice(p, 16));
            var gradient = Vector512.Create(a) * Vector512.Create<float>(g.Slice(p, 16)) + Vector512.Create(b) * (values - Vector512.Create(mean)) + Vector512.Create(d);
            if (elu) gradient = Vector512.ConditionalSelect(Vector512.GreaterThan(values, Vector512<float>.Zero), gradient, gradient * (values + Vector512.Create(alpha)));
            gradient.CopyTo(o[p..]);
        }
        for (; p < v.Length; p++)
        {
            float gradient = a * g[p] + b * (v[p] - mean) + d;
            o[p] = !elu || v[p] > 0 ? gradient : gradient * (v[p] + alpha);
        }
    }
}
