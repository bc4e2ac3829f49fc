using System.Numerics;
using FerEngine.Random;

namespace FerEngine.Backends.Cpu;

/// <summary>
/// The reference backend: every primitive as plain loops (<see cref="ReferenceLoops{T}"/>), for
/// float32 and float64. It unpacks tensors into spans and dispatches on the dtype; nothing here is
/// clever. The hot paths' methods are virtual, so that <see cref="CpuFastBackend"/> can replace them
/// for float32 and keep everything else.
/// </summary>
public class CpuReferenceBackend : IBackend
{
    public virtual string Name => "cpu-reference";

    // ---- memory ------------------------------------------------------------------------------

    public void CopyFromHost<T>(ReadOnlySpan<T> source, Tensor destination) where T : unmanaged
    {
        if (source.Length != destination.ElementCount)
            throw new ArgumentException($"CopyFromHost: {source.Length} values for a tensor of shape {destination.Shape}.");
        source.CopyTo(destination.AsSpan<T>());
    }

    public void CopyToHost<T>(Tensor source, Span<T> destination) where T : unmanaged
    {
        if (destination.Length != source.ElementCount)
            throw new ArgumentException($"CopyToHost: room for {destination.Length} values, tensor of shape {source.Shape}.");
        source.AsSpan<T>().CopyTo(destination);
    }

    public PendingRead<T> BeginCopyToHost<T>(Tensor source) where T : unmanaged => PendingRead<T>.Done(source.AsSpan<T>().ToArray());

    public void Copy(Tensor source, Tensor destination)
    {
        RequireSameShape("copy", source, destination);
        switch (source.DType)
        {
            case DType.Float32: source.AsSpan<float>().CopyTo(destination.AsSpan<float>()); break;
            case DType.Float64: source.AsSpan<double>().CopyTo(destination.AsSpan<double>()); break;
            case DType.UInt8: source.AsSpan<byte>().CopyTo(destination.AsSpan<byte>()); break;
            case DType.Int32: source.AsSpan<int>().CopyTo(destination.AsSpan<int>()); break;
            case DType.Int64: source.AsSpan<long>().CopyTo(destination.AsSpan<long>()); break;
        }
    }

    public void Fill(Tensor destination, double value)
    {
        switch (destination.DType)
        {
            case DType.Float32: destination.AsSpan<float>().Fill((float)value); break;
            case DType.Float64: destination.AsSpan<double>().Fill(value); break;
            case DType.UInt8: destination.AsSpan<byte>().Fill(checked((byte)value)); break;
            case DType.Int32: destination.AsSpan<int>().Fill(checked((int)value)); break;
            case DType.Int64: destination.AsSpan<long>().Fill(checked((long)value)); break;
        }
    }

    // ---- elementwise ---------------------------------------------------------------------------

    public virtual void Add(Tensor a, Tensor b, Tensor y)
    {
        if (a.DType == DType.Float32) Add<float>(a, b, y); else Add<double>(a, b, y);
    }

    private static void Add<T>(Tensor a, Tensor b, Tensor y) where T : unmanaged, IFloatingPointIeee754<T>
    {
        Span<T> sa = a.AsSpan<T>(), sb = b.AsSpan<T>(), sy = y.AsSpan<T>();
        for (int i = 0; i < sy.Length; i++) sy[i] = sa[i] + sb[i];
    }

    public virtual void Multiply(Tensor a, Tensor b, Tensor y)
    {
        if (a.DType == DType.Float32) Multiply<float>(a, b, y); else Multiply<double>(a, b, y);
    }

    private static void Multiply<T>(Tensor a, Tensor b, Tensor y) where T : unmanaged, IFloatingPointIeee754<T>
    {
        Span<T> sa = a.AsSpan<T>(), sb = b.AsSpan<T>(), sy = y.AsSpan<T>();
        for (int i = 0; i < sy.Length; i++) sy[i] = sa[i] * sb[i];
    }

    public virtual void Scale(Tensor x, double alpha, Tensor y)
    {
        if (x.DType == DType.Float32) Scale(x, (float)alpha, y); else Scale<double>(x, alpha, y);
    }

    private static void Scale<T>(Tensor x, T alpha, Tensor y) where T : unmanaged, IFloatingPointIeee754<T>
    {
        Span<T> sx = x.AsSpan<T>(), sy = y.AsSpan<T>();
        for (int i = 0; i < sy.Length; i++) sy[i] = alpha * sx[i];
    }

    public virtual void Axpy(double alpha, Tensor x, Tensor y)
    {
        if (x.DType == DType.Float32) Axpy((float)alpha, x, y); else Axpy<double>(alpha, x, y);
    }

    private static void Axpy<T>(T alpha, Tensor x, Tensor y) where T : unmanaged, IFloatingPointIeee754<T>
    {
        Span<T> sx = x.AsSpan<T>(), sy = y.AsSpan<T>();
        for (int i = 0; i < sy.Length; i++) sy[i] += alpha * sx[i];
    }

    public virtual void MultiplyByScalar(Tensor x, Tensor s, Tensor y)
    {
        if (x.DType == DType.Float32) Scale(x, s.AsSpan<float>()[0], y); else Scale(x, s.AsSpan<double>()[0], y);
    }

    // ---- dense linear algebra ----------------------------------------------------------------------

    public virtual void Gemm(bool transposeA, bool transposeB, double alpha, Tensor a, Tensor b, double beta, Tensor c)
    {
        var (m, n, k) = GemmSizes(transposeA, transposeB, a, b, c);
        if (a.DType == DType.Float32)
            ReferenceLoops<float>.Gemm(transposeA, transposeB, m, n, k, alpha, a.AsSpan<float>(), b.AsSpan<float>(), beta, c.AsSpan<float>());
        else
            ReferenceLoops<double>.Gemm(transposeA, transposeB, m, n, k, alpha, a.AsSpan<double>(), b.AsSpan<double>(), beta, c.AsSpan<double>());
    }

    /// <summary>Checks op(A) [M,K] x op(B) [K,N] = C [M,N] and returns (M, N, K) (every backend's Gemm calls it).</summary>
    internal static (int M, int N, int K) GemmSizes(bool transposeA, bool transposeB, Tensor a, Tensor b, Tensor c)
    {
        int m = transposeA ? a.Shape[1] : a.Shape[0], k = transposeA ? a.Shape[0] : a.Shape[1];
        int kb = transposeB ? b.Shape[1] : b.Shape[0], n = transposeB ? b.Shape[0] : b.Shape[1];
        if (k != kb || c.Shape != new Shape(m, n))
            throw new ArgumentException(
                $"gemm: op(A) {(transposeA ? "T" : "")}{a.Shape} x op(B) {(transposeB ? "T" : "")}{b.Shape} does not give C {c.Shape}.");
        return (m, n, k);
    }

    public virtual void AddBias(Tensor y, Tensor bias)
    {
        var (n, c, s) = ChannelLayout.Of(y);
        if (y.DType == DType.Float32) ReferenceLoops<float>.AddBias(n, c, s, y.AsSpan<float>(), bias.AsSpan<float>());
        else ReferenceLoops<double>.AddBias(n, c, s, y.AsSpan<double>(), bias.AsSpan<double>());
    }

    public virtual void BiasBackward(Tensor dy, Tensor dbias, bool accumulate)
    {
        var (n, c, s) = ChannelLayout.Of(dy);
        if (dy.DType == DType.Float32) ReferenceLoops<float>.BiasBackward(n, c, s, dy.AsSpan<float>(), dbias.AsSpan<float>(), accumulate);
        else ReferenceLoops<double>.BiasBackward(n, c, s, dy.AsSpan<double>(), dbias.AsSpan<double>(), accumulate);
    }


    // ---- convolution --------------------------------------------------------------------------------

    public virtual void ConvolutionForward(Tensor x, Tensor w, Tensor? bias, Tensor y, int padding)
    {
        var s = ConvShape.Of(x, w, padding);
        if (x.DType == DType.Float32)
            ReferenceLoops<float>.ConvolutionForward(s, x.AsSpan<float>(), w.AsSpan<float>(), bias is null ? default : bias.AsSpan<float>(), y.AsSpan<float>());
        else
            ReferenceLoops<double>.ConvolutionForward(s, x.AsSpan<double>(), w.AsSpan<double>(), bias is null ? default : bias.AsSpan<double>(), y.AsSpan<double>());
    }

    public virtual void ConvolutionBackwardData(Tensor dy, Tensor w, Tensor dx, int padding)
    {
        var s = ConvShape.Of(dx, w, padding);
        if (dy.DType == DType.Float32) ReferenceLoops<float>.ConvolutionBackwardData(s, dy.AsSpan<float>(), w.AsSpan<float>(), dx.AsSpan<float>());
        else ReferenceLoops<double>.ConvolutionBackwardData(s, dy.AsSpan<double>(), w.AsSpan<double>(), dx.AsSpan<double>());
    }

    public virtual void ConvolutionBackwardFilter(Tensor x, Tensor dy, Tensor dw, int padding, bool accumulate)
    {
        var s = ConvShape.Of(x, dw, padding);
        if (x.DType == DType.Float32) ReferenceLoops<float>.ConvolutionBackwardFilter(s, x.AsSpan<float>(), dy.AsSpan<float>(), dw.AsSpan<float>(), accumulate);
        else ReferenceLoops<double>.ConvolutionBackwardFilter(s, x.AsSpan<double>(), dy.AsSpan<double>(), dw.AsSpan<double>(), accumulate);
    }

    // ---- activations -----------------------------------------------------------------------------------

    public virtual void EluForward(Tensor x, Tensor? bias, Tensor y, double alpha)
    {
        if (x.DType == DType.Float32) EluForward<float>(x, bias, y, alpha); else EluForward<double>(x, bias, y, alpha);
    }

    private static void EluForward<T>(Tensor x, Tensor? bias, Tensor y, double alpha) where T : unmanaged, IFloatingPointIeee754<T>
    {
        Span<T> sx = x.AsSpan<T>(), sy = y.AsSpan<T>();
        ReadOnlySpan<T> b = bias is null ? default : bias.AsSpan<T>();
        var (_, channels, spatial) = bias is null ? (1, 1, 1) : ChannelLayout.Of(x);
        T a = T.CreateChecked(alpha);
        for (int i = 0; i < sy.Length; i++)
        {
            T v = bias is null ? sx[i] : sx[i] + b[i / spatial % channels];
            sy[i] = v > T.Zero ? v : a * (T.Exp(v) - T.One);
        }
    }

    public virtual void EluBackward(Tensor y, Tensor dy, Tensor dx, double alpha)
    {
        if (y.DType == DType.Float32) EluBackward<float>(y, dy, dx, alpha); else EluBackward<double>(y, dy, dx, alpha);
    }

    private static void EluBackward<T>(Tensor y, Tensor dy, Tensor dx, double alpha) where T : unmanaged, IFloatingPointIeee754<T>
    {
        Span<T> sy = y.AsSpan<T>(), sdy = dy.AsSpan<T>(), sdx = dx.AsSpan<T>();
        T a = T.CreateChecked(alpha);
        for (int i = 0; i < sdx.Length; i++) sdx[i] = sy[i] > T.Zero ? sdy[i] : sdy[i] * (sy[i] + a);
    }

    public virtual void ReluForward(Tensor x, Tensor y)
    {
        if (x.DType == DType.Float32) ReluForward<float>(x, y); else ReluForward<double>(x, y);
    }

    private static void ReluForward<T>(Tensor x, Tensor y) where T : unmanaged, IFloatingPointIeee754<T>
    {
        Span<T> sx = x.AsSpan<T>(), sy = y.AsSpan<T>();
        for (int i = 0; i < sy.Length; i++) sy[i] = sx[i] > T.Zero ? sx[i] : T.Zero;
    }

    public virtual void ReluBackward(Tensor y, Tensor dy, Tensor dx)
    {
        if (y.DType == DType.Float32) ReluBackward<float>(y, dy, dx); else ReluBackward<double>(y, dy, dx);
    }

    private static void ReluBackward<T>(Tensor y, Tensor dy, Tensor dx) where T : unmanaged, IFloatingPointIeee754<T>
    {
        Span<T> sy = y.AsSpan<T>(), sdy = dy.AsSpan<T>(), sdx = dx.AsSpan<T>();
        for (int i = 0; i < sdx.Length; i++) sdx[i] = sy[i] > T.Zero ? sdy[i] : T.Zero;
    }

    // ---- batch norm ------------------------------------------------------------------------------------

    /// <summary>The two primitives one after the other (each the fast one on the fast backend).</summary>
    public void EluBatchNormForwardTraining(Tensor u, Tensor? bias, double alpha, Tensor x, Tensor gamma, Tensor beta, Tensor runningMean,
        Tensor runningVar, double momentum, double eps, Tensor y, Tensor savedMean, Tensor savedInvStd)
    {
        EluForward(u, bias, x, alpha);
        BatchNormForwardTraining(x, gamma, beta, runningMean, runningVar, momentum, eps, y, savedMean, savedInvStd);
    }

    public virtual void BatchNormForwardTraining(Tensor x, Tensor gamma, Tensor beta, Tensor runningMean, Tensor runningVar,
        double momentum, double eps, Tensor y, Tensor savedMean, Tensor savedInvStd)
    {
        var (n, c, s) = ChannelLayout.Of(x);
        if (x.DType == DType.Float32)
            ReferenceLoops<float>.BatchNormForwardTraining(n, c, s, x.AsSpan<float>(), gamma.AsSpan<float>(), beta.AsSpan<float>(),
                runningMean.AsSpan<float>(), runningVar.AsSpan<float>(), momentum, eps, y.AsSpan<float>(), savedMean.AsSpan<float>(), savedInvStd.AsSpan<float>());
        else
            ReferenceLoops<double>.BatchNormForwardTraining(n, c, s, x.AsSpan<double>(), gamma.AsSpan<double>(), beta.AsSpan<double>(),
                runningMean.AsSpan<double>(), runningVar.AsSpan<double>(), momentum, eps, y.AsSpan<double>(), savedMean.AsSpan<double>(), savedInvStd.AsSpan<double>());
    }

    public virtual void BatchNormForwardInference(Tensor x, Tensor gamma, Tensor beta, Tensor runningMean, Tensor runningVar, double eps, Tensor y)
    {
        var (n, c, s) = ChannelLayout.Of(x);
        if (x.DType == DType.Float32)
            ReferenceLoops<float>.BatchNormForwardInference(n, c, s, x.AsSpan<float>(), gamma.AsSpan<float>(), beta.AsSpan<float>(),
                runningMean.AsSpan<float>(), runningVar.AsSpan<float>(), eps, y.AsSpan<float>());
        else
            ReferenceLoops<double>.BatchNormForwardInference(n, c, s, x.AsSpan<double>(), gamma.AsSpan<double>(), beta.AsSpan<double>(),
                runningMean.AsSpan<double>(), runningVar.AsSpan<double>(), eps, y.AsSpan<double>());
    }

    public virtual void BatchNormBackward(Tensor x, Tensor dy, Tensor gamma, Tensor savedMean, Tensor savedInvStd,
        Tensor dx, Tensor dgamma, Tensor dbeta, bool accumulate)
    {
        var (n, c, s) = ChannelLayout.Of(x);
        if (x.DType == DType.Float32)
            ReferenceLoops<float>.BatchNormBackward(n, c, s, x.AsSpan<float>(), dy.AsSpan<float>(), gamma.AsSpan<float>(),
                savedMean.AsSpan<float>(), savedInvStd.AsSpan<float>(), dx.AsSpan<float>(), dgamma.AsSpan<float>(), dbeta.AsSpan<float>(), accumulate);
        else
            ReferenceLoops<double>.BatchNormBackward(n, c, s, x.AsSpan<double>(), dy.AsSpan<double>(), gamma.AsSpan<double>(),
                savedMean.AsSpan<double>(), savedInvStd.AsSpan<double>(), dx.AsSpan<double>(), dgamma.AsSpan<double>(), dbeta.AsSpan<double>(), accumulate);
    }

    /// <summary>The reference: the two backward passes one after the other, through a dx of x's shape.</summary>
    public virtual void BatchNormEluBackward(Tensor x, Tensor dy, Tensor gamma, Tensor savedMean, Tensor savedInvStd, double alpha,
        Tensor du, Tensor dgamma, Tensor dbeta)
    {
        var dx = Tensor.Empty(x.Shape, x.DType, x.Device);
        BatchNormBackward(x, dy, gamma, savedMean, savedInvStd, dx, dgamma, dbeta, accumulate: false);
        EluBackward(x, dx, du, alpha);
    }

    // ---- pooling -----------------------------------------------------------------------------------------

    public virtual void MaxPool2x2Forward(Tensor x, Tensor y, Tensor argmax)
    {
        int planes = x.Shape[0] * x.Shape[1], h = x.Shape[2], w = x.Shape[3];
        if (x.DType == DType.Float32) ReferenceLoops<float>.MaxPool2x2Forward(planes, h, w, x.AsSpan<float>(), y.AsSpan<float>(), argmax.AsSpan<int>());
        else ReferenceLoops<double>.MaxPool2x2Forward(planes, h, w, x.AsSpan<double>(), y.AsSpan<double>(), argmax.AsSpan<int>());
    }

    public virtual void MaxPool2x2Backward(Tensor dy, Tensor argmax, Tensor dx)
    {
        int planes = dx.Shape[0] * dx.Shape[1], h = dx.Shape[2], w = dx.Shape[3];
        if (dy.DType == DType.Float32) ReferenceLoops<float>.MaxPool2x2Backward(planes, h, w, dy.AsSpan<float>(), argmax.AsSpan<int>(), dx.AsSpan<float>());
        else ReferenceLoops<double>.MaxPool2x2Backward(planes, h, w, dy.AsSpan<double>(), argmax.AsSpan<int>(), dx.AsSpan<double>());
    }

    // ---- dropout ---------------------------------------------------------------------------------------------

    public virtual void DropoutForward(Tensor x, double p, ulong seed, ulong stream, Tensor step, Tensor y, Tensor mask)
    {
        var keep = mask.AsSpan<byte>();
        stream += (ulong)step.AsSpan<long>()[0];
        for (int i = 0; i < keep.Length; i++) keep[i] = Philox.Keep(seed, stream, (ulong)i, p) ? (byte)1 : (byte)0;
        DropoutBackward(x, mask, p, y); // y = x * mask / (1 - p): the same map as the backward
    }

    public virtual void DropoutBackward(Tensor dy, Tensor mask, double p, Tensor dx)
    {
        if (dy.DType == DType.Float32) ApplyMask(dy.AsSpan<float>(), mask.AsSpan<byte>(), (float)(1.0 / (1.0 - p)), dx.AsSpan<float>());
        else ApplyMask(dy.AsSpan<double>(), mask.AsSpan<byte>(), 1.0 / (1.0 - p), dx.AsSpan<double>());
    }

    private static void ApplyMask<T>(ReadOnlySpan<T> x, ReadOnlySpan<byte> mask, T scale, Span<T> y) where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int i = 0; i < y.Length; i++) y[i] = mask[i] != 0 ? x[i] * scale : T.Zero;
    }

    // ---- input -------------------------------------------------------------------------------------------------

    public virtual void ImageBatch(Tensor pixels, Tensor x, ImageAugmentation? augmentation)
    {
        if (x.DType == DType.Float32) ReferenceLoops<float>.ImageBatch(pixels.Shape, pixels.AsSpan<byte>(), augmentation, x.AsSpan<float>());
        else ReferenceLoops<double>.ImageBatch(pixels.Shape, pixels.AsSpan<byte>(), augmentation, x.AsSpan<double>());
    }

    // ---- loss --------------------------------------------------------------------------------------------------

    public virtual void SoftmaxCrossEntropy(Tensor logits, Tensor labels, Tensor loss, Tensor dlogits)
    {
        int rows = logits.Shape[0], classes = logits.Shape[1];
        if (logits.DType == DType.Float32)
            loss.AsSpan<float>()[0] = (float)ReferenceLoops<float>.SoftmaxCrossEntropy(rows, classes, logits.AsSpan<float>(), labels.AsSpan<long>(), dlogits.AsSpan<float>());
        else
            loss.AsSpan<double>()[0] = ReferenceLoops<double>.SoftmaxCrossEntropy(rows, classes, logits.AsSpan<double>(), labels.AsSpan<long>(), dlogits.AsSpan<double>());
    }

    /// <summary>Each task's <see cref="SoftmaxCrossEntropy"/>, then the total by <see cref="Scale"/> and <see cref="Add"/>, in task order.</summary>
    public void JointSoftmaxCrossEntropy(IReadOnlyList<Tensor> logits, IReadOnlyList<Tensor> labels, IReadOnlyList<double> weights, Tensor losses, Tensor dlogits)
    {
        long offset = 0;
        var weighted = Tensor.Empty(Shape.Scalar, losses.DType, losses.Device);
        var total = losses.Slice(0, 1).View(Shape.Scalar);
        for (int t = 0; t < logits.Count; t++)
        {
            var loss = losses.Slice(1 + t, 1).View(Shape.Scalar);
            SoftmaxCrossEntropy(logits[t], labels[t], loss, dlogits.Slice((int)offset, (int)logits[t].ElementCount).View(logits[t].Shape));
            offset += logits[t].ElementCount;
            Scale(loss, weights[t], t == 0 ? total : weighted);
            if (t > 0) Add(total, weighted, total);
        }
    }

    /// <summary>Per segment: the scale by <see cref="Scale"/>, then <see cref="MultiplyByScalar"/>.</summary>
    public void ScaleSegments(Tensor x, IReadOnlyList<long> segmentLengths, IReadOnlyList<double> weights, Tensor s, Tensor y)
    {
        long offset = 0;
        var scale = Tensor.Empty(Shape.Scalar, s.DType, s.Device);
        for (int t = 0; t < segmentLengths.Count; t++)
        {
            Scale(s, weights[t], scale);
            MultiplyByScalar(x.Slice((int)offset, (int)segmentLengths[t]), scale, y.Slice((int)offset, (int)segmentLengths[t]));
            offset += segmentLengths[t];
        }
    }

    // ---- reductions ----------------------------------------------------------------------------------------------

    public virtual void Sum(Tensor x, Tensor y)
    {
        double sum = 0;
        foreach (double v in x.ToDoubles()) sum += v;
        Fill(y, sum);
    }

    public virtual void Max(Tensor x, Tensor y)
    {
        if (x.ElementCount == 0) throw new ArgumentException($"max of an empty tensor {x.Shape} is undefined.");
        double max = double.NegativeInfinity;
        foreach (double v in x.ToDoubles()) max = double.IsNaN(v) || v > max ? v : max;
        Fill(y, max);
    }

    public virtual void Argmax(Tensor x, Tensor indices)
    {
        int rows = x.Shape[0], classes = x.Shape[1];
        var values = x.ToDoubles();
        var result = indices.AsSpan<long>();
        for (int r = 0; r < rows; r++)
        {
            int best = 0;
            for (int k = 1; k < classes; k++)
                if (values[r * classes + k] > values[r * classes + best]) best = k;
            result[r] = best;
        }
    }

    public virtual void CountCorrect(Tensor predictions, Tensor labels, Tensor correct, Tensor labelled)
    {
        ReadOnlySpan<long> predicted = predictions.AsSpan<long>(), truth = labels.AsSpan<long>();
        long right = 0, total = 0;
        for (int i = 0; i < truth.Length; i++)
        {
            if (truth[i] < 0) continue;
            total++;
            if (predicted[i] == truth[i]) right++;
        }
        correct.AsSpan<long>()[0] = right;
        labelled.AsSpan<long>()[0] = total;
    }

    // ---- optimisers ------------------------------------------------------------------------------------------------

    public virtual void AdamUpdate(IReadOnlyList<AdamTensors> tensors, AdamHyperparameters h, Tensor stepScalars)
    {
        foreach (var (p, g, m, v) in tensors)
        {
            if (p.DType == DType.Float32)
                ReferenceLoops<float>.AdamUpdate(p.AsSpan<float>(), g.AsSpan<float>(), m.AsSpan<float>(), v.AsSpan<float>(), h, stepScalars.AsSpan<float>());
            else
                ReferenceLoops<double>.AdamUpdate(p.AsSpan<double>(), g.AsSpan<double>(), m.AsSpan<double>(), v.AsSpan<double>(), h, stepScalars.AsSpan<double>());
        }
    }

    public virtual void SgdUpdate(Tensor parameter, Tensor gradient, Tensor momentumBuffer, double lr, double momentum, double weightDecay, int step)
    {
        if (parameter.DType == DType.Float32)
            ReferenceLoops<float>.SgdUpdate(parameter.AsSpan<float>(), gradient.AsSpan<float>(), momentumBuffer.AsSpan<float>(), lr, momentum, weightDecay, step);
        else
            ReferenceLoops<double>.SgdUpdate(parameter.AsSpan<double>(), gradient.AsSpan<double>(), momentumBuffer.AsSpan<double>(), lr, momentum, weightDecay, step);
    }

    protected static void RequireSameShape(string op, Tensor a, Tensor b)
    {
        if (a.Shape != b.Shape || a.DType != b.DType)
            throw new ArgumentException($"{op}: {a.DType} {a.Shape} and {b.DType} {b.Shape} must match.");
    }
}
