using FerEngine.Backends.Cpu;
using FerEngine.Kernels;
using FerEngine.Kernels.Emulator;
using static FerEngine.Tests.Kernels.KernelHarness;

namespace FerEngine.Tests.Kernels;

/// <summary>
/// BatchNorm.ptx (one block per channel, any S) and BatchNormSliced.ptx (S % 4 == 0, one block per
/// (channel, slice)) against ReferenceLoops&lt;float&gt; (which accumulates in double): float32 block
/// reductions, so tolerances are 1e-5 absolute + 1e-4 relative (1e-5 for means; statistics over up to ~10^4 values).
/// </summary>
public class BatchNormKernelTests
{
    public static TheoryData<int, int, int> Shapes => new()
    {
        { 1, 1, 2 }, { 2, 3, 1 }, { 4, 31, 1 }, { 3, 5, 33 }, { 8, 4, 13 * 13 }, { 2, 2, 48 * 48 },
    };

    /// <summary>The emulated-memory buffers of one training forward.</summary>
    private sealed record ForwardBuffers(ulong X, ulong Gamma, ulong Beta, ulong RunningMean, ulong RunningVar, ulong Y, ulong SavedMean, ulong SavedInvStd);

    /// <summary>The emulated-memory buffers of one backward (dgamma and dbeta start non-zero: accumulate adds into them).</summary>
    private sealed record BackwardBuffers(ulong X, ulong Dy, ulong Gamma, ulong SavedMean, ulong SavedInvStd, ulong Dx, ulong Dgamma, ulong Dbeta);

    /// <summary>Random inputs for x [batch, channels, spatial] with x in [xLow, xHigh), <paramref name="launch"/>, then every output against the reference.</summary>
    private static void TrainingForwardMatchesTheReference(int batch, int channels, int spatial, float xLow, float xHigh,
        Action<EmulatedMemory, ForwardBuffers> launch)
    {
        int n = batch * channels * spatial;
        float[] x = RandomFloats(n, 41, xLow, xHigh), gamma = RandomFloats(channels, 42, 0.5f, 1.5f), beta = RandomFloats(channels, 43, -1, 1);
        float[] runningMean = RandomFloats(channels, 44, -0.1f, 0.1f), runningVar = RandomFloats(channels, 45, 0.9f, 1.1f);
        var memory = new EmulatedMemory();
        var buffers = new ForwardBuffers(memory.Upload<float>(x), memory.Upload<float>(gamma), memory.Upload<float>(beta), memory.Upload<float>(runningMean),
            memory.Upload<float>(runningVar), memory.Allocate(n * 4L), memory.Allocate(channels * 4L), memory.Allocate(channels * 4L));
        launch(memory, buffers);

        float[] y = new float[n], savedMean = new float[channels], savedInvStd = new float[channels];
        ReferenceLoops<float>.BatchNormForwardTraining(batch, channels, spatial, x, gamma, beta, runningMean, runningVar, 0.1, 1e-5, y, savedMean, savedInvStd);
        AssertClose(y, memory.Read<float>(buffers.Y, n), 1e-5, 1e-4, "y");
        AssertClose(savedMean, memory.Read<float>(buffers.SavedMean, channels), 1e-5, 1e-5, "savedMean");
        AssertClose(savedInvStd, memory.Read<float>(buffers.SavedInvStd, channels), 1e-5, 1e-4, "savedInvStd");
        AssertClose(runningMean, memory.Read<float>(buffers.RunningMean, channels), 1e-5, 1e-5, "runningMean");
        AssertClose(runningVar, memory.Read<float>(buffers.RunningVar, channels), 1e-5, 1e-4, "runningVar");
    }

    /// <summary>Random inputs, <paramref name="launch"/> with accumulate off and on, then dx, dgamma and dbeta against the reference.</summary>
    /// <param name="eluAlpha">given: x is an ELU's output and dx is expected through it, dx (x > 0 ? 1 : x + alpha)</param>
    private static void BackwardMatchesTheReference(int batch, int channels, int spatial, Action<EmulatedMemory, BackwardBuffers, bool> launch,
        float? eluAlpha = null)
    {
        int n = batch * channels * spatial;
        float[] x = RandomFloats(n, 51, -2, 5), dy = RandomFloats(n, 52), gamma = RandomFloats(channels, 53, 0.5f, 1.5f);
        float[] mean = RandomFloats(channels, 54, 1, 2), invStd = RandomFloats(channels, 55, 0.3f, 0.6f);
        float[] dgamma = RandomFloats(channels, 56), dbeta = RandomFloats(channels, 57);
        foreach (bool accumulate in new[] { false, true })
        {
            var memory = new EmulatedMemory();
            var buffers = new BackwardBuffers(memory.Upload<float>(x), memory.Upload<float>(dy), memory.Upload<float>(gamma), memory.Upload<float>(mean),
                memory.Upload<float>(invStd), memory.Allocate(n * 4L), memory.Upload<float>(dgamma), memory.Upload<float>(dbeta));
            launch(memory, buffers, accumulate);

            float[] dx = new float[n], expectedDgamma = (float[])dgamma.Clone(), expectedDbeta = (float[])dbeta.Clone();
            ReferenceLoops<float>.BatchNormBackward(batch, channels, spatial, x, dy, gamma, mean, invStd, dx, expectedDgamma, expectedDbeta, accumulate);
            if (eluAlpha is { } alpha)
                for (int i = 0; i < n; i++) dx[i] = x[i] > 0 ? dx[i] : dx[i] * (x[i] + alpha);
            AssertClose(dx, memory.Read<float>(buffers.Dx, n), 1e-5, 1e-4, $"dx (accumulate {accumulate})");
            AssertClose(expectedDgamma, memory.Read<float>(buffers.Dgamma, channels), 1e-4, 1e-4, $"dgamma (accumulate {accumulate})");
            AssertClose(expectedDbeta, memory.Read<float>(buffers.Dbeta, channels), 1e-4, 1e-4, $"dbeta (accumulate {accumulate})");
        }
    }

    // ---- BatchNorm.ptx ------------------------------------------------------------------------------

    [Theory, MemberData(nameof(Shapes))]
    public void Training_forward_matches_the_reference(int batch, int channels, int spatial) =>
        TrainingForwardMatchesTheReference(batch, channels, spatial, -2, 5, (memory, b) =>
            Launch(memory, "batchnorm_forward_training_f32", channels, b.X, b.Gamma, b.Beta, b.RunningMean, b.RunningVar, b.Y, b.SavedMean, b.SavedInvStd,
                (uint)batch, (uint)channels, (uint)spatial, 0.1f, 1e-5f));

    [Theory, MemberData(nameof(Shapes))]
    public void Inference_forward_matches_the_reference(int batch, int channels, int spatial)
    {
        int n = batch * channels * spatial;
        float[] x = RandomFloats(n, 46), gamma = RandomFloats(channels, 47, 0.5f, 1.5f), beta = RandomFloats(channels, 48, -1, 1);
        float[] runningMean = RandomFloats(channels, 49, -0.5f, 0.5f), runningVar = RandomFloats(channels, 50, 0.5f, 2f);
        var memory = new EmulatedMemory();
        ulong py = memory.Allocate(n * 4L);
        Launch(memory, "batchnorm_forward_inference_f32", n, memory.Upload<float>(x), memory.Upload<float>(gamma), memory.Upload<float>(beta),
            memory.Upload<float>(runningMean), memory.Upload<float>(runningVar), py, (uint)n, (uint)channels, (uint)spatial, 1e-5f);
        float[] y = new float[n];
        ReferenceLoops<float>.BatchNormForwardInference(batch, channels, spatial, x, gamma, beta, runningMean, runningVar, 1e-5, y);
        AssertClose(y, memory.Read<float>(py, n), 1e-6, 1e-5, "y");
    }

    [Theory, MemberData(nameof(Shapes))]
    public void Backward_matches_the_reference(int batch, int channels, int spatial) =>
        BackwardMatchesTheReference(batch, channels, spatial, (memory, b, accumulate) =>
            Launch(memory, "batchnorm_backward_f32", channels, b.X, b.Dy, b.Gamma, b.SavedMean, b.SavedInvStd, b.Dx, b.Dgamma, b.Dbeta,
                (uint)batch, (uint)channels, (uint)spatial, accumulate ? 1u : 0u));

    // ---- BatchNormSliced.ptx ----------------------------------------------------------------------

    /// <summary>
    /// (batch, channels, spatial, units per slice, blocks launched; 0 = the catalogue's C * K). Small
    /// slices cut rows in the middle and leave a short last slice; S4 = S / 4 both below and above the
    /// 256-thread stride; a grid smaller than C * K makes blocks take several slices; K > 256 makes the finalize's
    /// threads merge several slices each.
    /// </summary>
    public static TheoryData<int, int, int, int, int> SlicedShapes => new()
    {
        { 1, 1, 4, 1024, 0 }, { 3, 5, 12, 1024, 0 }, { 3, 5, 12, 2, 0 }, { 4, 3, 36, 7, 5 }, { 5, 2, 144, 50, 0 },
        { 2, 2, 48 * 48, 1024, 0 }, { 2, 2, 48 * 48, 300, 3 }, { 4, 1, 48 * 48, 5, 0 },
    };

    /// <summary>A per-slice kernel: the catalogue's grid for C * K blocks, or <paramref name="blocks"/> when positive.</summary>
    private static void LaunchSliced(EmulatedMemory memory, string name, BatchNormSlicing slicing, int blocks, params object[] pointers) =>
        PtxInterpreter.Launch(KernelCatalog.Emulated(name), blocks > 0 ? LaunchGrid.Linear(blocks, 256) : KernelCatalog.Get(name).LaunchFor(slicing.Blocks),
            memory, [.. pointers, .. SlicingArguments(slicing)]);

    private static object[] SlicingArguments(BatchNormSlicing s) => [(uint)s.Batch, (uint)s.Channels, (uint)s.Spatial4, (uint)s.Slices, (uint)s.UnitsPerSlice];

    /// <summary>
    /// The statistics of x into the running and saved statistics: the sliced forward's first two
    /// kernels. With <paramref name="elu"/>, x = ELU(u + bias) is made from u first and written.
    /// </summary>
    private static void SlicedStatistics(EmulatedMemory memory, BatchNormSlicing slicing, int blocks, ulong x, ulong runningMean, ulong runningVar,
        ulong savedMean, ulong savedInvStd, float momentum, float eps, (ulong U, ulong Bias, float Alpha)? elu = null)
    {
        ulong partials = memory.Allocate(slicing.PartialFloats * 4);
        const string statistics = "batchnorm_statistics_f32";   // its pointers, the slicing, then throughElu and the ELU's alpha
        PtxInterpreter.Launch(KernelCatalog.Emulated(statistics), blocks > 0 ? LaunchGrid.Linear(blocks, 256) : KernelCatalog.Get(statistics).LaunchFor(slicing.Blocks),
            memory, [elu?.U ?? x, elu?.Bias ?? 0UL, x, partials, .. SlicingArguments(slicing), elu is null ? 0u : 1u, elu?.Alpha ?? 0f]);
        Launch(memory, "batchnorm_finalize_statistics_f32", slicing.Channels,
            [partials, runningMean, runningVar, savedMean, savedInvStd, .. SlicingArguments(slicing), momentum, eps]);
    }

    [Theory, MemberData(nameof(SlicedShapes))]
    public void Sliced_training_forward_matches_the_reference(int batch, int channels, int spatial, int unitsPerSlice, int blocks)
    {
        var slicing = new BatchNormSlicing(batch, channels, spatial, unitsPerSlice);
        // x in [3, 9): a mean well away from zero, so that merging the slices' statistics matters.
        TrainingForwardMatchesTheReference(batch, channels, spatial, 3, 9, (memory, b) =>
        {
            SlicedStatistics(memory, slicing, blocks, b.X, b.RunningMean, b.RunningVar, b.SavedMean, b.SavedInvStd, 0.1f, 1e-5f);
            LaunchSliced(memory, "batchnorm_normalize_f32", slicing, blocks, b.X, b.Gamma, b.Beta, b.SavedMean, b.SavedInvStd, b.Y);
        });
    }

    /// <summary>
    /// The statistics kernel with throughElu: x = ELU(u + bias) made from the pre-activation u (in
    /// [-3, 4): both sides of 0 after the bias), written, and normalised; alpha 0.8 so that alpha is
    /// read, not assumed 1. Then without a bias (bias pointer 0).
    /// </summary>
    [Theory, MemberData(nameof(SlicedShapes))]
    public void Sliced_training_forward_of_an_elu_of_a_biased_input_matches_the_reference(int batch, int channels, int spatial, int unitsPerSlice, int blocks)
    {
        var slicing = new BatchNormSlicing(batch, channels, spatial, unitsPerSlice);
        int n = batch * channels * spatial;
        float[] u = RandomFloats(n, 61, -3, 4), bias = RandomFloats(channels, 62, -0.5f, 0.5f), gamma = RandomFloats(channels, 63, 0.5f, 1.5f), beta = RandomFloats(channels, 64, -1, 1);
        foreach (bool withBias in new[] { true, false })
        {
            var memory = new EmulatedMemory();
            ulong pu = memory.Upload<float>(u), pbias = withBias ? memory.Upload<float>(bias) : 0UL, px = memory.Allocate(n * 4L), py = memory.Allocate(n * 4L);
            ulong prm = memory.Allocate(channels * 4L), prv = memory.Upload<float>(new float[channels]), psm = memory.Allocate(channels * 4L), psi = memory.Allocate(channels * 4L);
            ulong pgamma = memory.Upload<float>(gamma), pbeta = memory.Upload<float>(beta);
            SlicedStatistics(memory, slicing, blocks, px, prm, prv, psm, psi, 0.1f, 1e-5f, (pu, pbias, 0.8f));
            LaunchSliced(memory, "batchnorm_normalize_f32", slicing, blocks, px, pgamma, pbeta, psm, psi, py);

            var reference = Device.CpuReference.Backend;
            Tensor T(float[] values, params int[] dims) => Tensor.FromArray((float[])values.Clone(), new Shape(dims), Device.CpuReference);
            var (x, y) = (T(new float[n], batch, channels, spatial, 1), T(new float[n], batch, channels, spatial, 1));
            var (savedMean, savedInvStd, runningMean, runningVar) = (T(new float[channels], channels), T(new float[channels], channels), T(new float[channels], channels), T(new float[channels], channels));
            reference.EluBatchNormForwardTraining(T(u, batch, channels, spatial, 1), withBias ? T(bias, channels) : null, 0.8, x, T(gamma, channels), T(beta, channels),
                runningMean, runningVar, 0.1, 1e-5, y, savedMean, savedInvStd);
            AssertClose(x.ToArray<float>(), memory.Read<float>(px, n), 1e-6, 1e-5, $"x = ELU(u + bias) (bias {withBias})");
            AssertClose(y.ToArray<float>(), memory.Read<float>(py, n), 1e-5, 1e-4, $"y (bias {withBias})");
            AssertClose(savedMean.ToArray<float>(), memory.Read<float>(psm, channels), 1e-5, 1e-5, $"savedMean (bias {withBias})");
            AssertClose(savedInvStd.ToArray<float>(), memory.Read<float>(psi, channels), 1e-5, 1e-4, $"savedInvStd (bias {withBias})");
        }
    }

    [Theory, MemberData(nameof(SlicedShapes))]
    public void Sliced_backward_matches_the_reference(int batch, int channels, int spatial, int unitsPerSlice, int blocks) =>
        SlicedBackwardMatchesTheReference(batch, channels, spatial, unitsPerSlice, blocks, eluAlpha: null);

    /// <summary>
    /// The data kernel with throughElu: dx continued through the ELU whose output x is (x in [-2, 5):
    /// both sides of 0, and below -alpha), alpha 0.8 so that alpha is read, not assumed 1.
    /// </summary>
    [Theory, MemberData(nameof(SlicedShapes))]
    public void Sliced_backward_through_an_elu_matches_the_reference(int batch, int channels, int spatial, int unitsPerSlice, int blocks) =>
        SlicedBackwardMatchesTheReference(batch, channels, spatial, unitsPerSlice, blocks, eluAlpha: 0.8f);

    /// <summary>The three sliced backward kernels; batchnorm_backward_data_f32 through an ELU when <paramref name="eluAlpha"/> is given.</summary>
    private static void SlicedBackwardMatchesTheReference(int batch, int channels, int spatial, int unitsPerSlice, int blocks, float? eluAlpha)
    {
        var slicing = new BatchNormSlicing(batch, channels, spatial, unitsPerSlice);
        BackwardMatchesTheReference(batch, channels, spatial, (memory, b, accumulate) =>
        {
            ulong partials = memory.Allocate(slicing.PartialFloats * 4), sums = memory.Allocate(channels * 8L);
            LaunchSliced(memory, "batchnorm_backward_sums_f32", slicing, blocks, b.X, b.Dy, b.SavedMean, partials);
            Launch(memory, "batchnorm_backward_finalize_f32", channels, partials, b.SavedInvStd, b.Dgamma, b.Dbeta, sums,
                (uint)channels, (uint)slicing.Slices, accumulate ? 1u : 0u);
            const string data = "batchnorm_backward_data_f32";   // its pointers, the slicing, then throughElu and the ELU's alpha
            PtxInterpreter.Launch(KernelCatalog.Emulated(data), blocks > 0 ? LaunchGrid.Linear(blocks, 256) : KernelCatalog.Get(data).LaunchFor(slicing.Blocks),
                memory, [b.X, b.Dy, b.Gamma, b.SavedMean, b.SavedInvStd, sums, b.Dx, .. SlicingArguments(slicing), eluAlpha is null ? 0u : 1u, eluAlpha ?? 0f]);
        }, eluAlpha);
    }

    /// <summary>
    /// Chan's merge keeps the variance of data far from zero: mean 1000, spread 1e-2 (a naive
    /// sum-of-squares formula in float32 loses every digit here). Many small slices, so the merge
    /// does the work.
    /// </summary>
    [Fact]
    public void Sliced_statistics_keep_the_variance_of_data_with_a_large_mean()
    {
        const int batch = 8, channels = 2, spatial = 64;
        var slicing = new BatchNormSlicing(batch, channels, spatial, UnitsPerSlice: 5);
        int n = batch * channels * spatial;
        float[] x = Array.ConvertAll(RandomFloats(n, 81, -0.01f, 0.01f), v => 1000f + v);
        var memory = new EmulatedMemory();
        ulong prm = memory.Allocate(channels * 4L), prv = memory.Allocate(channels * 4L), psm = memory.Allocate(channels * 4L), psi = memory.Allocate(channels * 4L);
        SlicedStatistics(memory, slicing, 0, memory.Upload<float>(x), prm, prv, psm, psi, momentum: 1f, eps: 0f);

        float[] y = new float[n], savedMean = new float[channels], savedInvStd = new float[channels], runningMean = new float[channels], runningVar = new float[channels];
        ReferenceLoops<float>.BatchNormForwardTraining(batch, channels, spatial, x, new float[channels], new float[channels], runningMean, runningVar, 1, 0, y, savedMean, savedInvStd);
        AssertClose(savedInvStd, memory.Read<float>(psi, channels), 0, 1e-3, "invStd (1 / spread)");
        AssertClose(runningVar, memory.Read<float>(prv, channels), 0, 2e-3, "unbiased variance (momentum 1)");
    }
}
