using FerEngine.Backends.Cuda;
using FerEngine.Model.Evaluation;
using FerEngine.Model.Network;
using FerEngine.Model.Training;
using FerEngine.Ops;
using FerEngine.Optim;

namespace FerEngine.Tests.Cuda;

/// <summary>Device memory stays flat: steps reuse their arena, finished passes give theirs back.</summary>
public class DeviceMemoryTests
{
    private static (CudaDevice Device, EmulatedGpu Gpu) NewDevice()
    {
        var gpu = new EmulatedGpu();
        return (new CudaDevice(gpu), gpu);
    }

    private static long LiveBytes(EmulatedGpu gpu) => gpu.LiveAllocations.Values.Sum();

    [Fact]
    public void Training_steps_of_the_paper_net_keep_device_memory_flat()
    {
        var (device, gpu) = NewDevice();
        var model = new FerNet(new FerNetConfig(Width: 0.125, Height: 8, ImageWidth: 8), device, seed: 3);
        using var step = new TrainStep(model, new Adam(model.NamedParameters(), 1e-3), new TaskWeights());
        var x = Tensor.Uniform(new Shape(2, 1, 8, 8), 0, 1, 1, 1, DType.Float32, device);
        var labels = FerNet.ClassCounts.Select(k => Tensor.FromArray(new long[] { 0, k - 1 }, new Shape(2), device)).ToArray();

        step.Run(x, labels, 0);
        var afterFirst = (Count: gpu.LiveAllocations.Count, Bytes: LiveBytes(gpu));
        for (ulong s = 1; s < 10; s++) step.Run(x, labels, s);
        Assert.Equal(afterFirst, (gpu.LiveAllocations.Count, LiveBytes(gpu)));
    }

    [Fact]
    public void Ten_thousand_steps_in_one_arena_allocate_nothing_after_the_first()
    {
        // A small step (linear layer, loss, backward, Adam) through the same arena machinery as the
        // training step, cheap enough in the emulator to repeat 10,000 times.
        var (device, gpu) = NewDevice();
        var layer = new FerEngine.Nn.Linear(new FerEngine.Nn.ParameterFactory(device, seed: 1), 5, 3);
        var adam = new Adam(layer.NamedParameters(), 1e-3);
        var x = Tensor.Uniform(new Shape(4, 5), -1, 1, 2, 2, DType.Float32, device);
        var labels = Tensor.FromArray(new long[] { 0, 2, -1, 1 }, new Shape(4), device);
        using var arena = device.CreateArena("tiny");
        void Step()
        {
            using var _ = device.BeginStep(arena);
            adam.ZeroGrad();
            Functional.SoftmaxCrossEntropy(layer.Forward(x), labels).Backward();
            adam.Step();
        }

        Step();
        var afterFirst = (Count: gpu.LiveAllocations.Count, Bytes: LiveBytes(gpu), arena.Allocations);
        for (int s = 1; s < 10_000; s++) Step();
        Assert.Equal(afterFirst, (gpu.LiveAllocations.Count, LiveBytes(gpu), arena.Allocations));
    }

    [Fact]
    public void Evaluation_passes_and_disposed_arenas_give_their_memory_back()
    {
        var (device, gpu) = NewDevice();
        var model = new FerNet(new FerNetConfig(Width: 0.125, Height: 8, ImageWidth: 8), device, seed: 3);
        var x = Tensor.Uniform(new Shape(3, 1, 8, 8), 0, 1, 1, 1, DType.Float32, device);
        var labels = FerNet.ClassCounts.Select(_ => Tensor.FromArray(new long[] { 0, 1, -1 }, new Shape(3), device)).ToArray();
        (Tensor, IReadOnlyList<Tensor>) Batch(int start, int count) => (x, labels);

        long before = LiveBytes(gpu);
        for (int pass = 0; pass < 3; pass++)
        {
            long reads = gpu.CopiesToHost;
            var result = Evaluator.Evaluate(model, 3, 3, Batch);
            Assert.Equal(before, LiveBytes(gpu));
            Assert.Equal(1, gpu.CopiesToHost - reads);   // one read per batch: every head's predictions and every task's labels together
            Assert.All(result.Matrices, m => Assert.Equal(2, m.Total));   // the third sample has no labels
        }

        var step = new TrainStep(model, new Adam(model.NamedParameters(), 1e-3), new TaskWeights());
        long beforeTraining = LiveBytes(gpu);
        step.Run(x, labels, 0);
        Assert.True(LiveBytes(gpu) > beforeTraining);
        step.Dispose();
        Assert.True(LiveBytes(gpu) - beforeTraining < 64 * 1024, "only the optimiser state should remain after the arena is gone");
    }
}
