using FerEngine.Backends;
using FerEngine.Random;

namespace FerEngine.Trainer.Learning;

/// <summary>
/// For each PTX kernel of the catalogue, the IBackend primitive that launches it and small inputs
/// to call it with: what `fer trace` runs on the emulated GPU and on the CPU reference, to show one
/// thread's instructions and then check the kernel's result.
/// </summary>
/// <param name="Kernel">the catalogue name of the kernel</param>
/// <param name="Primitive">the primitive that launches it, as a reader would call it</param>
/// <param name="MakeInputs">size -> every tensor of the call, on the CPU reference (outputs included)</param>
/// <param name="Call">the primitive call on a backend, given those tensors (on that backend's device)</param>
/// <param name="Outputs">which of the tensors the call writes</param>
/// <param name="Tolerance">allowed |kernel - reference| / (1 + |reference|); 0 = bit-identical</param>
/// <param name="Bound">where given, the tolerance computed from the tensors after the reference call (a sum's rounding grows with its terms)</param>
/// <param name="MaxSize">the largest N `fer trace` accepts. The emulator runs the whole launch, every thread, so a trace
/// at this N takes up to about a minute (batchnorm_statistics_f32 --size 100000: 33 s on two cores, 51 s on another machine).</param>
public sealed record KernelRecipe(string Kernel, string Primitive, Func<int, Tensor[]> MakeInputs, Action<IBackend, Tensor[]> Call,
    int[] Outputs, double Tolerance = 0, Func<Tensor[], double>? Bound = null, int MaxSize = KernelRecipe.LargestSize)
{
    public const int LargestSize = 100_000;

    /// <summary>The allowed |kernel - reference| / (1 + |reference|), given the tensors after the reference call.</summary>
    public double AllowedError(Tensor[] reference) => Bound?.Invoke(reference) ?? Tolerance;

    // Every warp of softmax_cross_entropy_f32 first counts the labelled rows of the whole batch, so
    // its work grows as rows squared: nothing at a batch of 1024, minutes on the emulator at 100,000.
    private const int SoftmaxMaxSize = 8192;

    private static Device Cpu => Device.CpuReference;

    private static Tensor Floats(ulong stream, params int[] dims) => Tensor.Normal(new Shape(dims), 0, 1, 7, stream, DType.Float32, Cpu);
    private static Tensor Positive(ulong stream, params int[] dims) => Tensor.Uniform(new Shape(dims), 0.5, 2, 7, stream, DType.Float32, Cpu);
    private static Tensor Zeros(DType dtype, params int[] dims) => Tensor.Zeros(new Shape(dims), dtype, Cpu);
    private static readonly AdamHyperparameters TraceAdam = new(LearningRate: 1e-3);

    /// <summary>Values in [0, count) (Int64 or Int32 or UInt8 per dtype), some labels missing (-1) when <paramref name="missing"/>.</summary>
    private static Tensor Integers(ulong stream, int n, int count, DType dtype, bool missing = false)
    {
        var values = Enumerable.Range(0, n).Select(i => (long)(Philox.Word(7, stream, (ulong)i) % (uint)count)).ToArray();
        if (missing) for (int i = 2; i < n; i += 3) values[i] = -1;
        return dtype switch
        {
            DType.Int64 => Tensor.FromArray(values, new Shape(n), Cpu),
            DType.Int32 => Tensor.FromArray(Array.ConvertAll(values, v => (int)v), new Shape(n), Cpu),
            _ => Tensor.FromArray(Array.ConvertAll(values, v => (byte)v), new Shape(n), Cpu),
        };
    }

    private const int Classes = 7;
    private static readonly int[] JointClasses = [7, 3, 3, 5];          // the network's four tasks
    private static readonly double[] JointWeights = [2, 0.1, 1.5, 4];   // and their loss weights

    public static IReadOnlyList<KernelRecipe> All { get; } =
    [
        new("fill_f32", "Fill(y, 0.25)", n => [Zeros(DType.Float32, n)], (b, t) => b.Fill(t[0], 0.25), [0]),
        new("copy_f32", "Copy(x, y)", n => [Floats(1, n), Zeros(DType.Float32, n)], (b, t) => b.Copy(t[0], t[1]), [1]),
        new("add_f32", "Add(a, b, y)", n => [Floats(1, n), Floats(2, n), Zeros(DType.Float32, n)], (b, t) => b.Add(t[0], t[1], t[2]), [2]),
        new("scale_f32", "Scale(x, -1.5, y)", n => [Floats(1, n), Zeros(DType.Float32, n)], (b, t) => b.Scale(t[0], -1.5, t[1]), [1]),
        new("scale_by_f32", "MultiplyByScalar(x, s, y)", n => [Floats(1, n), Floats(2, 1), Zeros(DType.Float32, n)],
            (b, t) => b.MultiplyByScalar(t[0], t[1], t[2]), [2]),
        new("axpy_f32", "Axpy(0.5, x, y)", n => [Floats(1, n), Floats(2, n)], (b, t) => b.Axpy(0.5, t[0], t[1]), [1]),
        new("elu_forward_f32", "EluForward(x, y, alpha 1)", n => [Floats(1, n), Zeros(DType.Float32, n)], (b, t) => b.EluForward(t[0], null, t[1], 1.0), [1],
            Tolerance: 1e-6),   // ex2.approx: a few ulp from the CPU's exp on a GPU
        new("elu_backward_f32", "EluBackward(y, dy, dx, alpha 1)", n => [Floats(1, n), Floats(2, n), Zeros(DType.Float32, n)],
            (b, t) => b.EluBackward(t[0], t[1], t[2], 1.0), [2]),

        new("softmax_cross_entropy_f32", $"SoftmaxCrossEntropy(logits [n, {Classes}], labels, loss, dlogits)",
            n => [Floats(1, n, Classes), Integers(2, n, Classes, DType.Int64, missing: true), Zeros(DType.Float32, 1), Zeros(DType.Float32, n, Classes)],
            (b, t) => b.SoftmaxCrossEntropy(t[0], t[1], t[2], t[3]), [2, 3], Tolerance: 1e-6, MaxSize: SoftmaxMaxSize),
        new("softmax_cross_entropy_mean_f32", $"SoftmaxCrossEntropy(logits [n, {Classes}], labels, loss, dlogits)",
            n => [Floats(1, n, Classes), Integers(2, n, Classes, DType.Int64, missing: true), Zeros(DType.Float32, 1), Zeros(DType.Float32, n, Classes)],
            (b, t) => b.SoftmaxCrossEntropy(t[0], t[1], t[2], t[3]), [2, 3], Tolerance: 1e-6, MaxSize: SoftmaxMaxSize),
        new("joint_loss_f32", "JointSoftmaxCrossEntropy(logits of 7, 3, 3, 5 classes, labels, weights 2, 0.1, 1.5, 4, losses, dlogits)",
            n => [.. JointClasses.Select((k, t) => Floats(10 + (ulong)t, n, k)), .. JointClasses.Select((k, t) => Integers(20 + (ulong)t, n, k, DType.Int64, missing: true)),
                  Zeros(DType.Float32, 1 + JointClasses.Length), Zeros(DType.Float32, n * JointClasses.Sum())],
            (b, t) => b.JointSoftmaxCrossEntropy(t[..4], t[4..8], JointWeights, t[8], t[9]), [8, 9], Tolerance: 1e-6, MaxSize: SoftmaxMaxSize),
        new("joint_loss_backward_f32", "ScaleSegments(dlogits of 7, 3, 3, 5 classes, weights 2, 0.1, 1.5, 4, g, dx)",
            n => [Floats(1, n * JointClasses.Sum()), Floats(2, 1), Zeros(DType.Float32, n * JointClasses.Sum())],
            (b, t) => b.ScaleSegments(t[0], [.. JointClasses.Select(k => k * (t[0].ElementCount / JointClasses.Sum()))], JointWeights, t[1], t[2]), [2]),

        new("adam_f32", "AdamUpdate(p, grad, m, v, lr 1e-3, step scalars of step 3)",
            n => [Floats(1, n), Floats(2, n), Floats(3, n), Positive(4, n), TraceAdam.StepScalarsTensor(3, DType.Float32, Cpu)],
            (b, t) => b.AdamUpdate([new(t[0], t[1], t[2], t[3])], TraceAdam, t[4]), [0, 2, 3]),
        new("sgd_f32", "SgdUpdate(p, grad, buf, lr 0.1, momentum 0.9, weight decay 1e-4, step 2)", n => [Floats(1, n), Floats(2, n), Floats(3, n)],
            (b, t) => b.SgdUpdate(t[0], t[1], t[2], 0.1, 0.9, 1e-4, 2), [0, 2]),

        // Float atomics add the blocks' sums in any order: KERNELS.md's bound, |error| <= 1e-6 sum |x|, over 1 + |sum|.
        new("sum_f32", "Sum(x, y)", n => [Floats(1, n), Zeros(DType.Float32, 1)], (b, t) => b.Sum(t[0], t[1]), [1],
            Bound: t => 1e-6 * t[0].ToDoubles().Sum(Math.Abs) / (1 + Math.Abs(t[1].Item()))),
        new("max_f32", "Max(x, y)", n => [Floats(1, n), Zeros(DType.Float32, 1)], (b, t) => b.Max(t[0], t[1]), [1]),
        new("argmax_f32", $"Argmax(x [n, {Classes}], indices)", n => [Floats(1, n, Classes), Zeros(DType.Int64, n)], (b, t) => b.Argmax(t[0], t[1]), [1]),
        new("count_correct_i64", "CountCorrect(predictions, labels, correct, labelled)",
            n => [Integers(1, n, 3, DType.Int64), Integers(2, n, 3, DType.Int64, missing: true), Zeros(DType.Int64, 1), Zeros(DType.Int64, 1)],
            (b, t) => b.CountCorrect(t[0], t[1], t[2], t[3]), [2, 3]),

        new("dropout_forward_f32", "DropoutForward(x, p 0.3, seed 5, stream 11, step 2, y, mask)",
            n => [Floats(1, n), Zeros(DType.Float32, n), Zeros(DType.UInt8, n), Tensor.FromArray([2L], new Shape(1), Cpu)],
            (b, t) => b.DropoutForward(t[0], 0.3, 5, 11, t[3], t[1], t[2]), [1, 2]),
        new("dropout_backward_f32", "DropoutBackward(dy, mask, p 0.3, dx)", n => [Floats(1, n), Integers(2, n, 2, DType.UInt8), Zeros(DType.Float32, n)],
            (b, t) => b.DropoutBackward(t[0], t[1], 0.3, t[2]), [2]),

        new("maxpool2x2_forward_f32", "MaxPool2x2Forward(x [2, n, 6, 8], y, argmax)",
            n => [Floats(1, 2, n, 6, 8), Zeros(DType.Float32, 2, n, 3, 4), Zeros(DType.Int32, 2, n, 3, 4)],
            (b, t) => b.MaxPool2x2Forward(t[0], t[1], t[2]), [1, 2]),
        new("maxpool2x2_backward_f32", "MaxPool2x2Backward(dy [2, n, 3, 4], argmax, dx)",
            n => [Floats(1, 2, n, 3, 4), Integers(2, 2 * n * 12, 4, DType.Int32).View(new Shape(2, n, 3, 4)), Zeros(DType.Float32, 2, n, 6, 8)],
            (b, t) => b.MaxPool2x2Backward(t[0], t[1], t[2]), [2]),

        new("batchnorm_forward_training_f32", "BatchNormForwardTraining(x [4, n, 3, 3], ...)",
            n => [Floats(1, 4, n, 3, 3), Positive(2, n), Floats(3, n), Floats(4, n), Positive(5, n), Zeros(DType.Float32, 4, n, 3, 3), Zeros(DType.Float32, n), Zeros(DType.Float32, n)],
            (b, t) => b.BatchNormForwardTraining(t[0], t[1], t[2], t[3], t[4], 0.1, 1e-5, t[5], t[6], t[7]), [3, 4, 5, 6, 7], Tolerance: 1e-5),
        new("batchnorm_forward_inference_f32", "BatchNormForwardInference(x [4, n, 3, 3], ...)",
            n => [Floats(1, 4, n, 3, 3), Positive(2, n), Floats(3, n), Floats(4, n), Positive(5, n), Zeros(DType.Float32, 4, n, 3, 3)],
            (b, t) => b.BatchNormForwardInference(t[0], t[1], t[2], t[3], t[4], 1e-5, t[5]), [5], Tolerance: 1e-6),
        new("batchnorm_backward_f32", "BatchNormBackward(x [4, n, 3, 3], dy, ...)",
            n => [Floats(1, 4, n, 3, 3), Floats(2, 4, n, 3, 3), Positive(3, n), Floats(4, n), Positive(5, n), Zeros(DType.Float32, 4, n, 3, 3), Zeros(DType.Float32, n), Zeros(DType.Float32, n)],
            (b, t) => b.BatchNormBackward(t[0], t[1], t[2], t[3], t[4], t[5], t[6], t[7], accumulate: false), [5, 6, 7], Tolerance: 1e-5),

        // S = 16: the sliced kernels (BatchNormSliced.ptx), three launches per primitive call, x = ELU(u + bias) made in the first.
        .. new[] { "batchnorm_statistics_f32", "batchnorm_finalize_statistics_f32", "batchnorm_normalize_f32" }.Select(kernel =>
            new KernelRecipe(kernel, "EluBatchNormForwardTraining(u [4, n, 4, 4], bias, alpha 1, x, ...)",
                n => [Floats(1, 4, n, 4, 4), Floats(6, n), Zeros(DType.Float32, 4, n, 4, 4), Positive(2, n), Floats(3, n), Floats(4, n), Positive(5, n),
                    Zeros(DType.Float32, 4, n, 4, 4), Zeros(DType.Float32, n), Zeros(DType.Float32, n)],
                (b, t) => b.EluBatchNormForwardTraining(t[0], t[1], 1.0, t[2], t[3], t[4], t[5], t[6], 0.1, 1e-5, t[7], t[8], t[9]), [2, 5, 6, 7, 8, 9], Tolerance: 1e-5)),
        .. new[] { "batchnorm_backward_sums_f32", "batchnorm_backward_finalize_f32", "batchnorm_backward_data_f32" }.Select(kernel =>
            new KernelRecipe(kernel, "BatchNormBackward(x [4, n, 4, 4], dy, ...)",
                n => [Floats(1, 4, n, 4, 4), Floats(2, 4, n, 4, 4), Positive(3, n), Floats(4, n), Positive(5, n), Zeros(DType.Float32, 4, n, 4, 4), Zeros(DType.Float32, n), Zeros(DType.Float32, n)],
                (b, t) => b.BatchNormBackward(t[0], t[1], t[2], t[3], t[4], t[5], t[6], t[7], accumulate: false), [5, 6, 7], Tolerance: 1e-5)),

        new("image_batch_u8", "ImageBatch(pixels [n, 1, 12, 12], x, crop and flip)",
            n => [Integers(1, n * 144, 256, DType.UInt8).View(new Shape(n, 1, 12, 12)), Zeros(DType.Float32, n, 1, 12, 12)],
            (b, t) => b.ImageBatch(t[0], t[1], new ImageAugmentation(Seed: 5, Stream: 2UL << 40, FirstPosition: 0)), [1]),
    ];

    public static KernelRecipe? Find(string kernel) => All.FirstOrDefault(r => r.Kernel == kernel);
}
