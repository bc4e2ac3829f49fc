namespace FerEngine.Backends;

/// <summary>
/// The primitive set: the small instruction set that autograd rules, layers and optimisers are
/// written in. Every primitive has a plain-loop reference (<see cref="Cpu.CpuReferenceBackend"/>),
/// faster implementations (the fast CPU path, the CUDA backend), and a test that compares them.
///
/// Conventions:
///  - Tensors arrive with logical shapes (NCHW activations, OIHW weights, [N, K] logits);
///    the backend chooses how to index memory.
///  - Elementwise primitives allow y to be the same tensor as an input (in place).
///  - Outputs are passed in already allocated with the right shape and dtype; primitives never
///    allocate tensors the caller sees.
///  - "accumulate" parameters add into the output (beta = 1) instead of overwriting it.
///  - Float primitives work for Float32 and Float64; all inputs of one call share a dtype,
///    except labels / argmax (Int64), pooling indices (Int32) and dropout masks (UInt8).
/// </summary>
public interface IBackend
{
    string Name { get; }

    // ---- memory -----------------------------------------------------------------------------
    void CopyFromHost<T>(ReadOnlySpan<T> source, Tensor destination) where T : unmanaged;
    void CopyToHost<T>(Tensor source, Span<T> destination) where T : unmanaged;
    /// <summary>
    /// Starts copying <paramref name="source"/> to the host behind the work queued so far and returns
    /// at once; the read's Wait gives the values (on a GPU it waits for that work only, not for work
    /// queued after this call).
    /// </summary>
    PendingRead<T> BeginCopyToHost<T>(Tensor source) where T : unmanaged;
    /// <summary>destination = source (same shape and dtype).</summary>
    void Copy(Tensor source, Tensor destination);
    /// <summary>Every element = value (rounded to the dtype).</summary>
    void Fill(Tensor destination, double value);

    // ---- elementwise (same shapes) -------------------------------------------------------------
    /// <summary>y = a + b.</summary>
    void Add(Tensor a, Tensor b, Tensor y);
    /// <summary>y = a * b (elementwise).</summary>
    void Multiply(Tensor a, Tensor b, Tensor y);
    /// <summary>y = alpha * x.</summary>
    void Scale(Tensor x, double alpha, Tensor y);
    /// <summary>y += alpha * x.</summary>
    void Axpy(double alpha, Tensor x, Tensor y);
    /// <summary>
    /// y = x * s[0] where s is a one-element tensor on the device (no host round trip). y may be x,
    /// but s must not lie inside y (a GPU's threads read s[0] while others write y).
    /// </summary>
    void MultiplyByScalar(Tensor x, Tensor s, Tensor y);

    // ---- dense linear algebra ------------------------------------------------------------------
    /// <summary>
    /// C = alpha * op(A) * op(B) + beta * C with row-major 2-D tensors; op(X) = X or X^T.
    /// op(A) is [M, K], op(B) is [K, N], C is [M, N].
    /// </summary>
    void Gemm(bool transposeA, bool transposeB, double alpha, Tensor a, Tensor b, double beta, Tensor c);
    /// <summary>y[n, c, ...] += bias[c] for y of shape [N, C] or [N, C, H, W].</summary>
    void AddBias(Tensor y, Tensor bias);
    /// <summary>dbias[c] (+)= sum over n (and h, w) of dy[n, c, ...].</summary>
    void BiasBackward(Tensor dy, Tensor dbias, bool accumulate);

    // ---- convolution (stride 1, dilation 1, square odd kernel, zero padding) ---------------------
    /// <summary>x [N, Cin, H, W], w [Cout, Cin, K, K], bias [Cout] or null -> y [N, Cout, Ho, Wo].</summary>
    void ConvolutionForward(Tensor x, Tensor w, Tensor? bias, Tensor y, int padding);
    /// <summary>dy [N, Cout, Ho, Wo], w [Cout, Cin, K, K] -> dx [N, Cin, H, W] (overwritten).</summary>
    void ConvolutionBackwardData(Tensor dy, Tensor w, Tensor dx, int padding);
    /// <summary>x [N, Cin, H, W], dy [N, Cout, Ho, Wo] -> dw [Cout, Cin, K, K] (+)= correlation of x with dy.</summary>
    void ConvolutionBackwardFilter(Tensor x, Tensor dy, Tensor dw, int padding, bool accumulate);

    // ---- activations -------------------------------------------------------------------------
    /// <summary>
    /// y = v > 0 ? v : alpha * (exp(v) - 1) with v = x, or v = x + bias[c] when a bias [C] is given
    /// (x [N, C] or [N, C, H, W]): a layer's bias added as its activation reads it (the fast CPU path
    /// in one pass over [N, C, H, W], adding the bias first for [N, C]; the CUDA backend copies, adds
    /// the bias with cuDNN, then runs the ELU kernel).
    /// </summary>
    void EluForward(Tensor x, Tensor? bias, Tensor y, double alpha);
    /// <summary>dx = dy * (y > 0 ? 1 : y + alpha), from the forward OUTPUT y (x is not kept).</summary>
    void EluBackward(Tensor y, Tensor dy, Tensor dx, double alpha);
    /// <summary>y = max(x, 0).</summary>
    void ReluForward(Tensor x, Tensor y);
    /// <summary>dx = y > 0 ? dy : 0.</summary>
    void ReluBackward(Tensor y, Tensor dy, Tensor dx);

    // ---- batch normalisation over all axes but 1 (x [N, C] or [N, C, H, W]) -------------------
    /// <summary>
    /// Training mode: per channel mean and biased variance over N (x H x W);
    /// y = gamma * (x - mean) * invStd + beta with invStd = 1 / sqrt(var + eps);
    /// running = (1 - momentum) * running + momentum * batch (unbiased variance for runningVar).
    /// Saves mean [C] and invStd [C] for the backward pass.
    /// </summary>
    void BatchNormForwardTraining(Tensor x, Tensor gamma, Tensor beta, Tensor runningMean, Tensor runningVar,
        double momentum, double eps, Tensor y, Tensor savedMean, Tensor savedInvStd);
    /// <summary>
    /// <see cref="BatchNormForwardTraining"/> of x = ELU(u + bias) (<see cref="EluForward"/>; bias
    /// [C] or null), as the network applies every ELU: x is written, since the backward
    /// (<see cref="BatchNormEluBackward"/>) reads it, and normalised into y. A GPU makes x inside
    /// the statistics pass, so the bias and the activation cost no pass over memory of their own.
    /// </summary>
    void EluBatchNormForwardTraining(Tensor u, Tensor? bias, double alpha, Tensor x, Tensor gamma, Tensor beta, Tensor runningMean,
        Tensor runningVar, double momentum, double eps, Tensor y, Tensor savedMean, Tensor savedInvStd);
    /// <summary>Evaluation mode: y = gamma * (x - runningMean) / sqrt(runningVar + eps) + beta.</summary>
    void BatchNormForwardInference(Tensor x, Tensor gamma, Tensor beta, Tensor runningMean, Tensor runningVar,
        double eps, Tensor y);
    /// <summary>
    /// Gradients of the training-mode forward: dx (overwritten), dgamma and dbeta (accumulated
    /// when <paramref name="accumulate"/>).
    /// </summary>
    void BatchNormBackward(Tensor x, Tensor dy, Tensor gamma, Tensor savedMean, Tensor savedInvStd,
        Tensor dx, Tensor dgamma, Tensor dbeta, bool accumulate);
    /// <summary>
    /// <see cref="BatchNormBackward"/> for a batch norm of x = ELU(u), continued through the ELU in the
    /// same pass: dgamma and dbeta (overwritten) as there, and du (overwritten) = dx ELU'(u), where
    /// ELU'(u) = 1 if x > 0, else x + alpha. Every ELU of the network feeds a batch norm; this saves
    /// writing dx and reading it back, and the ELU backward's read of x.
    /// </summary>
    void BatchNormEluBackward(Tensor x, Tensor dy, Tensor gamma, Tensor savedMean, Tensor savedInvStd, double alpha,
        Tensor du, Tensor dgamma, Tensor dbeta);

    // ---- pooling ------------------------------------------------------------------------------
    /// <summary>
    /// 2x2 max-pool, stride 2: x [N, C, H, W] -> y [N, C, H/2, W/2] (floor); argmax [same as y]
    /// (Int32) is the index 0..3 of the winner inside its window (row-major; first max wins).
    /// </summary>
    void MaxPool2x2Forward(Tensor x, Tensor y, Tensor argmax);
    /// <summary>dy and argmax [N, C, H/2, W/2] -> dx [N, C, H, W] (overwritten, zero where no window won).</summary>
    void MaxPool2x2Backward(Tensor dy, Tensor argmax, Tensor dx);

    // ---- dropout (inverted) --------------------------------------------------------------------
    /// <summary>
    /// mask[i] = Philox.Keep(seed, stream + step[0], i, p) ? 1 : 0 (UInt8); y = x * mask / (1 - p).
    /// <paramref name="step"/> (Int64 [1]) is the training step, read from device memory so that a
    /// captured CUDA graph draws new masks at every replay.
    /// </summary>
    void DropoutForward(Tensor x, double p, ulong seed, ulong stream, Tensor step, Tensor y, Tensor mask);
    /// <summary>dx = dy * mask / (1 - p).</summary>
    void DropoutBackward(Tensor dy, Tensor mask, double p, Tensor dx);

    // ---- input ----------------------------------------------------------------------------------
    /// <summary>
    /// x [N, C, H, W] (float) = pixels [N, C, H, W] (UInt8) / 255, each image shifted and flipped as
    /// <paramref name="augmentation"/> decides (null: unchanged). See <see cref="Random.ImageAugmentation"/>.
    /// </summary>
    void ImageBatch(Tensor pixels, Tensor x, Random.ImageAugmentation? augmentation);

    // ---- loss -----------------------------------------------------------------------------------
    /// <summary>
    /// Masked softmax cross-entropy fused with its gradient. logits [N, K], labels [N] (Int64, -1 =
    /// missing). loss (a one-element tensor) = mean over labelled rows of -log softmax(logits)[label];
    /// dlogits [N, K] = (softmax - onehot) / labelledCount on labelled rows, 0 elsewhere. With no
    /// labelled row the loss and dlogits are exactly 0. The labelled-row count is not returned.
    /// </summary>
    void SoftmaxCrossEntropy(Tensor logits, Tensor labels, Tensor loss, Tensor dlogits);
    /// <summary>
    /// The weighted loss of several classification tasks (1 to <see cref="JointLossTasks"/>), each a
    /// <see cref="SoftmaxCrossEntropy"/>: for task t, losses[1 + t] = its loss and dlogits' segment t
    /// (the tasks' [N, K_t] gradients one after the other, flat) its gradient; losses[0] =
    /// sum over t of weights[t] * losses[1 + t], added in task order (each product rounded, then each
    /// sum, as <see cref="Scale"/> and <see cref="Add"/> would). A GPU does the four losses' means and
    /// the weighted total in one launch.
    /// </summary>
    void JointSoftmaxCrossEntropy(IReadOnlyList<Tensor> logits, IReadOnlyList<Tensor> labels, IReadOnlyList<double> weights, Tensor losses, Tensor dlogits);
    /// <summary>
    /// The joint loss's backward: y = x * (weights[t] * s[0]) on x's segment t (segment lengths in
    /// elements, one after the other; s a one-element tensor on the device). The scale of a segment is
    /// rounded before the product, as <see cref="Scale"/> then <see cref="MultiplyByScalar"/> would.
    /// </summary>
    void ScaleSegments(Tensor x, IReadOnlyList<long> segmentLengths, IReadOnlyList<double> weights, Tensor s, Tensor y);
    /// <summary>Most tasks <see cref="JointSoftmaxCrossEntropy"/> takes (the network has four).</summary>
    const int JointLossTasks = 4;

    // ---- reductions -----------------------------------------------------------------------------
    /// <summary>y (one element) = sum of all elements of x.</summary>
    void Sum(Tensor x, Tensor y);
    /// <summary>y (one element) = max of all elements of x.</summary>
    void Max(Tensor x, Tensor y);
    /// <summary>x [N, K] -> indices [N] (Int64) of the row maximum (first wins).</summary>
    void Argmax(Tensor x, Tensor indices);
    /// <summary>
    /// correct (one Int64 element) = number of rows with labels[i] >= 0 and
    /// predictions[i] == labels[i]; labelled (one Int64 element) = number with labels[i] >= 0.
    /// </summary>
    void CountCorrect(Tensor predictions, Tensor labels, Tensor correct, Tensor labelled);

    // ---- optimisers (fused, in place) -------------------------------------------------------------
    /// <summary>
    /// One Adam step of PyTorch semantics (L2 weight decay added to the gradient), step t >= 1, of
    /// every tensor in <paramref name="tensors"/> (all of one dtype, in one call so that a GPU
    /// updates them all in one launch):
    /// g = grad + wd * p; m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2;
    /// p += (-lr / (1 - b1^t) * m) / (sqrt(v) / sqrt(1 - b2^t) + eps), in this order of operations
    /// (PyTorch's, which every implementation follows to the bit: <see cref="Cpu.ReferenceLoops{T}.AdamUpdate"/>).
    /// The learning rate and the step enter only through <paramref name="stepScalars"/> (the
    /// parameters' dtype, [2] = <see cref="AdamHyperparameters.StepScalars"/>: -lr / (1 - b1^t),
    /// sqrt(1 - b2^t)), read from device memory so that a captured CUDA graph replays each step's values.
    /// </summary>
    void AdamUpdate(IReadOnlyList<AdamTensors> tensors, AdamHyperparameters h, Tensor stepScalars);
    /// <summary>
    /// SGD with momentum (PyTorch semantics): g = grad + wd * p;
    /// buf = step == 1 ? g : momentum * buf + g; p -= lr * buf.
    /// </summary>
    void SgdUpdate(Tensor parameter, Tensor gradient, Tensor momentumBuffer, double lr, double momentum,
        double weightDecay, int step);
}

/// <summary>One parameter's tensors for <see cref="IBackend.AdamUpdate"/>: the parameter, its gradient and its two moments, all of one shape (updated: all but the gradient).</summary>
public readonly record struct AdamTensors(Tensor Parameter, Tensor Gradient, Tensor M, Tensor V);

/// <summary>Adam's settings; defaults are PyTorch's.</summary>
public readonly record struct AdamHyperparameters(
    double LearningRate = 1e-3, double Beta1 = 0.9, double Beta2 = 0.999, double Epsilon = 1e-8, double WeightDecay = 0.0)
{
    /// <summary>The two values of step t (>= 1) that change from step to step: -lr / (1 - b1^t) and sqrt(1 - b2^t).</summary>
    public double[] StepScalars(int step) => [-LearningRate / (1 - Math.Pow(Beta1, step)), Math.Sqrt(1 - Math.Pow(Beta2, step))];

    /// <summary>Writes <see cref="StepScalars"/> of step t into <paramref name="destination"/> ([2], float32 or float64), rounded to its dtype.</summary>
    public void WriteStepScalars(int step, Tensor destination)
    {
        double[] values = StepScalars(step);
        if (destination.DType == DType.Float32) destination.Backend.CopyFromHost<float>([(float)values[0], (float)values[1]], destination);
        else destination.Backend.CopyFromHost<double>(values, destination);
    }

    /// <summary><see cref="StepScalars"/> of step t as a new [2] tensor of <paramref name="dtype"/> on <paramref name="device"/>.</summary>
    public Tensor StepScalarsTensor(int step, DType dtype, Device device)
    {
        var tensor = Tensor.Zeros(new Shape(2), dtype, device);
        WriteStepScalars(step, tensor);
        return tensor;
    }
}

/// <summary>How the per-channel primitives see their tensors.</summary>
public static class ChannelLayout
{
    /// <summary>[N, C] or [N, C, H, W] seen as [N, C, S] with S = H * W (1 for [N, C]).</summary>
    public static (int N, int C, int Spatial) Of(Tensor t) =>
        (t.Shape[0], t.Shape[1], t.Rank == 4 ? t.Shape[2] * t.Shape[3] : 1);
}
