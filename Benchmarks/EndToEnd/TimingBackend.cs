using System.Diagnostics;
using FerEngine.Backends;

namespace FerEngine.Benchmarks.EndToEnd;

/// <summary>
/// Wraps a backend and adds up the wall time spent in each primitive: the per-step breakdown
/// (which primitive, how many calls, how long). On a CPU the time of a call is the time of its
/// work. On a GPU, where calls only queue work, <paramref name="synchronize"/> waits for the device
/// before and after each call, so each call's time includes its work (and the step runs slower).
/// </summary>
public sealed class TimingBackend(IBackend inner, Action? synchronize = null) : IBackend
{
    private readonly Dictionary<string, (int Calls, TimeSpan Time)> _totals = [];

    public string Name => inner.Name + "+timing";
    public IReadOnlyDictionary<string, (int Calls, TimeSpan Time)> Totals => _totals;
    public void Reset() => _totals.Clear();

    private void Time(string primitive, Action action)
    {
        synchronize?.Invoke();
        long start = Stopwatch.GetTimestamp();
        action();
        synchronize?.Invoke();
        var elapsed = Stopwatch.GetElapsedTime(start);
        var (calls, time) = _totals.GetValueOrDefault(primitive);
        _totals[primitive] = (calls + 1, time + elapsed);
    }

    public void CopyFromHost<T>(ReadOnlySpan<T> source, Tensor destination) where T : unmanaged => inner.CopyFromHost(source, destination);
    public void CopyToHost<T>(Tensor source, Span<T> destination) where T : unmanaged => inner.CopyToHost(source, destination);
    public PendingRead<T> BeginCopyToHost<T>(Tensor source) where T : unmanaged => inner.BeginCopyToHost<T>(source);
    public void Copy(Tensor source, Tensor destination) => Time("copy", () => inner.Copy(source, destination));
    public void Fill(Tensor destination, double value) => Time("fill", () => inner.Fill(destination, value));
    public void Add(Tensor a, Tensor b, Tensor y) => Time("add", () => inner.Add(a, b, y));
    public void Multiply(Tensor a, Tensor b, Tensor y) => Time("multiply", () => inner.Multiply(a, b, y));
    public void Scale(Tensor x, double alpha, Tensor y) => Time("scale", () => inner.Scale(x, alpha, y));
    public void Axpy(double alpha, Tensor x, Tensor y) => Time("axpy", () => inner.Axpy(alpha, x, y));
    public void MultiplyByScalar(Tensor x, Tensor s, Tensor y) => Time("multiply-by-scalar", () => inner.MultiplyByScalar(x, s, y));
    public void Gemm(bool ta, bool tb, double alpha, Tensor a, Tensor b, double beta, Tensor c) => Time("gemm", () => inner.Gemm(ta, tb, alpha, a, b, beta, c));
    public void AddBias(Tensor y, Tensor bias) => Time("add-bias", () => inner.AddBias(y, bias));
    public void BiasBackward(Tensor dy, Tensor dbias, bool accumulate) => Time("bias-backward", () => inner.BiasBackward(dy, dbias, accumulate));
    public void ConvolutionForward(Tensor x, Tensor w, Tensor? bias, Tensor y, int padding) => Time($"conv forward {w.Shape[2]}x{w.Shape[2]} {w.Shape[1]}->{w.Shape[0]}", () => inner.ConvolutionForward(x, w, bias, y, padding));
    public void ConvolutionBackwardData(Tensor dy, Tensor w, Tensor dx, int padding) => Time($"conv backward-data {w.Shape[2]}x{w.Shape[2]} {w.Shape[1]}->{w.Shape[0]}", () => inner.ConvolutionBackwardData(dy, w, dx, padding));
    public void ConvolutionBackwardFilter(Tensor x, Tensor dy, Tensor dw, int padding, bool accumulate) => Time($"conv backward-filter {dw.Shape[2]}x{dw.Shape[2]} {dw.Shape[1]}->{dw.Shape[0]}", () => inner.ConvolutionBackwardFilter(x, dy, dw, padding, accumulate));
    public void EluForward(Tensor x, Tensor? bias, Tensor y, double alpha) => Time(bias is null ? "elu forward" : "bias + elu forward", () => inner.EluForward(x, bias, y, alpha));
    public void EluBackward(Tensor y, Tensor dy, Tensor dx, double alpha) => Time("elu backward", () => inner.EluBackward(y, dy, dx, alpha));
    public void ReluForward(Tensor x, Tensor y) => Time("relu forward", () => inner.ReluForward(x, y));
    public void ReluBackward(Tensor y, Tensor dy, Tensor dx) => Time("relu backward", () => inner.ReluBackward(y, dy, dx));
    public void BatchNormForwardTraining(Tensor x, Tensor g, Tensor b, Tensor rm, Tensor rv, double momentum, double eps, Tensor y, Tensor sm, Tensor si) => Time("batch-norm forward", () => inner.BatchNormForwardTraining(x, g, b, rm, rv, momentum, eps, y, sm, si));
    public void EluBatchNormForwardTraining(Tensor u, Tensor? bias, double alpha, Tensor x, Tensor g, Tensor b, Tensor rm, Tensor rv, double momentum, double eps, Tensor y, Tensor sm, Tensor si) => Time("bias + elu + batch-norm forward", () => inner.EluBatchNormForwardTraining(u, bias, alpha, x, g, b, rm, rv, momentum, eps, y, sm, si));
    public void BatchNormForwardInference(Tensor x, Tensor g, Tensor b, Tensor rm, Tensor rv, double eps, Tensor y) => Time("batch-norm inference", () => inner.BatchNormForwardInference(x, g, b, rm, rv, eps, y));
    public void BatchNormBackward(Tensor x, Tensor dy, Tensor g, Tensor sm, Tensor si, Tensor dx, Tensor dg, Tensor db, bool accumulate) => Time("batch-norm backward", () => inner.BatchNormBackward(x, dy, g, sm, si, dx, dg, db, accumulate));
    public void BatchNormEluBackward(Tensor x, Tensor dy, Tensor g, Tensor sm, Tensor si, double alpha, Tensor du, Tensor dg, Tensor db) => Time("batch-norm + elu backward", () => inner.BatchNormEluBackward(x, dy, g, sm, si, alpha, du, dg, db));
    public void MaxPool2x2Forward(Tensor x, Tensor y, Tensor argmax) => Time("max-pool forward", () => inner.MaxPool2x2Forward(x, y, argmax));
    public void MaxPool2x2Backward(Tensor dy, Tensor argmax, Tensor dx) => Time("max-pool backward", () => inner.MaxPool2x2Backward(dy, argmax, dx));
    public void DropoutForward(Tensor x, double p, ulong seed, ulong stream, Tensor step, Tensor y, Tensor mask) => Time("dropout forward", () => inner.DropoutForward(x, p, seed, stream, step, y, mask));
    public void DropoutBackward(Tensor dy, Tensor mask, double p, Tensor dx) => Time("dropout backward", () => inner.DropoutBackward(dy, mask, p, dx));
    public void ImageBatch(Tensor pixels, Tensor x, FerEngine.Random.ImageAugmentation? augmentation) => Time("image batch", () => inner.ImageBatch(pixels, x, augmentation));
    public void SoftmaxCrossEntropy(Tensor logits, Tensor labels, Tensor loss, Tensor dlogits) => Time("softmax cross-entropy", () => inner.SoftmaxCrossEntropy(logits, labels, loss, dlogits));
    public void JointSoftmaxCrossEntropy(IReadOnlyList<Tensor> logits, IReadOnlyList<Tensor> labels, IReadOnlyList<double> weights, Tensor losses, Tensor dlogits) =>
        Time("joint softmax cross-entropy", () => inner.JointSoftmaxCrossEntropy(logits, labels, weights, losses, dlogits));
    public void ScaleSegments(Tensor x, IReadOnlyList<long> segmentLengths, IReadOnlyList<double> weights, Tensor s, Tensor y) =>
        Time("joint softmax cross-entropy backward", () => inner.ScaleSegments(x, segmentLengths, weights, s, y));
    public void Sum(Tensor x, Tensor y) => Time("sum", () => inner.Sum(x, y));
    public void Max(Tensor x, Tensor y) => Time("max", () => inner.Max(x, y));
    public void Argmax(Tensor x, Tensor indices) => Time("argmax", () => inner.Argmax(x, indices));
    public void CountCorrect(Tensor p, Tensor l, Tensor c, Tensor n) => Time("count-correct", () => inner.CountCorrect(p, l, c, n));
    public void AdamUpdate(IReadOnlyList<AdamTensors> tensors, AdamHyperparameters h, Tensor stepScalars) => Time("adam", () => inner.AdamUpdate(tensors, h, stepScalars));
    public void SgdUpdate(Tensor p, Tensor g, Tensor buffer, double lr, double momentum, double wd, int step) => Time("sgd", () => inner.SgdUpdate(p, g, buffer, lr, momentum, wd, step));
}
