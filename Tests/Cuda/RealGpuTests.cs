using FerEngine.Backends.Cuda;
using FerEngine.Native;

namespace FerEngine.Tests.Cuda;

/// <summary>
/// The shared CUDA backend tests on a real GPU (our driver, cuBLAS and cuDNN bindings, the PTX
/// kernels JIT-compiled by the driver), strict float32 (TF32 off). Without a GPU each test skips
/// and says why; with FERENGINE_REQUIRE_GPU=1 (the GPU host's run) a missing GPU is a failure.
/// </summary>
public class RealGpuTests : CudaBackendTests
{
    private static readonly Lazy<(CudaDevice? Device, string? Why)> Shared = new(() =>
    {
        try { return (CudaDevice.Real(0, tf32: false), null); }
        catch (Exception e) when (e is CudaUnavailableException or FerEngine.Native.Cuda.CudaException) { return (null, e.Message); }
    });

    /// <summary>The real device, or a skip (a failure when FERENGINE_REQUIRE_GPU=1) saying why there is none.</summary>
    public static CudaDevice RequireGpu()
    {
        var (device, why) = Shared.Value;
        if (device is not null) return device;
        string message = $"no real GPU: {why}";
        if (Environment.GetEnvironmentVariable("FERENGINE_REQUIRE_GPU") == "1") Assert.Fail(message + " (FERENGINE_REQUIRE_GPU=1: the GPU tests must run)");
        Assert.Skip(message);
        return null!;
    }

    protected override CudaDevice Gpu => RequireGpu();

    /// <summary>The bar on a GPU: loss 1e-4, gradients 1e-3 (cuDNN sums in another order than the reference).</summary>
    protected override (double Loss, double Gradient, double NoiseFloor) StepTolerances => (1e-4, 1e-3, 1e-4);

    /// <summary>cuDNN and cuBLAS sum in their own orders (tiles, split K, Winograd or FFT transforms).</summary>
    protected override double LibraryTolerance => 1e-4;

    /// <summary>ex2.approx / lg2.approx are a few ulp off the exact functions the emulator uses.</summary>
    protected override double ApproximateMathTolerance => 1e-5;

    /// <summary>cuDNN may pick algorithms that sum in a different order from one call to the next (atomics).</summary>
    protected override double GraphTolerance => 1e-4;

    [Fact]
    public void Device_memory_stays_flat_over_two_thousand_training_steps_replayed_from_a_cuda_graph()
    {
        var device = RequireGpu();
        var gpu = (CudaGpu)device.Gpu;
        var model = new FerEngine.Model.Network.FerNet(new FerEngine.Model.Network.FerNetConfig(Width: 0.25), device, seed: 1);
        using var step = new FerEngine.Model.Training.TrainStep(model, new FerEngine.Optim.Adam(model.NamedParameters(), 3e-4), new FerEngine.Model.Network.TaskWeights(), captureGraph: true);
        var x = Tensor.Uniform(new Shape(32, 1, 48, 48), 0, 1, 1, 1, DType.Float32, device);
        var labels = FerEngine.Model.Network.FerNet.ClassCounts.Select(k => Tensor.FromArray(Enumerable.Range(0, 32).Select(i => (long)(i % k)).ToArray(), new Shape(32), device)).ToArray();
        step.Run(x, labels, 0);
        var afterFirst = (gpu.LiveAllocations.Count, gpu.LiveAllocations.Values.Sum());
        for (ulong s = 1; s < 2000; s++) step.Run(x, labels, s);
        double loss = step.Run(x, labels, 2000).Total.Item();
        Assert.Equal(afterFirst, (gpu.LiveAllocations.Count, gpu.LiveAllocations.Values.Sum()));
        Assert.True(double.IsFinite(loss), $"loss after 2,000 steps is {loss}");
        Assert.True(step.GraphUnavailable is null && step.Replays == 1999, $"replays: {step.Replays} of 1,999 ({step.GraphUnavailable})");
    }

    [Fact]
    public void A_read_begun_before_more_work_is_queued_returns_the_values_of_that_moment()
    {
        // The trainer reads a step's losses after queueing the next step, which overwrites them.
        var device = RequireGpu();
        float[] original = [.. Enumerable.Range(0, 4096).Select(i => (float)i)];
        var t = Tensor.FromArray(original, new Shape(original.Length), device);
        var before = device.Backend.BeginCopyToHost<float>(t);
        device.Backend.Fill(t, 9);
        var after = device.Backend.BeginCopyToHost<float>(t);
        Assert.Equal(original, before.Wait());
        Assert.All(after.Wait(), v => Assert.Equal(9f, v));
        Assert.Same(before.Wait(), before.Wait());   // waited once, the same values after
    }

    [Fact]
    public void A_grown_cudnn_workspace_is_freed_unless_a_graph_was_captured_with_it_and_a_failed_growth_frees_nothing_twice()
    {
        RequireGpu();
        using var context = new FerEngine.Native.Cuda.CudaContext(0);
        using var dnn = new FerEngine.Native.Cuda.CudaDnn(context, tf32: false);
        Assert.Equal((nuint)(1 << 20), dnn.Workspace(1 << 20).Bytes);
        Assert.Equal((nuint)(1 << 20), dnn.Workspace(1000).Bytes);   // a smaller request reuses it
        dnn.Workspace(2 << 20);
        Assert.Equal(0, dnn.RetiredWorkspaces);                    // no graph can hold the 1 MiB buffer: freed
        var (workspace, bytes) = dnn.Workspace(0);
        context.BeginCapture();                                     // a graph that uses the 2 MiB buffer
        context.Memset(workspace, 0, (long)bytes);
        context.DestroyGraph(context.EndCapture());
        dnn.Workspace(4 << 20);
        Assert.Equal(1, dnn.RetiredWorkspaces);                    // kept for that graph
        var outOfMemory = Assert.Throws<FerEngine.Native.Cuda.CudaException>(() => dnn.Workspace(1L << 50));
        Assert.Contains("OUT_OF_MEMORY", outOfMemory.Message);
        Assert.Equal((nuint)(1 << 20), dnn.Workspace(1 << 20).Bytes);   // after the failure a smaller one is allocated afresh
        dnn.Dispose();                                              // frees each buffer once: a second cuMemFree of one would throw here (the using's Dispose then does nothing)
    }
}
