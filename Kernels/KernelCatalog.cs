using System.Collections.Concurrent;
using FerEngine.Kernels.Emulator;

namespace FerEngine.Kernels;

/// <summary>One kernel parameter: its PTX type (u64 = device address) and what it holds.</summary>
public sealed record KernelParameter(string Name, string Type, string Meaning);

/// <summary>
/// One hand-written kernel: its .entry name, the .ptx file that holds it, its parameters in order,
/// and its launch-shape rule (threads per block, and the grid for a given element / row count).
/// </summary>
public sealed record KernelInfo(string Name, string File, IReadOnlyList<KernelParameter> Parameters,
    int BlockSize, string LaunchRule, Func<long, LaunchGrid> Shape)
{
    /// <summary>The launch shape for <paramref name="count"/> elements (or rows, see <see cref="LaunchRule"/>).</summary>
    public LaunchGrid LaunchFor(long count) => Shape(count);
}

/// <summary>
/// The catalogue of hand-written PTX kernels (the .ptx files are embedded resources named by
/// file name). Launchers (the CUDA backend, the emulated device, tests) take names, parameter
/// orders and launch shapes from here, never from copies of their own.
/// </summary>
public static class KernelCatalog
{
    /// <summary>Most blocks a grid-stride kernel is launched with; more would only add scheduling work.</summary>
    public const int MaxGridBlocks = 4096;

    private static KernelParameter P(string name, string type, string meaning) => new(name, type, meaning);

    /// <summary>Blocks of 256 threads, one thread per float4 (the n % 4 tail is covered by the first threads).</summary>
    private static KernelInfo Vectorised(string name, string file, params KernelParameter[] parameters) =>
        new(name, file, parameters, 256, "256 threads; ceil(max(n/4, 1) / 256) blocks, at most 4096 (grid-stride)",
            n => LaunchGrid.Linear(Blocks(Math.Max(n / 4, 1), 256), 256));

    /// <summary>Blocks of 256 threads, one thread per element.</summary>
    private static KernelInfo Scalar(string name, string file, params KernelParameter[] parameters) =>
        new(name, file, parameters, 256, "256 threads; ceil(n / 256) blocks, at most 4096 (grid-stride)",
            n => LaunchGrid.Linear(Blocks(n, 256), 256));

    /// <summary>One 256-thread block per channel (grid-stride over channels): the launch count is C.</summary>
    private static KernelInfo PerChannel(string name, string file, params KernelParameter[] parameters) =>
        new(name, file, parameters, 256, "256 threads; one block per channel (C blocks, at most 4096, grid-stride)",
            channels => LaunchGrid.Linear(Blocks(channels, 1), 256));

    /// <summary>One 256-thread block per (channel, slice) pair of <see cref="BatchNormSlicing"/>: the launch count is C * K.</summary>
    private static KernelInfo PerSlice(string name, params KernelParameter[] parameters) =>
        new(name, "BatchNormSliced.ptx", parameters, 256, "256 threads; one block per (channel, slice) pair (C * K blocks, at most 4096, grid-stride)",
            blocks => LaunchGrid.Linear(Blocks(blocks, 1), 256));

    /// <summary>The shape parameters every sliced batch-norm kernel takes after its pointers.</summary>
    private static KernelParameter[] Slicing =>
    [
        P("batch", "u32", "N"), P("channels", "u32", "C"), P("spatial4", "u32", "S / 4 (S % 4 == 0)"),
        P("slices", "u32", "K slices per channel (BatchNormSlicing.Slices)"), P("unitsPerSlice", "u32", "U float4 units per slice"),
    ];

    /// <summary>256 threads (8 warps), one row per warp (grid-stride over rows): the launch count is the row count.</summary>
    private static KernelInfo PerRowWarp(string name, string file, params KernelParameter[] parameters) =>
        new(name, file, parameters, 256, "256 threads (8 warps, one row per warp); ceil(rows / 8) blocks, at most 4096 (grid-stride over rows)",
            rows => LaunchGrid.Linear(Blocks(rows, 8), 256));

    private static int Blocks(long items, int perBlock) => (int)Math.Clamp((items + perBlock - 1) / perBlock, 1, MaxGridBlocks);

    public static IReadOnlyList<KernelInfo> All { get; } =
    [
        Vectorised("fill_f32", "Elementwise.ptx", P("y", "u64", "float32 [n] output"), P("n", "u32", "element count"), P("value", "f32", "the fill value")),
        Vectorised("copy_f32", "Elementwise.ptx", P("x", "u64", "float32 [n] input"), P("y", "u64", "float32 [n] output"), P("n", "u32", "element count")),
        Vectorised("add_f32", "Elementwise.ptx", P("a", "u64", "float32 [n]"), P("b", "u64", "float32 [n]"), P("y", "u64", "float32 [n] = a + b"), P("n", "u32", "element count")),
        Vectorised("scale_f32", "Elementwise.ptx", P("x", "u64", "float32 [n]"), P("y", "u64", "float32 [n] = alpha * x"), P("n", "u32", "element count"), P("alpha", "f32", "scale")),
        Vectorised("scale_by_f32", "Elementwise.ptx", P("x", "u64", "float32 [n]"), P("y", "u64", "float32 [n] = s[0] * x"), P("n", "u32", "element count"),
            P("s", "u64", "float32 [1] on the device (not inside y)")),
        Vectorised("axpy_f32", "Elementwise.ptx", P("x", "u64", "float32 [n]"), P("y", "u64", "float32 [n], y += alpha * x"), P("n", "u32", "element count"), P("alpha", "f32", "scale")),
        Vectorised("elu_forward_f32", "Elementwise.ptx", P("x", "u64", "float32 [n]"), P("y", "u64", "float32 [n] = elu(x)"),
            P("n", "u32", "element count"), P("alpha", "f32", "ELU alpha")),
        Vectorised("elu_backward_f32", "Elementwise.ptx", P("y", "u64", "float32 [n] forward output"), P("dy", "u64", "float32 [n]"),
            P("dx", "u64", "float32 [n]"), P("n", "u32", "element count"), P("alpha", "f32", "ELU alpha")),

        PerRowWarp("softmax_cross_entropy_f32", "SoftmaxCrossEntropy.ptx",
            P("logits", "u64", "float32 [rows, classes]"), P("labels", "u64", "int64 [rows], -1 = missing, < classes (checked by the launcher)"),
            P("rowLoss", "u64", "float32 [rows] output"), P("dlogits", "u64", "float32 [rows, classes] output"),
            P("rows", "u32", "rows"), P("classes", "u32", "classes")),
        new("softmax_cross_entropy_mean_f32", "SoftmaxCrossEntropy.ptx",
            [P("rowLoss", "u64", "float32 [rows]"), P("labels", "u64", "int64 [rows]"), P("loss", "u64", "float32 [1] output: the mean"),
             P("rows", "u32", "rows")],
            32, "one block of one warp (32 threads), whatever the row count", _ => LaunchGrid.Linear(1, 32)),
        new("joint_loss_f32", "SoftmaxCrossEntropy.ptx",
            [P("rowLoss", "u64", "float32 [tasks, rows], task t's from softmax_cross_entropy_f32"),
             P("labels0", "u64", "int64 [rows] of task 0"), P("labels1", "u64", "int64 [rows] of task 1, or 0 without"),
             P("labels2", "u64", "int64 [rows] of task 2, or 0 without"), P("labels3", "u64", "int64 [rows] of task 3, or 0 without"),
             P("losses", "u64", "float32 [1 + tasks] output: the weighted total, then each task's mean"), P("rows", "u32", "rows"),
             P("tasks", "u32", "tasks, 1 to 4"), P("weight0", "f32", "(float)weight of task 0"), P("weight1", "f32", "(float)weight of task 1"),
             P("weight2", "f32", "(float)weight of task 2"), P("weight3", "f32", "(float)weight of task 3")],
            128, "one block of 4 warps (128 threads), one warp per task, whatever the row count", _ => LaunchGrid.Linear(1, 128)),
        Scalar("joint_loss_backward_f32", "SoftmaxCrossEntropy.ptx", P("dlogits", "u64", "float32 [n], the tasks' gradients one after the other"),
            P("dx", "u64", "float32 [n] = dlogits * (weight of its task * g[0])"), P("g", "u64", "float32 [1] on the device: the total's gradient"),
            P("length0", "u32", "elements of task 0"), P("length1", "u32", "elements of task 1 (0 without)"),
            P("length2", "u32", "elements of task 2 (0 without)"), P("length3", "u32", "elements of task 3 (0 without); n is the sum"),
            P("weight0", "f32", "(float)weight of task 0"), P("weight1", "f32", "(float)weight of task 1"),
            P("weight2", "f32", "(float)weight of task 2"), P("weight3", "f32", "(float)weight of task 3")),

        new("adam_f32", "Adam.ptx",
            [P("tensors", "b8", $"{AdamTable.Bytes} bytes by value: up to {AdamTable.MaxTensors} entries {{p, grad, m, v: u64; n, firstChunk: u32}} (AdamTable)"),
             P("tensorCount", "u32", "entries in the table"),
             P("beta1", "f32", "(float)beta1"), P("beta2", "f32", "(float)beta2"), P("oneMinusBeta1", "f32", "(float)(1 - beta1)"),
             P("oneMinusBeta2", "f32", "(float)(1 - beta2)"), P("eps", "f32", "(float)eps"), P("weightDecay", "f32", "(float)weight decay"),
             P("stepScalars", "u64", "float32 [2] in device memory: -lr / (1 - beta1^t), sqrt(1 - beta2^t)")],
            256, $"256 threads; one block per chunk of {AdamTable.ChunkElements} elements (the launch count is the table's chunks)",
            chunks => LaunchGrid.Linear((int)chunks, 256)),

        Scalar("sgd_f32", "Sgd.ptx", P("p", "u64", "float32 [n] parameter, updated"), P("grad", "u64", "float32 [n]"),
            P("buf", "u64", "float32 [n] momentum buffer, updated (untouched when momentum is 0)"), P("n", "u32", "element count"),
            P("negativeLearningRate", "f32", "(float)(-lr)"), P("momentum", "f32", "(float)momentum"), P("weightDecay", "f32", "(float)weight decay"),
            P("firstStep", "u32", "1 on step 1 (buf = g), else 0")),

        Vectorised("sum_f32", "Reduce.ptx", P("x", "u64", "float32 [n]"), P("y", "u64", "float32 [1], accumulated into (zero it first)"),
            P("n", "u32", "element count")),
        new("max_f32", "Reduce.ptx", [P("x", "u64", "float32 [n], n >= 1"), P("y", "u64", "float32 [1] output: the max (NaN if any is NaN)"), P("n", "u32", "element count")],
            256, "one block of 256 threads, whatever n (the result is read by the host; not a per-step kernel)", _ => LaunchGrid.Linear(1, 256)),
        PerRowWarp("argmax_f32", "Reduce.ptx", P("x", "u64", "float32 [rows, classes]"), P("indices", "u64", "int64 [rows] output"),
            P("rows", "u32", "rows"), P("classes", "u32", "classes")),
        Scalar("count_correct_i64", "Reduce.ptx", P("predictions", "u64", "int64 [n]"), P("labels", "u64", "int64 [n], -1 = missing"),
            P("correct", "u64", "int64 [1], accumulated into (zero it first)"), P("labelled", "u64", "int64 [1], accumulated into (zero it first)"),
            P("n", "u32", "element count")),

        new("image_batch_u8", "ImageBatch.ptx",
            [P("pixels", "u64", "uint8 [N, C, H, W]"), P("x", "u64", "float32 [N, C, H, W] output = pixel / 255, augmented"),
             P("images", "u32", "N (the launch count)"), P("channels", "u32", "C"), P("height", "u32", "H"), P("width", "u32", "W"),
             P("seed", "u64", "Philox key"), P("stream", "u64", "Philox stream"), P("firstPosition", "u64", "position of image 0 (the word index)"),
             P("augment", "u32", "1: crop and flip, 0: plain conversion")],
            256, "256 threads; one block per image (N blocks, at most 4096, grid-stride over images)",
            images => LaunchGrid.Linear(Blocks(images, 1), 256)),

        new("dropout_forward_f32", "Dropout.ptx",
            [P("x", "u64", "float32 [n]"), P("y", "u64", "float32 [n] = keep ? x * scale : 0"), P("mask", "u64", "uint8 [n] = keep"),
             P("n", "u32", "element count"), P("seed", "u64", "Philox key"), P("stream", "u64", "Philox stream of the layer"),
             P("step", "u64", "int64 [1] in device memory: the training step, added to the stream"),
             P("threshold", "u32", "Philox.DropThreshold(p)"), P("scale", "f32", "(float)(1 / (1 - p))")],
            256, "256 threads, one per Philox block of 4 elements; ceil(ceil(n/4) / 256) blocks, at most 4096 (grid-stride)",
            n => LaunchGrid.Linear(Blocks((n + 3) / 4, 256), 256)),
        Scalar("dropout_backward_f32", "Dropout.ptx", P("dy", "u64", "float32 [n]"), P("mask", "u64", "uint8 [n]"),
            P("dx", "u64", "float32 [n] = mask ? dy * scale : 0"), P("n", "u32", "element count"), P("scale", "f32", "(float)(1 / (1 - p))")),

        Scalar("maxpool2x2_forward_f32", "MaxPool.ptx", P("x", "u64", "float32 [N, C, H, W]"), P("y", "u64", "float32 [N, C, H/2, W/2]"),
            P("argmax", "u64", "int32 [N, C, H/2, W/2], window position 0..3"), P("outputs", "u32", "N * C * (H/2) * (W/2) (the launch count)"),
            P("height", "u32", "H"), P("width", "u32", "W")),
        new("maxpool2x2_backward_f32", "MaxPool.ptx",
            [P("dy", "u64", "float32 [N, C, H/2, W/2]"), P("argmax", "u64", "int32, from the forward"),
             P("dx", "u64", "float32 [N, C, H, W], fully written"), P("inputs", "u32", "N * C * H * W (the launch count)"),
             P("height", "u32", "H"), P("width", "u32", "W")],
            256, "256 threads, one per 2x2 window; ceil(max(n/4, 1) / 256) blocks, at most 4096 (grid-stride)",
            inputs => LaunchGrid.Linear(Blocks(Math.Max(inputs / 4, 1), 256), 256)),

        PerChannel("batchnorm_forward_training_f32", "BatchNorm.ptx", P("x", "u64", "float32 [N, C, S]"), P("gamma", "u64", "float32 [C]"), P("beta", "u64", "float32 [C]"),
            P("runningMean", "u64", "float32 [C], updated"), P("runningVar", "u64", "float32 [C], updated"), P("y", "u64", "float32 [N, C, S]"),
            P("savedMean", "u64", "float32 [C] output"), P("savedInvStd", "u64", "float32 [C] output"), P("batch", "u32", "N"),
            P("channels", "u32", "C (the launch count)"), P("spatial", "u32", "S = H * W, or 1"), P("momentum", "f32", "running-average momentum"),
            P("eps", "f32", "variance epsilon")),
        Scalar("batchnorm_forward_inference_f32", "BatchNorm.ptx", P("x", "u64", "float32 [N, C, S]"), P("gamma", "u64", "float32 [C]"),
            P("beta", "u64", "float32 [C]"), P("runningMean", "u64", "float32 [C]"), P("runningVar", "u64", "float32 [C]"),
            P("y", "u64", "float32 [N, C, S]"), P("n", "u32", "N * C * S (the launch count)"), P("channels", "u32", "C"),
            P("spatial", "u32", "S"), P("eps", "f32", "variance epsilon")),
        PerChannel("batchnorm_backward_f32", "BatchNorm.ptx", P("x", "u64", "float32 [N, C, S]"), P("dy", "u64", "float32 [N, C, S]"), P("gamma", "u64", "float32 [C]"),
            P("savedMean", "u64", "float32 [C]"), P("savedInvStd", "u64", "float32 [C]"), P("dx", "u64", "float32 [N, C, S] output"),
            P("dgamma", "u64", "float32 [C]"), P("dbeta", "u64", "float32 [C]"), P("batch", "u32", "N"), P("channels", "u32", "C (the launch count)"),
            P("spatial", "u32", "S"), P("accumulate", "u32", "1: add into dgamma / dbeta, 0: overwrite")),

        PerSlice("batchnorm_statistics_f32", [P("u", "u64", "float32 [N, C, S], 16-byte aligned: the pre-activation (throughElu), else x"),
            P("bias", "u64", "float32 [C] added to u (throughElu), or 0 for none"),
            P("x", "u64", "float32 [N, C, S], 16-byte aligned: what is normalised; written when throughElu"),
            P("partials", "u64", "float32 [C, K, 2] output: slice mean, slice M2"), .. Slicing,
            P("throughElu", "u32", "1: x = ELU(u + bias) is made and written; 0: x is read"), P("eluAlpha", "f32", "ELU alpha")]),
        PerChannel("batchnorm_finalize_statistics_f32", "BatchNormSliced.ptx", [P("partials", "u64", "float32 [C, K, 2] from batchnorm_statistics_f32"),
            P("runningMean", "u64", "float32 [C], updated"), P("runningVar", "u64", "float32 [C], updated"),
            P("savedMean", "u64", "float32 [C] output"), P("savedInvStd", "u64", "float32 [C] output"), .. Slicing,
            P("momentum", "f32", "running-average momentum"), P("eps", "f32", "variance epsilon")]),
        PerSlice("batchnorm_normalize_f32", [P("x", "u64", "float32 [N, C, S], 16-byte aligned"), P("gamma", "u64", "float32 [C]"),
            P("beta", "u64", "float32 [C]"), P("savedMean", "u64", "float32 [C]"), P("savedInvStd", "u64", "float32 [C]"),
            P("y", "u64", "float32 [N, C, S] output, 16-byte aligned"), .. Slicing]),
        PerSlice("batchnorm_backward_sums_f32", [P("x", "u64", "float32 [N, C, S], 16-byte aligned"), P("dy", "u64", "float32 [N, C, S], 16-byte aligned"),
            P("savedMean", "u64", "float32 [C]"), P("partials", "u64", "float32 [C, K, 2] output: sum dy, sum dy * (x - mean)"), .. Slicing]),
        PerChannel("batchnorm_backward_finalize_f32", "BatchNormSliced.ptx", [P("partials", "u64", "float32 [C, K, 2] from batchnorm_backward_sums_f32"),
            P("savedInvStd", "u64", "float32 [C]"), P("dgamma", "u64", "float32 [C]"), P("dbeta", "u64", "float32 [C]"),
            P("sums", "u64", "float32 [C, 2] output: sumDy, sumDyXhat"), P("channels", "u32", "C (the launch count)"), P("slices", "u32", "K"),
            P("accumulate", "u32", "1: add into dgamma / dbeta, 0: overwrite")]),
        PerSlice("batchnorm_backward_data_f32", [P("x", "u64", "float32 [N, C, S], 16-byte aligned"), P("dy", "u64", "float32 [N, C, S], 16-byte aligned"),
            P("gamma", "u64", "float32 [C]"), P("savedMean", "u64", "float32 [C]"), P("savedInvStd", "u64", "float32 [C]"),
            P("sums", "u64", "float32 [C, 2] from batchnorm_backward_finalize_f32"), P("dx", "u64", "float32 [N, C, S] output, 16-byte aligned"), .. Slicing,
            P("throughElu", "u32", "1: x is an ELU's output, dx is continued through it (times 1 where x > 0, else x + alpha); 0: plain dx"),
            P("eluAlpha", "f32", "the ELU's alpha (read when throughElu is 1)")]),
    ];

    /// <summary>A kernel by name (every launch asks, so a dictionary, not a search).</summary>
    public static KernelInfo Get(string name) => ByName.TryGetValue(name, out var kernel) ? kernel
        : throw new ArgumentException($"No kernel named '{name}' in the catalogue; known: {string.Join(", ", All.Select(k => k.Name))}.");

    private static readonly Dictionary<string, KernelInfo> ByName = All.ToDictionary(k => k.Name);

    /// <summary>The .ptx files, as embedded in this assembly.</summary>
    public static IReadOnlyList<string> Files => typeof(KernelCatalog).Assembly.GetManifestResourceNames()
        .Where(n => n.EndsWith(".ptx")).Order().ToArray();

    /// <summary>The PTX text of an embedded .ptx file.</summary>
    public static string Source(string file)
    {
        using var stream = typeof(KernelCatalog).Assembly.GetManifestResourceStream(file)
            ?? throw new ArgumentException($"No embedded kernel file '{file}'; embedded: {string.Join(", ", Files)}.");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    private static readonly ConcurrentDictionary<string, PtxModule> Modules = new();

    /// <summary>A .ptx file parsed for the emulator (parsed once, then cached).</summary>
    public static PtxModule Module(string file) => Modules.GetOrAdd(file, f => PtxParser.Parse(Source(f), f));

    /// <summary>The decoded kernel of a catalogue entry, ready for <see cref="PtxInterpreter"/>.</summary>
    public static PtxKernel Emulated(string name) => Module(Get(name).File)[name];
}
