using FerEngine.Backends.Cpu;
using FerEngine.Kernels;
using FerEngine.Random;

namespace FerEngine.Backends.Cuda;

/// <summary>
/// The primitive set on a GPU, float32 only: our PTX kernels (Kernels/*.ptx, through the
/// catalogue) for the elementwise, batch-norm, pooling, dropout, loss, reduction and Adam passes;
/// cuBLAS for GEMM and cuDNN for convolutions, bias, elementwise multiply and ReLU (calls on
/// <see cref="IGpuDevice"/>). Nothing here reads device memory back to the host: results the
/// host wants (a loss, accuracy counts) stay on the device until the caller asks for them.
/// </summary>
public sealed class CudaBackend : IBackend
{
    public string Name => "cuda";

    private static IGpuDevice Gpu(Tensor t) => ((CudaStorage)t.Storage).Gpu;

    /// <summary>The device address of a tensor's first element.</summary>
    private static ulong Ptr(Tensor t) => ((CudaStorage)t.Storage).Address + (ulong)(t.Offset * t.DType.SizeInBytes());

    /// <summary>
    /// The float4 kernels (Elementwise.ptx, dropout_forward_f32, sum_f32, adam_f32) load and store 16
    /// bytes at a time: every tensor must start 16-byte aligned. Fresh tensors and arena slots do; a view
    /// that starts part-way into a row may not (a GPU would fault on it, or worse).
    /// </summary>
    private static void RequireVectorAligned(string op, params Tensor[] tensors)
    {
        foreach (var t in tensors)
            if (Ptr(t) % 16 != 0)
                throw new NotSupportedException($"{op}: the GPU kernel moves float4 vectors, so every tensor must start 16-byte aligned; " +
                    $"this {t.Shape} view starts {Ptr(t) % 16} bytes past a boundary. Pass a copy (Tensor.Clone()).");
    }

    private static void RequireFloat32(string op, Tensor t)
    {
        if (t.DType != DType.Float32)
            throw new NotSupportedException($"{op}: the CUDA backend computes in float32; got {t.DType} {t.Shape}. Use the CPU reference for float64.");
    }

    // ---- memory ------------------------------------------------------------------------------

    public void CopyFromHost<T>(ReadOnlySpan<T> source, Tensor destination) where T : unmanaged => Gpu(destination).CopyToDevice(source, Ptr(destination));
    public void CopyToHost<T>(Tensor source, Span<T> destination) where T : unmanaged => Gpu(source).CopyToHost(Ptr(source), destination);
    public PendingRead<T> BeginCopyToHost<T>(Tensor source) where T : unmanaged => Gpu(source).BeginCopyToHost<T>(Ptr(source), checked((int)source.ElementCount));

    /// <summary>float32 whose source and destination start 16-byte aligned: the copy_f32 kernel (float4 loads); anything else: a device-to-device memcpy.</summary>
    public void Copy(Tensor source, Tensor destination)
    {
        if (source.DType == DType.Float32 && Ptr(source) % 16 == 0 && Ptr(destination) % 16 == 0)
            Gpu(source).Launch("copy_f32", source.ElementCount, Ptr(source), Ptr(destination), (uint)source.ElementCount);
        else
            Gpu(source).CopyDeviceToDevice(Ptr(source), Ptr(destination), source.ElementCount * source.DType.SizeInBytes());
    }

    /// <summary>fill_f32 for float32; other dtypes can only be zero-filled here (a memset), unlike on the CPU.</summary>
    public void Fill(Tensor destination, double value)
    {
        if (destination.DType == DType.Float32 && (value != 0 || Ptr(destination) % 16 == 0))
        {
            RequireVectorAligned("fill", destination);
            Gpu(destination).Launch("fill_f32", destination.ElementCount, Ptr(destination), (uint)destination.ElementCount, (float)value);
        }
        else if (value == 0)
            Gpu(destination).Memset(Ptr(destination), 0, destination.ElementCount * destination.DType.SizeInBytes());
        else
            throw new NotSupportedException($"fill: {destination.DType} tensors on the GPU can only be zero-filled.");
    }

    // ---- elementwise -----------------------------------------------------------------------------

    public void Add(Tensor a, Tensor b, Tensor y)
    {
        RequireFloat32("add", a);
        RequireVectorAligned("add", a, b, y);
        Gpu(a).Launch("add_f32", y.ElementCount, Ptr(a), Ptr(b), Ptr(y), (uint)y.ElementCount);
    }

    public void Multiply(Tensor a, Tensor b, Tensor y)
    {
        RequireFloat32("multiply", a);
        Gpu(a).Multiply(y.ElementCount, Ptr(a), Ptr(b), Ptr(y));
    }

    public void Scale(Tensor x, double alpha, Tensor y)
    {
        RequireFloat32("scale", x);
        RequireVectorAligned("scale", x, y);
        Gpu(x).Launch("scale_f32", y.ElementCount, Ptr(x), Ptr(y), (uint)y.ElementCount, (float)alpha);
    }

    public void Axpy(double alpha, Tensor x, Tensor y)
    {
        RequireFloat32("axpy", x);
        RequireVectorAligned("axpy", x, y);
        Gpu(x).Launch("axpy_f32", y.ElementCount, Ptr(x), Ptr(y), (uint)y.ElementCount, (float)alpha);
    }

    /// <summary>y = x * s[0], the scale read on the device (no host round trip inside a step).</summary>
    public void MultiplyByScalar(Tensor x, Tensor s, Tensor y)
    {
        RequireFloat32("multiply-by-scalar", x);
        RequireVectorAligned("multiply-by-scalar", x, y);
        Gpu(x).Launch("scale_by_f32", y.ElementCount, Ptr(x), Ptr(y), (uint)y.ElementCount, Ptr(s));
    }

    // ---- dense linear algebra and convolution (cuBLAS, cuDNN) ---------------------------------------

    public void Gemm(bool transposeA, bool transposeB, double alpha, Tensor a, Tensor b, double beta, Tensor c)
    {
        RequireFloat32("gemm", a);
        var (m, n, k) = Cpu.CpuReferenceBackend.GemmSizes(transposeA, transposeB, a, b, c);   // a wrong shape would be garbage on a GPU, not an exception
        Gpu(a).Sgemm(transposeA, transposeB, m, n, k, (float)alpha, Ptr(a), Ptr(b), (float)beta, Ptr(c));
    }

    public void AddBias(Tensor y, Tensor bias)
    {
        var (n, c, s) = ChannelLayout.Of(y);
        Gpu(y).AddBias(n, c, s, Ptr(y), Ptr(bias));
    }

    public void BiasBackward(Tensor dy, Tensor dbias, bool accumulate)
    {
        var (n, c, s) = ChannelLayout.Of(dy);
        Gpu(dy).BiasBackward(n, c, s, Ptr(dy), Ptr(dbias), accumulate);
    }

    public void ConvolutionForward(Tensor x, Tensor w, Tensor? bias, Tensor y, int padding)
    {
        RequireFloat32("convolution", x);
        Gpu(x).ConvolutionForward(ConvShape.Of(x, w, padding), Ptr(x), Ptr(w), Ptr(y));
        if (bias is not null) AddBias(y, bias);
    }

    public void ConvolutionBackwardData(Tensor dy, Tensor w, Tensor dx, int padding) =>
        Gpu(dy).ConvolutionBackwardData(ConvShape.Of(dx, w, padding), Ptr(dy), Ptr(w), Ptr(dx));

    public void ConvolutionBackwardFilter(Tensor x, Tensor dy, Tensor dw, int padding, bool accumulate) =>
        Gpu(x).ConvolutionBackwardFilter(ConvShape.Of(x, dw, padding), Ptr(x), Ptr(dy), Ptr(dw), accumulate);

    // ---- activations ------------------------------------------------------------------------------

    /// <summary>
    /// The elu_forward_f32 kernel; with a bias, y = x + bias first (a copy, then cuDNN's bias add)
    /// and the activation in place. A training step meets a bias here only in the fully connected
    /// layer: the convolutions' biases go through <see cref="EluBatchNormForwardTraining"/>.
    /// </summary>
    public void EluForward(Tensor x, Tensor? bias, Tensor y, double alpha)
    {
        RequireFloat32("elu", x);
        if (bias is not null)
        {
            Copy(x, y);
            AddBias(y, bias);
            x = y;
        }
        RequireVectorAligned("elu", x, y);
        Gpu(x).Launch("elu_forward_f32", y.ElementCount, Ptr(x), Ptr(y), (uint)y.ElementCount, (float)alpha);
    }

    public void EluBackward(Tensor y, Tensor dy, Tensor dx, double alpha)
    {
        RequireVectorAligned("elu backward", y, dy, dx);
        Gpu(y).Launch("elu_backward_f32", dx.ElementCount, Ptr(y), Ptr(dy), Ptr(dx), (uint)dx.ElementCount, (float)alpha);
    }

    public void ReluForward(Tensor x, Tensor y) => Gpu(x).Relu(y.ElementCount, Ptr(x), Ptr(y));
    public void ReluBackward(Tensor y, Tensor dy, Tensor dx) => Gpu(y).ReluBackward(dx.ElementCount, Ptr(y), Ptr(dy), Ptr(dx));

    // ---- batch norm, pooling, dropout ---------------------------------------------------------------

    /// <summary>
    /// Batch norm with S % 4 == 0 and 16-byte aligned tensors (every convolution output) runs on
    /// BatchNormSliced.ptx, one block per (channel, slice); anything else on BatchNorm.ptx's
    /// one-block-per-channel kernels.
    /// </summary>
    private static BatchNormSlicing? Sliced(int n, int c, int s, params Tensor[] tensors) =>
        BatchNormSlicing.Applies(s) && tensors.All(t => Ptr(t) % 16 == 0) ? new BatchNormSlicing(n, c, s) : null;

    /// <summary>The shape arguments every sliced kernel takes after its pointers.</summary>
    private static object[] SlicingArguments(BatchNormSlicing b) =>
        [(uint)b.Batch, (uint)b.Channels, (uint)b.Spatial4, (uint)b.Slices, (uint)b.UnitsPerSlice];

    public void BatchNormForwardTraining(Tensor x, Tensor gamma, Tensor beta, Tensor runningMean, Tensor runningVar,
        double momentum, double eps, Tensor y, Tensor savedMean, Tensor savedInvStd)
    {
        RequireFloat32("batch norm", x);
        var (n, c, s) = ChannelLayout.Of(x);
        if (Sliced(n, c, s, x, y) is { } slicing)
            BatchNormForwardSliced(slicing, x, bias: null, eluAlpha: null, x, gamma, beta, runningMean, runningVar, momentum, eps, y, savedMean, savedInvStd);
        else
            Gpu(x).Launch("batchnorm_forward_training_f32", c, Ptr(x), Ptr(gamma), Ptr(beta), Ptr(runningMean), Ptr(runningVar), Ptr(y),
                Ptr(savedMean), Ptr(savedInvStd), (uint)n, (uint)c, (uint)s, (float)momentum, (float)eps);
    }

    /// <summary>
    /// Sliced: the statistics kernel makes x = ELU(u + bias) as it reads u (throughElu) and writes
    /// it, so a convolution's output is read twice and written once before it is normalised, where a
    /// bias pass, an ELU pass and the statistics pass would read it three times and write it twice.
    /// Otherwise (BatchNorm1d's S = 1) the two primitives one after the other.
    /// </summary>
    public void EluBatchNormForwardTraining(Tensor u, Tensor? bias, double alpha, Tensor x, Tensor gamma, Tensor beta, Tensor runningMean,
        Tensor runningVar, double momentum, double eps, Tensor y, Tensor savedMean, Tensor savedInvStd)
    {
        RequireFloat32("batch norm", u);
        var (n, c, s) = ChannelLayout.Of(u);
        if (Sliced(n, c, s, u, x, y) is { } slicing)
        {
            BatchNormForwardSliced(slicing, u, bias, alpha, x, gamma, beta, runningMean, runningVar, momentum, eps, y, savedMean, savedInvStd);
            return;
        }
        EluForward(u, bias, x, alpha);
        BatchNormForwardTraining(x, gamma, beta, runningMean, runningVar, momentum, eps, y, savedMean, savedInvStd);
    }

    /// <summary>The three sliced forward kernels: per-slice statistics (of x, or of x = ELU(u + bias) made on the way), their merge, then y.</summary>
    private void BatchNormForwardSliced(BatchNormSlicing slicing, Tensor u, Tensor? bias, double? eluAlpha, Tensor x, Tensor gamma, Tensor beta,
        Tensor runningMean, Tensor runningVar, double momentum, double eps, Tensor y, Tensor savedMean, Tensor savedInvStd)
    {
        var gpu = Gpu(x);
        var partials = Tensor.Empty(new Shape(checked((int)slicing.PartialFloats)), DType.Float32, x.Device);
        var shape = SlicingArguments(slicing);
        gpu.Launch("batchnorm_statistics_f32", slicing.Blocks, [Ptr(u), bias is null ? 0UL : Ptr(bias), Ptr(x), Ptr(partials), .. shape,
            eluAlpha is null ? 0u : 1u, (float)(eluAlpha ?? 0)]);
        gpu.Launch("batchnorm_finalize_statistics_f32", slicing.Channels, [Ptr(partials), Ptr(runningMean), Ptr(runningVar), Ptr(savedMean),
            Ptr(savedInvStd), .. shape, (float)momentum, (float)eps]);
        gpu.Launch("batchnorm_normalize_f32", slicing.Blocks, [Ptr(x), Ptr(gamma), Ptr(beta), Ptr(savedMean), Ptr(savedInvStd), Ptr(y), .. shape]);
    }

    public void BatchNormForwardInference(Tensor x, Tensor gamma, Tensor beta, Tensor runningMean, Tensor runningVar, double eps, Tensor y)
    {
        var (_, c, s) = ChannelLayout.Of(x);
        Gpu(x).Launch("batchnorm_forward_inference_f32", x.ElementCount, Ptr(x), Ptr(gamma), Ptr(beta), Ptr(runningMean), Ptr(runningVar),
            Ptr(y), (uint)x.ElementCount, (uint)c, (uint)s, (float)eps);
    }

    public void BatchNormBackward(Tensor x, Tensor dy, Tensor gamma, Tensor savedMean, Tensor savedInvStd,
        Tensor dx, Tensor dgamma, Tensor dbeta, bool accumulate)
    {
        var (n, c, s) = ChannelLayout.Of(x);
        if (Sliced(n, c, s, x, dy, dx) is { } slicing)
            BatchNormBackwardSliced(slicing, x, dy, gamma, savedMean, savedInvStd, eluAlpha: null, dx, dgamma, dbeta, accumulate);
        else
            Gpu(x).Launch("batchnorm_backward_f32", c, Ptr(x), Ptr(dy), Ptr(gamma), Ptr(savedMean), Ptr(savedInvStd), Ptr(dx), Ptr(dgamma),
                Ptr(dbeta), (uint)n, (uint)c, (uint)s, accumulate ? 1u : 0u);
    }

    /// <summary>
    /// Sliced: batchnorm_backward_data_f32 applies ELU's derivative as it writes (throughElu), so the
    /// gradient between the two never goes to memory. Otherwise (BatchNorm1d's S = 1) the two backward
    /// passes, one after the other.
    /// </summary>
    public void BatchNormEluBackward(Tensor x, Tensor dy, Tensor gamma, Tensor savedMean, Tensor savedInvStd, double alpha,
        Tensor du, Tensor dgamma, Tensor dbeta)
    {
        var (n, c, s) = ChannelLayout.Of(x);
        if (Sliced(n, c, s, x, dy, du) is { } slicing)
        {
            BatchNormBackwardSliced(slicing, x, dy, gamma, savedMean, savedInvStd, alpha, du, dgamma, dbeta, accumulate: false);
            return;
        }
        var dx = Tensor.Empty(x.Shape, x.DType, x.Device);
        BatchNormBackward(x, dy, gamma, savedMean, savedInvStd, dx, dgamma, dbeta, accumulate: false);
        EluBackward(x, dx, du, alpha);
    }

    /// <summary>The three sliced backward kernels: per-slice sums, their merge (dgamma, dbeta), then dx (through an ELU with an alpha).</summary>
    private void BatchNormBackwardSliced(BatchNormSlicing slicing, Tensor x, Tensor dy, Tensor gamma, Tensor savedMean, Tensor savedInvStd,
        double? eluAlpha, Tensor dx, Tensor dgamma, Tensor dbeta, bool accumulate)
    {
        var gpu = Gpu(x);
        var partials = Tensor.Empty(new Shape(checked((int)slicing.PartialFloats)), DType.Float32, x.Device);
        var sums = Tensor.Empty(new Shape(slicing.Channels, 2), DType.Float32, x.Device);
        var shape = SlicingArguments(slicing);
        gpu.Launch("batchnorm_backward_sums_f32", slicing.Blocks, [Ptr(x), Ptr(dy), Ptr(savedMean), Ptr(partials), .. shape]);
        gpu.Launch("batchnorm_backward_finalize_f32", slicing.Channels, Ptr(partials), Ptr(savedInvStd), Ptr(dgamma), Ptr(dbeta), Ptr(sums),
            (uint)slicing.Channels, (uint)slicing.Slices, accumulate ? 1u : 0u);
        gpu.Launch("batchnorm_backward_data_f32", slicing.Blocks, [Ptr(x), Ptr(dy), Ptr(gamma), Ptr(savedMean), Ptr(savedInvStd), Ptr(sums), Ptr(dx),
            .. shape, eluAlpha is null ? 0u : 1u, (float)(eluAlpha ?? 0)]);
    }

    public void MaxPool2x2Forward(Tensor x, Tensor y, Tensor argmax) =>
        Gpu(x).Launch("maxpool2x2_forward_f32", y.ElementCount, Ptr(x), Ptr(y), Ptr(argmax), (uint)y.ElementCount, (uint)x.Shape[2], (uint)x.Shape[3]);

    public void MaxPool2x2Backward(Tensor dy, Tensor argmax, Tensor dx) =>
        Gpu(dy).Launch("maxpool2x2_backward_f32", dx.ElementCount, Ptr(dy), Ptr(argmax), Ptr(dx), (uint)dx.ElementCount, (uint)dx.Shape[2], (uint)dx.Shape[3]);

    public void DropoutForward(Tensor x, double p, ulong seed, ulong stream, Tensor step, Tensor y, Tensor mask)
    {
        RequireVectorAligned("dropout", x, y, mask);
        Gpu(x).Launch("dropout_forward_f32", x.ElementCount, Ptr(x), Ptr(y), Ptr(mask), (uint)x.ElementCount, seed, stream, Ptr(step),
            Philox.DropThreshold(p), (float)(1.0 / (1.0 - p)));
    }

    public void DropoutBackward(Tensor dy, Tensor mask, double p, Tensor dx) =>
        Gpu(dy).Launch("dropout_backward_f32", dx.ElementCount, Ptr(dy), Ptr(mask), Ptr(dx), (uint)dx.ElementCount, (float)(1.0 / (1.0 - p)));

    // ---- loss and reductions ----------------------------------------------------------------------

    public void SoftmaxCrossEntropy(Tensor logits, Tensor labels, Tensor loss, Tensor dlogits)
    {
        RequireFloat32("softmax cross-entropy", logits);
        int rows = logits.Shape[0], classes = logits.Shape[1];
        var rowLoss = Tensor.Empty(new Shape(rows), DType.Float32, logits.Device);
        var gpu = Gpu(logits);
        gpu.Launch("softmax_cross_entropy_f32", rows, Ptr(logits), Ptr(labels), Ptr(rowLoss), Ptr(dlogits), (uint)rows, (uint)classes);
        gpu.Launch("softmax_cross_entropy_mean_f32", rows, Ptr(rowLoss), Ptr(labels), Ptr(loss), (uint)rows);
    }

    /// <summary>One softmax_cross_entropy_f32 per task (rows of loss side by side), then one joint_loss_f32 for all the means and the total.</summary>
    public void JointSoftmaxCrossEntropy(IReadOnlyList<Tensor> logits, IReadOnlyList<Tensor> labels, IReadOnlyList<double> weights, Tensor losses, Tensor dlogits)
    {
        RequireFloat32("joint softmax cross-entropy", logits[0]);
        int tasks = logits.Count, rows = logits[0].Shape[0];
        if (tasks is < 1 or > IBackend.JointLossTasks || logits.Any(l => l.Shape[0] != rows))
            throw new ArgumentException($"joint softmax cross-entropy: 1 to {IBackend.JointLossTasks} tasks of the same row count; got {string.Join(", ", logits.Select(l => l.Shape))}.");
        var rowLoss = Tensor.Empty(new Shape(tasks, rows), DType.Float32, losses.Device);
        var gpu = Gpu(losses);
        long offset = 0;
        for (int t = 0; t < tasks; t++)
        {
            int classes = logits[t].Shape[1];
            // The tasks' [N, K_t] gradients lie back to back in dlogits: offset counts floats, 4 bytes each.
            gpu.Launch("softmax_cross_entropy_f32", rows, Ptr(logits[t]), Ptr(labels[t]), Ptr(rowLoss.Slice(t, 1)), Ptr(dlogits) + 4 * (ulong)offset, (uint)rows, (uint)classes);
            offset += logits[t].ElementCount;
        }
        ulong LabelsOf(int t) => t < tasks ? Ptr(labels[t]) : 0UL;
        float WeightOf(int t) => t < tasks ? (float)weights[t] : 0f;
        gpu.Launch("joint_loss_f32", rows, Ptr(rowLoss), LabelsOf(0), LabelsOf(1), LabelsOf(2), LabelsOf(3), Ptr(losses), (uint)rows, (uint)tasks,
            WeightOf(0), WeightOf(1), WeightOf(2), WeightOf(3));
    }

    public void ScaleSegments(Tensor x, IReadOnlyList<long> segmentLengths, IReadOnlyList<double> weights, Tensor s, Tensor y)
    {
        RequireFloat32("scale segments", x);
        if (segmentLengths.Count is < 1 or > IBackend.JointLossTasks)
            throw new ArgumentException($"scale segments: 1 to {IBackend.JointLossTasks} segments; got {segmentLengths.Count}.");
        uint LengthOf(int t) => t < segmentLengths.Count ? checked((uint)segmentLengths[t]) : 0u;
        float WeightOf(int t) => t < segmentLengths.Count ? (float)weights[t] : 0f;
        Gpu(x).Launch("joint_loss_backward_f32", y.ElementCount, Ptr(x), Ptr(y), Ptr(s), LengthOf(0), LengthOf(1), LengthOf(2), LengthOf(3),
            WeightOf(0), WeightOf(1), WeightOf(2), WeightOf(3));
    }

    public void Sum(Tensor x, Tensor y)
    {
        RequireVectorAligned("sum", x);
        Fill(y, 0);   // each block adds its partial sum into y atomically
        Gpu(x).Launch("sum_f32", x.ElementCount, Ptr(x), Ptr(y), (uint)x.ElementCount);
    }

    public void Max(Tensor x, Tensor y)
    {
        RequireFloat32("max", x);
        if (x.ElementCount == 0) throw new ArgumentException($"max of an empty tensor {x.Shape} is undefined.");
        Gpu(x).Launch("max_f32", x.ElementCount, Ptr(x), Ptr(y), (uint)x.ElementCount);
    }

    public void Argmax(Tensor x, Tensor indices)
    {
        RequireFloat32("argmax", x);
        Gpu(x).Launch("argmax_f32", x.Shape[0], Ptr(x), Ptr(indices), (uint)x.Shape[0], (uint)x.Shape[1]);
    }

    public void CountCorrect(Tensor predictions, Tensor labels, Tensor correct, Tensor labelled)
    {
        Fill(correct, 0);   // each block adds its counts into these atomically
        Fill(labelled, 0);
        Gpu(labels).Launch("count_correct_i64", labels.ElementCount, Ptr(predictions), Ptr(labels), Ptr(correct), Ptr(labelled), (uint)labels.ElementCount);
    }

    // ---- input ----------------------------------------------------------------------------------------

    public void ImageBatch(Tensor pixels, Tensor x, ImageAugmentation? augmentation)
    {
        RequireFloat32("image batch", x);
        var a = augmentation ?? default;
        Gpu(x).Launch("image_batch_u8", x.Shape[0], Ptr(pixels), Ptr(x), (uint)x.Shape[0], (uint)x.Shape[1], (uint)x.Shape[2], (uint)x.Shape[3],
            a.Seed, a.Stream, (ulong)a.FirstPosition, augmentation is null ? 0u : 1u);
    }

    // ---- optimisers --------------------------------------------------------------------------------

    /// <summary>
    /// The fused Adam kernel over up to 64 tensors per launch (their addresses passed by value in an
    /// <see cref="AdamTable"/>); constants rounded on the host exactly as the reference does, the
    /// step's two scalars read from device memory.
    /// </summary>
    public void AdamUpdate(IReadOnlyList<AdamTensors> tensors, AdamHyperparameters h, Tensor stepScalars)
    {
        RequireFloat32("adam", stepScalars);
        var entries = new List<AdamTableEntry>(tensors.Count);
        foreach (var (p, g, m, v) in tensors)
        {
            RequireFloat32("adam", p);
            RequireVectorAligned("adam", p, g, m, v);
            entries.Add(new(Ptr(p), Ptr(g), Ptr(m), Ptr(v), checked((int)p.ElementCount)));
        }
        foreach (var table in AdamTable.Batches(entries))
            Gpu(stepScalars).Launch("adam_f32", table.Chunks, table.Parameter, (uint)table.TensorCount,
                (float)h.Beta1, (float)h.Beta2, (float)(1 - h.Beta1), (float)(1 - h.Beta2), (float)h.Epsilon, (float)h.WeightDecay, Ptr(stepScalars));
    }

    /// <summary>The fused SGD kernel; -lr, momentum and weight decay rounded to float as the reference does.</summary>
    public void SgdUpdate(Tensor parameter, Tensor gradient, Tensor momentumBuffer, double lr, double momentum, double weightDecay, int step)
    {
        RequireFloat32("sgd", parameter);
        Gpu(parameter).Launch("sgd_f32", parameter.ElementCount, Ptr(parameter), Ptr(gradient), Ptr(momentumBuffer), (uint)parameter.ElementCount,
            (float)-lr, (float)momentum, (float)weightDecay, step == 1 ? 1u : 0u);
    }
}
