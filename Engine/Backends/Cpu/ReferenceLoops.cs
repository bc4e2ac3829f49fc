using System.Numerics;
using FerEngine.Random;

namespace FerEngine.Backends.Cpu;

/// <summary>
/// The reference implementation of every float primitive: plain loops over NCHW / OIHW memory,
/// written to be checked by eye, generic over float and double. Sums are accumulated in double.
/// Every faster implementation (the fast CPU path, PTX kernels, cuDNN, cuBLAS) is tested against
/// these loops.
/// </summary>
internal static class ReferenceLoops<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private static T Cast(double v) => T.CreateChecked(v);
    private static double D(T v) => double.CreateChecked(v);

    // ---- GEMM ---------------------------------------------------------------------------------

    /// <summary>C[M,N] = alpha * op(A)[M,K] * op(B)[K,N] + beta * C, all row-major.</summary>
    public static void Gemm(bool transposeA, bool transposeB, int m, int n, int k, double alpha,
        ReadOnlySpan<T> a, ReadOnlySpan<T> b, double beta, Span<T> c)
    {
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double sum = 0;
                for (int p = 0; p < k; p++)
                {
                    T aip = transposeA ? a[p * m + i] : a[i * k + p];
                    T bpj = transposeB ? b[j * k + p] : b[p * n + j];
                    sum += D(aip) * D(bpj);
                }
                double previous = beta == 0 ? 0 : beta * D(c[i * n + j]); // beta 0 ignores NaN in C, like BLAS
                c[i * n + j] = Cast(alpha * sum + previous);
            }
    }

    // ---- convolution (NCHW, OIHW, stride 1) -----------------------------------------------------

    /// <summary>y[n,co,oy,ox] = bias[co] + sum over ci, ky, kx of x[n,ci,oy+ky-p,ox+kx-p] * w[co,ci,ky,kx] (p: the padding; x is 0 outside the image).</summary>
    public static void ConvolutionForward(ConvShape s, ReadOnlySpan<T> x, ReadOnlySpan<T> w, ReadOnlySpan<T> bias, Span<T> y)
    {
        for (int n = 0; n < s.N; n++)
            for (int co = 0; co < s.Cout; co++)
                for (int oy = 0; oy < s.Ho; oy++)
                    for (int ox = 0; ox < s.Wo; ox++)
                    {
                        double sum = bias.IsEmpty ? 0 : D(bias[co]);
                        for (int ci = 0; ci < s.Cin; ci++)
                            for (int ky = 0; ky < s.K; ky++)
                                for (int kx = 0; kx < s.K; kx++)
                                {
                                    int iy = oy + ky - s.Padding, ix = ox + kx - s.Padding;
                                    if (iy < 0 || iy >= s.H || ix < 0 || ix >= s.W) continue; // zero padding
                                    sum += D(x[s.XIndex(n, ci, iy, ix)]) * D(w[s.WIndex(co, ci, ky, kx)]);
                                }
                        y[s.YIndex(n, co, oy, ox)] = Cast(sum);
                    }
    }

    /// <summary>dx[n,ci,iy,ix] = sum over co, ky, kx of dy[n,co,iy-ky+p,ix-kx+p] * w[co,ci,ky,kx].</summary>
    public static void ConvolutionBackwardData(ConvShape s, ReadOnlySpan<T> dy, ReadOnlySpan<T> w, Span<T> dx)
    {
        for (int n = 0; n < s.N; n++)
            for (int ci = 0; ci < s.Cin; ci++)
                for (int iy = 0; iy < s.H; iy++)
                    for (int ix = 0; ix < s.W; ix++)
                    {
                        double sum = 0;
                        for (int co = 0; co < s.Cout; co++)
                            for (int ky = 0; ky < s.K; ky++)
                                for (int kx = 0; kx < s.K; kx++)
                                {
                                    int oy = iy - ky + s.Padding, ox = ix - kx + s.Padding;
                                    if (oy < 0 || oy >= s.Ho || ox < 0 || ox >= s.Wo) continue;
                                    sum += D(dy[s.YIndex(n, co, oy, ox)]) * D(w[s.WIndex(co, ci, ky, kx)]);
                                }
                        dx[s.XIndex(n, ci, iy, ix)] = Cast(sum);
                    }
    }

    /// <summary>dw[co,ci,ky,kx] (+)= sum over n, oy, ox of x[n,ci,oy+ky-p,ox+kx-p] * dy[n,co,oy,ox].</summary>
    public static void ConvolutionBackwardFilter(ConvShape s, ReadOnlySpan<T> x, ReadOnlySpan<T> dy, Span<T> dw, bool accumulate)
    {
        for (int co = 0; co < s.Cout; co++)
            for (int ci = 0; ci < s.Cin; ci++)
                for (int ky = 0; ky < s.K; ky++)
                    for (int kx = 0; kx < s.K; kx++)
                    {
                        double sum = 0;
                        for (int n = 0; n < s.N; n++)
                            for (int oy = 0; oy < s.Ho; oy++)
                                for (int ox = 0; ox < s.Wo; ox++)
                                {
                                    int iy = oy + ky - s.Padding, ix = ox + kx - s.Padding;
                                    if (iy < 0 || iy >= s.H || ix < 0 || ix >= s.W) continue;
                                    sum += D(x[s.XIndex(n, ci, iy, ix)]) * D(dy[s.YIndex(n, co, oy, ox)]);
                                }
                        int at = s.WIndex(co, ci, ky, kx);
                        dw[at] = Cast(accumulate ? D(dw[at]) + sum : sum);
                    }
    }

    // ---- per-channel helpers: x viewed as [N, C, S] with S = H*W (or 1) ------------------------------

    public static void AddBias(int n, int c, int spatial, Span<T> y, ReadOnlySpan<T> bias)
    {
        for (int i = 0; i < n; i++)
            for (int ch = 0; ch < c; ch++)
                for (int p = 0; p < spatial; p++)
                    y[(i * c + ch) * spatial + p] += bias[ch];
    }

    public static void BiasBackward(int n, int c, int spatial, ReadOnlySpan<T> dy, Span<T> dbias, bool accumulate)
    {
        for (int ch = 0; ch < c; ch++)
        {
            double sum = 0;
            for (int i = 0; i < n; i++)
                for (int p = 0; p < spatial; p++)
                    sum += D(dy[(i * c + ch) * spatial + p]);
            dbias[ch] = Cast(accumulate ? D(dbias[ch]) + sum : sum);
        }
    }

    // ---- batch norm -------------------------------------------------------------------------------

    public static void BatchNormForwardTraining(int n, int c, int spatial, ReadOnlySpan<T> x, ReadOnlySpan<T> gamma,
        ReadOnlySpan<T> beta, Span<T> runningMean, Span<T> runningVar, double momentum, double eps,
        Span<T> y, Span<T> savedMean, Span<T> savedInvStd)
    {
        long count = (long)n * spatial;
        for (int ch = 0; ch < c; ch++)
        {
            double sum = 0;
            for (int i = 0; i < n; i++)
                for (int p = 0; p < spatial; p++)
                    sum += D(x[(i * c + ch) * spatial + p]);
            double mean = sum / count;
            double squares = 0;
            for (int i = 0; i < n; i++)
                for (int p = 0; p < spatial; p++)
                {
                    double centred = D(x[(i * c + ch) * spatial + p]) - mean;
                    squares += centred * centred;
                }
            double variance = squares / count;                 // biased: used to normalise
            double invStd = 1.0 / Math.Sqrt(variance + eps);
            for (int i = 0; i < n; i++)
                for (int p = 0; p < spatial; p++)
                {
                    int at = (i * c + ch) * spatial + p;
                    y[at] = Cast(D(gamma[ch]) * (D(x[at]) - mean) * invStd + D(beta[ch]));
                }
            savedMean[ch] = Cast(mean);
            savedInvStd[ch] = Cast(invStd);
            double unbiased = count > 1 ? squares / (count - 1) : variance; // unbiased: running estimate (one value has none: keep the biased 0)
            runningMean[ch] = Cast((1 - momentum) * D(runningMean[ch]) + momentum * mean);
            runningVar[ch] = Cast((1 - momentum) * D(runningVar[ch]) + momentum * unbiased);
        }
    }

    public static void BatchNormForwardInference(int n, int c, int spatial, ReadOnlySpan<T> x, ReadOnlySpan<T> gamma,
        ReadOnlySpan<T> beta, ReadOnlySpan<T> runningMean, ReadOnlySpan<T> runningVar, double eps, Span<T> y)
    {
        for (int i = 0; i < n; i++)
            for (int ch = 0; ch < c; ch++)
            {
                double invStd = 1.0 / Math.Sqrt(D(runningVar[ch]) + eps);
                for (int p = 0; p < spatial; p++)
                {
                    int at = (i * c + ch) * spatial + p;
                    y[at] = Cast(D(gamma[ch]) * (D(x[at]) - D(runningMean[ch])) * invStd + D(beta[ch]));
                }
            }
    }

    /// <summary>
    /// With xhat = (x - mean) * invStd and M = N * S values per channel:
    /// dbeta = sum dy; dgamma = sum dy * xhat; dx = gamma * invStd / M * (M * dy - dbeta - xhat * dgamma).
    /// </summary>
    public static void BatchNormBackward(int n, int c, int spatial, ReadOnlySpan<T> x, ReadOnlySpan<T> dy,
        ReadOnlySpan<T> gamma, ReadOnlySpan<T> savedMean, ReadOnlySpan<T> savedInvStd,
        Span<T> dx, Span<T> dgamma, Span<T> dbeta, bool accumulate)
    {
        long count = (long)n * spatial;
        for (int ch = 0; ch < c; ch++)
        {
            double mean = D(savedMean[ch]), invStd = D(savedInvStd[ch]);
            double sumDy = 0, sumDyXhat = 0;
            for (int i = 0; i < n; i++)
                for (int p = 0; p < spatial; p++)
                {
                    int at = (i * c + ch) * spatial + p;
                    sumDy += D(dy[at]);
                    sumDyXhat += D(dy[at]) * (D(x[at]) - mean) * invStd;
                }
            double scale = D(gamma[ch]) * invStd / count;
            for (int i = 0; i < n; i++)
                for (int p = 0; p < spatial; p++)
                {
                    int at = (i * c + ch) * spatial + p;
                    double xhat = (D(x[at]) - mean) * invStd;
                    dx[at] = Cast(scale * (count * D(dy[at]) - sumDy - xhat * sumDyXhat));
                }
            dgamma[ch] = Cast(accumulate ? D(dgamma[ch]) + sumDyXhat : sumDyXhat);
            dbeta[ch] = Cast(accumulate ? D(dbeta[ch]) + sumDy : sumDy);
        }
    }

    // ---- pooling -----------------------------------------------------------------------------------

    public static void MaxPool2x2Forward(int planes, int h, int w, ReadOnlySpan<T> x, Span<T> y, Span<int> argmax)
    {
        int ho = h / 2, wo = w / 2;
        for (int plane = 0; plane < planes; plane++)
            for (int oy = 0; oy < ho; oy++)
                for (int ox = 0; ox < wo; ox++)
                {
                    int best = 0;
                    T bestValue = x[(plane * h + 2 * oy) * w + 2 * ox];
                    for (int window = 1; window < 4; window++)
                    {
                        T v = x[(plane * h + 2 * oy + window / 2) * w + 2 * ox + window % 2];
                        if (v > bestValue || T.IsNaN(v) && !T.IsNaN(bestValue)) { best = window; bestValue = v; }
                    }
                    int at = (plane * ho + oy) * wo + ox;
                    y[at] = bestValue;
                    argmax[at] = best;
                }
    }

    public static void MaxPool2x2Backward(int planes, int h, int w, ReadOnlySpan<T> dy, ReadOnlySpan<int> argmax, Span<T> dx)
    {
        int ho = h / 2, wo = w / 2;
        dx.Clear();
        for (int plane = 0; plane < planes; plane++)
            for (int oy = 0; oy < ho; oy++)
                for (int ox = 0; ox < wo; ox++)
                {
                    int at = (plane * ho + oy) * wo + ox;
                    int window = argmax[at];
                    dx[(plane * h + 2 * oy + window / 2) * w + 2 * ox + window % 2] = dy[at];
                }
    }

    // ---- loss ---------------------------------------------------------------------------------------

    /// <summary>Returns the mean loss over labelled rows; fills dlogits (zero rows where unlabelled).</summary>
    public static double SoftmaxCrossEntropy(int rows, int classes, ReadOnlySpan<T> logits, ReadOnlySpan<long> labels, Span<T> dlogits)
    {
        int labelled = 0;
        for (int r = 0; r < rows; r++)
        {
            if (labels[r] >= classes)
                throw new ArgumentException($"softmax_cross_entropy: label {labels[r]} in row {r} is out of range for {classes} classes.");
            if (labels[r] >= 0) labelled++;
        }
        dlogits.Clear();
        if (labelled == 0) return 0.0;
        double total = 0;
        for (int r = 0; r < rows; r++)
        {
            if (labels[r] < 0) continue;
            var row = logits.Slice(r * classes, classes);
            double max = double.NegativeInfinity;
            for (int k = 0; k < classes; k++) max = Math.Max(max, D(row[k]));
            double sumExp = 0;
            for (int k = 0; k < classes; k++) sumExp += Math.Exp(D(row[k]) - max);
            double logSumExp = max + Math.Log(sumExp);
            total += logSumExp - D(row[(int)labels[r]]);
            for (int k = 0; k < classes; k++)
            {
                double softmax = Math.Exp(D(row[k]) - logSumExp);
                double target = k == labels[r] ? 1 : 0;
                dlogits[r * classes + k] = Cast((softmax - target) / labelled);
            }
        }
        return total / labelled;
    }

    // ---- optimisers ------------------------------------------------------------------------------------

    /// <summary>
    /// PyTorch's single-tensor Adam (torch.optim.Adam, foreach off, the CPU default), operation for
    /// operation in float32 so that results agree to the last bit:
    ///   g = grad.add(p, alpha=wd)              (ATen's vectorised add is a fused multiply-add)
    ///   m = m.mul(b1).add(g, alpha=1-b1)       (fused)
    ///   v = v.mul(b2).addcmul(g, g, value=1-b2)   = v*b2 + ((1-b2)*g)*g
    ///   denom = sqrt(v) / sqrt(1 - b2^t) + eps
    ///   p = p.addcdiv(m, denom, value=-lr/(1 - b1^t)) = p + (value*m)/denom
    /// stepScalars = { -lr / (1 - b1^t), sqrt(1 - b2^t) } (<see cref="AdamHyperparameters.StepScalars"/>, rounded to T).
    /// </summary>
    public static void AdamUpdate(Span<T> p, ReadOnlySpan<T> grad, Span<T> m, Span<T> v, AdamHyperparameters h, ReadOnlySpan<T> stepScalars)
    {
        T beta1 = Cast(h.Beta1), beta2 = Cast(h.Beta2), weightDecay = Cast(h.WeightDecay), eps = Cast(h.Epsilon);
        T negativeStepSize = stepScalars[0], biasCorrection2Sqrt = stepScalars[1];
        T oneMinusBeta1 = Cast(1 - h.Beta1), oneMinusBeta2 = Cast(1 - h.Beta2);
        for (int i = 0; i < p.Length; i++)
        {
            T g = h.WeightDecay == 0 ? grad[i] : T.FusedMultiplyAdd(weightDecay, p[i], grad[i]);
            m[i] = T.FusedMultiplyAdd(oneMinusBeta1, g, m[i] * beta1);
            v[i] = v[i] * beta2 + oneMinusBeta2 * g * g;
            T denominator = T.Sqrt(v[i]) / biasCorrection2Sqrt + eps;
            p[i] = p[i] + negativeStepSize * m[i] / denominator;
        }
    }

    /// <summary>pixels [N, C, H, W] bytes -> x = pixel / 255, each image shifted and flipped as the augmentation decides.</summary>
    public static void ImageBatch(Shape shape, ReadOnlySpan<byte> pixels, ImageAugmentation? augmentation, Span<T> x)
    {
        int n = shape[0], size = shape[1] * shape[2] * shape[3];
        for (int i = 0; i < n; i++)
        {
            var choice = augmentation?.For(i) ?? ImageAugmentation.Choice.None;
            AugmentImage(pixels.Slice(i * size, size), shape[1], shape[2], shape[3], choice, x.Slice(i * size, size));
        }
    }

    /// <summary>One image (C x H x W bytes) -> floats / 255, shifted by (dx, dy) with replicate padding and optionally flipped.</summary>
    public static void AugmentImage(ReadOnlySpan<byte> image, int channels, int height, int width, ImageAugmentation.Choice choice, Span<T> destination)
    {
        T scale = T.CreateChecked(255);
        for (int c = 0; c < channels; c++)
            for (int y = 0; y < height; y++)
            {
                int sourceY = Math.Clamp(y + choice.Dy, 0, height - 1);
                for (int x = 0; x < width; x++)
                {
                    int flipped = choice.Flip ? width - 1 - x : x;
                    int sourceX = Math.Clamp(flipped + choice.Dx, 0, width - 1);
                    destination[(c * height + y) * width + x] = T.CreateChecked(image[(c * height + sourceY) * width + sourceX]) / scale;
                }
            }
    }

    /// <summary>
    /// PyTorch's SGD (no dampening, not Nesterov), operation for operation: g = grad.add(p, alpha=wd);
    /// buf = step 1 ? g : buf.mul(mu).add(g); p = p.add(buf, alpha=-lr) (fused multiply-adds, as ATen's add).
    /// </summary>
    public static void SgdUpdate(Span<T> p, ReadOnlySpan<T> grad, Span<T> buffer, double lr, double momentum, double weightDecay, int step)
    {
        T negativeLearningRate = Cast(-lr), mu = Cast(momentum), wd = Cast(weightDecay);
        for (int i = 0; i < p.Length; i++)
        {
            T g = weightDecay == 0 ? grad[i] : T.FusedMultiplyAdd(wd, p[i], grad[i]);
            if (momentum != 0)
            {
                buffer[i] = step == 1 ? g : mu * buffer[i] + g;
                g = buffer[i];
            }
            p[i] = T.FusedMultiplyAdd(negativeLearningRate, g, p[i]);
        }
    }
}

/// <summary>The sizes of one stride-1 convolution, and NCHW / OIHW index helpers.</summary>
public readonly record struct ConvShape(int N, int Cin, int H, int W, int Cout, int K, int Padding)
{
    public int Ho => H + 2 * Padding - K + 1;
    public int Wo => W + 2 * Padding - K + 1;
    public int XIndex(int n, int c, int y, int x) => ((n * Cin + c) * H + y) * W + x;
    public int YIndex(int n, int c, int y, int x) => ((n * Cout + c) * Ho + y) * Wo + x;
    public int WIndex(int co, int ci, int ky, int kx) => ((co * Cin + ci) * K + ky) * K + kx;

    public static ConvShape Of(Tensor x, Tensor w, int padding) =>
        new(x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3], w.Shape[0], w.Shape[2], padding);
}
