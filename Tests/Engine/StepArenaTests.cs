using FerEngine.Backends.Cpu;
using FerEngine.Model.Network;
using FerEngine.Model.Training;
using FerEngine.Optim;

namespace FerEngine.Tests.Engine;

public class StepArenaTests
{
    [Fact]
    public void Training_steps_reuse_the_same_memory_after_the_first()
    {
        var device = new CpuDevice("cpu-arena-test", new CpuFastBackend());
        var model = new FerNet(new FerNetConfig(Width: 0.125, Height: 16, ImageWidth: 16), device, seed: 1);
        var step = new TrainStep(model, new Adam(model.NamedParameters(), 3e-4), new TaskWeights());
        var x = Tensor.Uniform(new Shape(4, 1, 16, 16), 0, 1, 1, 1, DType.Float32, device);
        var labels = FerNet.ClassCounts.Select(k => Tensor.FromArray(new long[] { 0, 1, -1, k - 1 }, new Shape(4), device)).ToArray();

        var first = step.Run(x, labels, 0);
        var arena = device.Arena(TrainStep.ArenaKind)!;
        long allocationsAfterFirst = arena.Allocations;
        int slots = arena.SlotCount;
        var lossStorage = first.Total.Storage;
        for (ulong s = 1; s < 20; s++)
        {
            var loss = step.Run(x, labels, s);
            Assert.Same(lossStorage, loss.Total.Storage);   // same slot, same address, every step
        }
        Assert.Equal(allocationsAfterFirst, arena.Allocations);
        Assert.Equal(slots, arena.SlotCount);
        Assert.True(arena.Bytes > 0);
    }

    [Fact]
    public void Zeros_from_a_reused_slot_are_zero_and_steps_do_not_nest()
    {
        var device = new CpuDevice("cpu-arena-zeros", new CpuReferenceBackend());
        using (device.BeginStep("t")) Tensor.Full(new Shape(8), 5.0, DType.Float32, device);
        using (device.BeginStep("t"))
        {
            Assert.All(Tensor.Zeros(new Shape(8), DType.Float32, device).ToArray<float>(), v => Assert.Equal(0f, v));
            var e = Assert.Throws<InvalidOperationException>(() => device.BeginStep("eval"));
            Assert.Contains("do not nest", e.Message);
        }
        Assert.Equal(1, device.Arena("t")!.Allocations);
    }
}
