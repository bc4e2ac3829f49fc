using FerEngine.Backends;
using static FerEngine.Autograd.Autograd;

namespace FerEngine.Ops;

/// <summary>
/// The differentiable operations. Each one checks its arguments, runs the forward primitive(s),
/// and records its backward rule right beside it (micrograd style), in terms of primitives only.
/// Shapes are given in the comments; N = batch.
/// </summary>
public static class Functional
{
    private static Tensor Like(Tensor t) => Tensor.Empty(t.Shape, t.DType, t.Device);
    private static Tensor New(Tensor like, params int[] dims) => Tensor.Empty(new Shape(dims), like.DType, like.Device);

    // ---- elementwise --------------------------------------------------------------------------

    /// <summary>a + b (same shapes).</summary>
    public static Tensor Add(Tensor a, Tensor b)
    {
        Check.SameDeviceAndDType(OpNames.Add, a, b);
        Check.SameShape(OpNames.Add, a, b);
        var y = AddNoGrad(a, b);
        return Record(OpNames.Add, y, [a, b], dy => [dy, dy]);
    }

    /// <summary>a + b without recording (used by autograd itself to sum gradients).</summary>
    internal static Tensor AddNoGrad(Tensor a, Tensor b)
    {
        var y = Like(a);
        a.Backend.Add(a, b, y);
        return y;
    }

    /// <summary>a * b elementwise (same shapes).</summary>
    public static Tensor Multiply(Tensor a, Tensor b)
    {
        Check.SameDeviceAndDType(OpNames.Multiply, a, b);
        Check.SameShape(OpNames.Multiply, a, b);
        var y = Like(a);
        a.Backend.Multiply(a, b, y);
        return Record(OpNames.Multiply, y, [a, b], dy =>
        {
            var da = Like(a);
            var db = Like(b);
            a.Backend.Multiply(dy, b, da);
            a.Backend.Multiply(dy, a, db);
            return [da, db];
        });
    }

    /// <summary>alpha * x.</summary>
    public static Tensor Scale(Tensor x, double alpha)
    {
        Check.FloatingPoint(OpNames.Scale, x);
        var y = Like(x);
        x.Backend.Scale(x, alpha, y);
        return Record(OpNames.Scale, y, [x], dy =>
        {
            var dx = Like(x);
            x.Backend.Scale(dy, alpha, dx);
            return [dx];
        });
    }

    // ---- reductions to a scalar -------------------------------------------------------------------

    /// <summary>Sum of all elements: any shape -> [] (scalar).</summary>
    public static Tensor Sum(Tensor x)
    {
        Check.FloatingPoint(OpNames.Sum, x);
        var y = Tensor.Empty(Shape.Scalar, x.DType, x.Device);
        x.Backend.Sum(x, y);
        return Record(OpNames.Sum, y, [x], dy => [Broadcast(dy, x, 1.0)]);
    }

    /// <summary>Mean of all elements: any shape -> [] (scalar).</summary>
    public static Tensor Mean(Tensor x)
    {
        Check.FloatingPoint(OpNames.Mean, x);
        Check.That(x.ElementCount > 0, OpNames.Mean, "the mean of an empty tensor is undefined.");
        var y = Tensor.Empty(Shape.Scalar, x.DType, x.Device);
        x.Backend.Sum(x, y);
        x.Backend.Scale(y, 1.0 / x.ElementCount, y);
        return Record(OpNames.Mean, y, [x], dy => [Broadcast(dy, x, 1.0 / x.ElementCount)]);
    }

    /// <summary>
    /// A tensor shaped like <paramref name="like"/> filled with factor * scalar[0]. The scalar stays on the
    /// device: reading it back would make the host wait for the GPU, and cannot happen in a captured graph.
    /// </summary>
    private static Tensor Broadcast(Tensor scalar, Tensor like, double factor)
    {
        var result = Like(like);
        like.Backend.Fill(result, factor);
        like.Backend.MultiplyByScalar(result, scalar, result);
        return result;
    }

    // ---- views --------------------------------------------------------------------------------------

    /// <summary>The same elements with another shape of equal element count.</summary>
    public static Tensor Reshape(Tensor x, Shape shape)
    {
        var y = x.View(shape);
        return Record(OpNames.Reshape, y, [x], dy => [dy.View(x.Shape)]);
    }

    // ---- layers ----------------------------------------------------------------------------------------

    /// <summary>y = x W^T + b: x [N, In], weight [Out, In], bias [Out] or null -> y [N, Out].</summary>
    public static Tensor Linear(Tensor x, Tensor weight, Tensor? bias)
    {
        const string op = OpNames.Linear;
        Tensor[] all = bias is null ? [x, weight] : [x, weight, bias];
        Check.SameDeviceAndDType(op, all);
        Check.Rank(op, x, "input", 2);
        Check.Rank(op, weight, "weight", 2);
        Check.That(x.Shape[1] == weight.Shape[1], op,
            $"input {x.Shape} has {x.Shape[1]} features but weight {weight.Shape} expects {weight.Shape[1]}.");
        Check.That(bias is null || bias.Shape == new Shape(weight.Shape[0]), op,
            $"bias {bias?.Shape} must be [{weight.Shape[0]}].");
        var backend = x.Backend;
        var y = New(x, x.Shape[0], weight.Shape[0]);
        backend.Gemm(false, true, 1.0, x, weight, 0.0, y);
        if (bias is not null) backend.AddBias(y, bias);
        return Record(op, y, all, dy =>
        {
            Tensor? dx = null;   // as Conv2d: skipped when the input needs no gradient
            if (NeedsGradient(x))
            {
                dx = Like(x);
                backend.Gemm(false, false, 1.0, dy, weight, 0.0, dx);   // [N, Out] x [Out, In]
            }
            var dw = Like(weight);
            backend.Gemm(true, false, 1.0, dy, x, 0.0, dw);         // [Out, N] x [N, In]
            if (bias is null) return [dx, dw];
            var db = Like(bias);
            backend.BiasBackward(dy, db, accumulate: false);
            return [dx, dw, db];
        });
    }

    /// <summary>
    /// 2-D convolution, stride 1, zero padding p on every side (p = K / 2 keeps the size): x [N, Cin, H, W], weight
    /// [Cout, Cin, K, K] (K odd), bias [Cout] or null -> y [N, Cout, H + 2p - K + 1, W + 2p - K + 1].
    /// </summary>
    public static Tensor Conv2d(Tensor x, Tensor weight, Tensor? bias, int padding)
    {
        const string op = OpNames.Conv2d;
        Tensor[] all = bias is null ? [x, weight] : [x, weight, bias];
        Check.SameDeviceAndDType(op, all);
        Check.Rank(op, x, "input", 4);
        Check.Rank(op, weight, "weight", 4);
        int k = weight.Shape[2];
        Check.That(weight.Shape[3] == k && k % 2 == 1, op, $"weight {weight.Shape} must have a square odd kernel.");
        Check.That(x.Shape[1] == weight.Shape[1], op,
            $"input {x.Shape} has {x.Shape[1]} channels but weight {weight.Shape} expects {weight.Shape[1]}.");
        Check.That(bias is null || bias.Shape == new Shape(weight.Shape[0]), op, $"bias {bias?.Shape} must be [{weight.Shape[0]}].");
        int ho = x.Shape[2] + 2 * padding - k + 1, wo = x.Shape[3] + 2 * padding - k + 1;
        Check.That(padding >= 0 && ho > 0 && wo > 0, op, $"padding {padding} with kernel {k} leaves no output for input {x.Shape}.");
        var backend = x.Backend;
        var y = New(x, x.Shape[0], weight.Shape[0], ho, wo);
        backend.ConvolutionForward(x, weight, bias, y, padding);
        return Record(op, y, all, dy =>
        {
            Tensor? dx = null;   // the network's input image needs no gradient: skip that whole convolution
            if (NeedsGradient(x))
            {
                dx = Like(x);
                backend.ConvolutionBackwardData(dy, weight, dx, padding);
            }
            var dw = Like(weight);
            backend.ConvolutionBackwardFilter(x, dy, dw, padding, accumulate: false);
            if (bias is null) return [dx, dw];
            var db = Like(bias);
            backend.BiasBackward(dy, db, accumulate: false);
            return [dx, dw, db];
        });
    }

    /// <summary>ELU: x > 0 ? x : alpha (e^x - 1). Any shape.</summary>
    public static Tensor Elu(Tensor x, double alpha = 1.0)
    {
        Check.FloatingPoint(OpNames.Elu, x);
        var y = Like(x);
        x.Backend.EluForward(x, bias: null, y, alpha);
        return Record(OpNames.Elu, y, [x], dy =>
        {
            var dx = Like(x);
            x.Backend.EluBackward(y, dy, dx, alpha);
            return [dx];
        });
    }

    /// <summary>ReLU: max(x, 0). Any shape.</summary>
    public static Tensor Relu(Tensor x)
    {
        Check.FloatingPoint(OpNames.Relu, x);
        var y = Like(x);
        x.Backend.ReluForward(x, y);
        return Record(OpNames.Relu, y, [x], dy =>
        {
            var dx = Like(x);
            x.Backend.ReluBackward(y, dy, dx);
            return [dx];
        });
    }

    /// <summary>
    /// Batch normalisation over every axis but 1: x [N, C] or [N, C, H, W], gamma/beta and the
    /// running statistics [C]. Training mode normalises with the batch statistics (biased
    /// variance) and updates the running ones in place; evaluation mode uses the running ones.
    /// </summary>
    public static Tensor BatchNorm(Tensor x, Tensor gamma, Tensor beta, Tensor runningMean, Tensor runningVar,
        bool training, double momentum, double eps) =>
        BatchNormOf(OpNames.BatchNorm, x, bias: null, eluAlpha: null, gamma, beta, runningMean, runningVar, training, momentum, eps);

    /// <summary>
    /// BatchNorm(Elu(x + bias, alpha), ...) as one op, as the network applies every ELU, with the
    /// preceding layer's bias [C] (over axis 1) or none: the same values, as one primitive each way
    /// (<see cref="IBackend.EluBatchNormForwardTraining"/>, <see cref="IBackend.BatchNormEluBackward"/>),
    /// so that a backend can fuse them. The GPU's sliced kernels do (bias and ELU inside the statistics
    /// pass; the backward through ELU and batch norm at once, no gradient written between them); the
    /// CPU paths, and the GPU's per-channel kernels (the fully-connected layer's S = 1), run the parts in turn.
    /// </summary>
    public static Tensor EluBatchNorm(Tensor x, Tensor? bias, Tensor gamma, Tensor beta, Tensor runningMean, Tensor runningVar,
        bool training, double momentum, double eps, double alpha = 1.0) =>
        BatchNormOf(OpNames.EluBatchNorm, x, bias, alpha, gamma, beta, runningMean, runningVar, training, momentum, eps);

    /// <summary>Batch norm of x, or of ELU(x + bias) when <paramref name="eluAlpha"/> is given (see <see cref="EluBatchNorm"/>).</summary>
    private static Tensor BatchNormOf(string op, Tensor u, Tensor? bias, double? eluAlpha, Tensor gamma, Tensor beta, Tensor runningMean,
        Tensor runningVar, bool training, double momentum, double eps)
    {
        // u: the op's input [N, C] or [N, C, H, W]; x: what the batch norm normalises, u itself or ELU(u + bias).
        Check.SameDeviceAndDType(op, u, gamma, beta, runningMean, runningVar);
        Check.Rank(op, u, "input", 2, 4);
        var channels = new Shape(u.Shape[1]);
        foreach (var (t, role) in new[] { (gamma, "gamma"), (beta, "beta"), (runningMean, "running mean"), (runningVar, "running var"), (bias, "bias") })
            if (t is not null) Check.That(t.Shape == channels, op, $"{role} {t.Shape} must be {channels} for input {u.Shape}.");
        if (bias is not null) Check.SameDeviceAndDType(op, u, bias);
        var backend = u.Backend;
        var x = eluAlpha is null ? u : Like(u);
        var y = Like(u);
        Tensor[] inputs = bias is null ? [u, gamma, beta] : [u, bias, gamma, beta];
        if (!training)
        {
            if (eluAlpha is { } alpha) backend.EluForward(u, bias, x, alpha);
            backend.BatchNormForwardInference(x, gamma, beta, runningMean, runningVar, eps, y);
            // A node whose backward throws, rather than none: a backward after Eval() must not silently
            // leave gamma, beta and the layers before without gradients.
            return Record(op, y, inputs, _ => throw new NotSupportedException(
                $"{op}: backward through evaluation mode is not supported; call Train() on the model before a training step."));
        }
        long perChannel = u.ElementCount / u.Shape[1];
        Check.That(perChannel > 1, op, $"training mode needs more than one value per channel; got input {u.Shape}.");
        var savedMean = Like(gamma);
        var savedInvStd = Like(gamma);
        if (eluAlpha is { } a)
            backend.EluBatchNormForwardTraining(u, bias, a, x, gamma, beta, runningMean, runningVar, momentum, eps, y, savedMean, savedInvStd);
        else
            backend.BatchNormForwardTraining(u, gamma, beta, runningMean, runningVar, momentum, eps, y, savedMean, savedInvStd);
        return Record(op, y, inputs, dy =>
        {
            var du = Like(u);   // through the batch norm, and the ELU when there is one
            var dgamma = Like(gamma);
            var dbeta = Like(beta);
            if (eluAlpha is not { } a) backend.BatchNormBackward(x, dy, gamma, savedMean, savedInvStd, du, dgamma, dbeta, accumulate: false);
            else backend.BatchNormEluBackward(x, dy, gamma, savedMean, savedInvStd, a, du, dgamma, dbeta);
            if (bias is null) return [du, dgamma, dbeta];
            var dbias = Like(bias);   // d(u + bias) / d bias: du summed over all but axis 1
            backend.BiasBackward(du, dbias, accumulate: false);
            return [du, dbias, dgamma, dbeta];
        });
    }

    /// <summary>2x2 max-pool, stride 2: x [N, C, H, W] -> [N, C, H/2, W/2].</summary>
    public static Tensor MaxPool2x2(Tensor x)
    {
        const string op = OpNames.MaxPool2x2;
        Check.FloatingPoint(op, x);
        Check.Rank(op, x, "input", 4);
        Check.That(x.Shape[2] >= 2 && x.Shape[3] >= 2, op, $"input {x.Shape} is smaller than the 2x2 window.");
        var shape = new Shape(x.Shape[0], x.Shape[1], x.Shape[2] / 2, x.Shape[3] / 2);
        var y = Tensor.Empty(shape, x.DType, x.Device);
        var argmax = Tensor.Empty(shape, DType.Int32, x.Device);
        x.Backend.MaxPool2x2Forward(x, y, argmax);
        return Record(op, y, [x], dy =>
        {
            var dx = Like(x);
            x.Backend.MaxPool2x2Backward(dy, argmax, dx);
            return [dx];
        });
    }

    /// <summary>
    /// Inverted dropout: in training each element is kept with probability 1 - p (decided by
    /// Philox(seed, stream + step[0], index)) and scaled by 1 / (1 - p); identity when p = 0 or not
    /// training. <paramref name="step"/> (Int64 [1] on x's device, null: 0) is the training step in
    /// device memory (see <see cref="IBackend.DropoutForward"/>).
    /// </summary>
    public static Tensor Dropout(Tensor x, double p, bool training, ulong seed, ulong stream, Tensor? step = null)
    {
        const string op = OpNames.Dropout;
        Check.FloatingPoint(op, x);
        Check.That(p >= 0 && p < 1, op, $"probability {p} must be in [0, 1).");
        if (!training || p == 0) return x;
        var y = Like(x);
        var mask = Tensor.Empty(x.Shape, DType.UInt8, x.Device);
        step ??= Tensor.Zeros(new Shape(1), DType.Int64, x.Device);
        Check.That(step.DType == DType.Int64 && step.ElementCount == 1 && step.Device == x.Device, op,
            $"the step must be one Int64 on {x.Device.Name}; got {step.DType} {step.Shape} on {step.Device.Name}.");
        x.Backend.DropoutForward(x, p, seed, stream, step, y, mask);
        return Record(op, y, [x], dy =>
        {
            var dx = Like(x);
            x.Backend.DropoutBackward(dy, mask, p, dx);
            return [dx];
        });
    }

    /// <summary>
    /// Masked softmax cross-entropy: logits [N, K], labels [N] (Int64, -1 = missing) -> scalar mean
    /// over the labelled rows; exactly 0 (and a zero gradient) when no row is labelled.
    /// </summary>
    public static Tensor SoftmaxCrossEntropy(Tensor logits, Tensor labels)
    {
        const string op = OpNames.SoftmaxCrossEntropy;
        Check.FloatingPoint(op, logits);
        Check.SameDevice(op, logits, labels);
        Check.Rank(op, logits, "logits", 2);
        Check.That(labels.DType == DType.Int64, op, $"labels must be Int64 (-1 = missing); got {labels.DType}.");
        Check.That(labels.Shape == new Shape(logits.Shape[0]), op, $"labels {labels.Shape} must be [{logits.Shape[0]}] for logits {logits.Shape}.");
        var loss = Tensor.Empty(Shape.Scalar, logits.DType, logits.Device);
        var dlogits = Like(logits);
        logits.Backend.SoftmaxCrossEntropy(logits, labels, loss, dlogits);
        return Record(op, loss, [logits], dy =>
        {
            var dx = Like(logits);
            logits.Backend.MultiplyByScalar(dlogits, dy, dx);
            return [dx];
        });
    }

    /// <summary>
    /// The weighted loss of several classification tasks (1 to 4), each a <see cref="SoftmaxCrossEntropy"/>
    /// of its logits [N, K_t] and labels [N]: Total = sum over t of weights[t] * CE_t, added in task
    /// order, differentiable; Losses [1 + tasks] = the total, then each task's CE (to report; they
    /// share memory, so one copy reads them all). The same values as <see cref="SoftmaxCrossEntropy"/>,
    /// <see cref="Scale"/> and <see cref="Add"/> per task, in one GPU launch per task and one more
    /// forward, and one backward, instead of about five per task.
    /// </summary>
    public static (Tensor Total, Tensor Losses) JointSoftmaxCrossEntropy(IReadOnlyList<Tensor> logits, IReadOnlyList<Tensor> labels, IReadOnlyList<double> weights)
    {
        const string op = OpNames.JointSoftmaxCrossEntropy;
        Check.That(logits.Count is >= 1 and <= IBackend.JointLossTasks && labels.Count == logits.Count && weights.Count == logits.Count, op,
            $"1 to {IBackend.JointLossTasks} tasks, each with logits, labels and a weight; got {logits.Count} logits, {labels.Count} labels, {weights.Count} weights.");
        for (int t = 0; t < logits.Count; t++)
        {
            Check.FloatingPoint(op, logits[t]);
            Check.SameDevice(op, logits[0], logits[t]);
            Check.SameDevice(op, logits[0], labels[t]);
            Check.That(logits[t].DType == logits[0].DType, op, $"task {t}'s logits are {logits[t].DType}, task 0's {logits[0].DType}.");
            Check.Rank(op, logits[t], $"logits of task {t}", 2);
            Check.That(logits[t].Shape[0] == logits[0].Shape[0], op, $"task {t}'s logits {logits[t].Shape} must have the {logits[0].Shape[0]} rows of task 0's {logits[0].Shape}.");
            Check.That(labels[t].DType == DType.Int64, op, $"labels must be Int64 (-1 = missing); task {t}'s are {labels[t].DType}.");
            Check.That(labels[t].Shape == new Shape(logits[0].Shape[0]), op, $"task {t}'s labels {labels[t].Shape} must be [{logits[0].Shape[0]}] for logits {logits[t].Shape}.");
        }
        var device = logits[0].Device;
        var backend = logits[0].Backend;
        long[] lengths = [.. logits.Select(l => l.ElementCount)];
        var losses = Tensor.Empty(new Shape(1 + logits.Count), logits[0].DType, device);
        var dlogits = Tensor.Empty(new Shape(checked((int)lengths.Sum())), logits[0].DType, device);   // task after task
        backend.JointSoftmaxCrossEntropy(logits, labels, weights, losses, dlogits);
        var total = losses.Slice(0, 1).View(Shape.Scalar);
        Record(op, total, [.. logits], dy =>
        {
            var dx = Like(dlogits);
            backend.ScaleSegments(dlogits, lengths, weights, dy, dx);
            var perTask = new Tensor?[logits.Count];
            long offset = 0;
            for (int t = 0; t < logits.Count; t++)
            {
                perTask[t] = dx.Slice((int)offset, (int)lengths[t]).View(logits[t].Shape);
                offset += lengths[t];
            }
            return perTask;
        });
        return (total, losses);
    }
}
