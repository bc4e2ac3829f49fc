using FerEngine.Backends.Cpu;
using FerEngine.Model.Network;
using FerEngine.Model.Training;
using FerEngine.Ops;
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
        var arena = step.Arena;
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
        var arena = device.CreateArena("t");
        using (device.BeginStep(arena)) Tensor.Full(new Shape(8), 5.0, DType.Float32, device);
        using (device.BeginStep(arena))
        {
            Assert.All(Tensor.Zeros(new Shape(8), DType.Float32, device).ToArray<float>(), v => Assert.Equal(0f, v));
            var e = Assert.Throws<InvalidOperationException>(() => device.BeginStep(device.CreateArena("eval")));
            Assert.Contains("do not nest", e.Message);
        }
        Assert.Equal(1, arena.Allocations);
    }

    [Fact]
    public void A_gradient_in_a_reused_slot_holds_this_step_only()
    {
        // Every backward writes its gradients over what the slot held last step (accumulate: false where a
        // tensor gets one gradient): the second step's gradients are those of its own input alone.
        var device = new CpuDevice("cpu-arena-gradients", new CpuFastBackend());
        var arena = device.CreateArena("train");
        var weight = Tensor.Uniform(new Shape(3, 5), -1, 1, 1, 1, DType.Float32, device);
        var bias = Tensor.Uniform(new Shape(3), -1, 1, 1, 2, DType.Float32, device);
        weight.RequiresGrad = bias.RequiresGrad = true;
        float[][] Gradients(params ulong[] inputStreams)
        {
            float[][] last = [];
            foreach (ulong stream in inputStreams)
            {
                using var _ = device.BeginStep(arena);
                weight.Grad = bias.Grad = null;
                var x = Tensor.Uniform(new Shape(4, 5), -1, 1, 2, stream, DType.Float32, device);
                Functional.Sum(Functional.Linear(x, weight, bias)).Backward();
                last = [weight.Grad!.ToArray<float>(), bias.Grad!.ToArray<float>()];
            }
            return last;
        }
        var alone = Gradients(7);
        var afterAnother = Gradients(3, 7);
        Assert.Equal(alone[0], afterAnother[0]);
        Assert.Equal(alone[1], afterAnother[1]);
    }

    [Fact]
    public void A_request_of_another_length_replaces_its_slot()
    {
        // A smaller last batch is not served from the larger slot: the slot is replaced, and the arena holds what the latest step asked for.
        var device = new CpuDevice("cpu-arena-sizes", new CpuReferenceBackend());
        var arena = device.CreateArena("t");
        using (device.BeginStep(arena)) Tensor.Zeros(new Shape(8), DType.Float32, device);
        using (device.BeginStep(arena)) Tensor.Zeros(new Shape(4), DType.Float32, device);
        Assert.Equal(2, arena.Allocations);
        Assert.Equal(16, arena.Bytes);
    }

    [Fact]
    public void Two_threads_cannot_run_steps_in_one_arena_at_once()
    {
        // The bug this guards against: two training loops on one device sharing a "train" arena
        // were handed the same memory and silently corrupted each other's activations.
        var device = new CpuDevice("cpu-arena-threads", new CpuReferenceBackend());
        var arena = device.CreateArena("train");
        using var inside = new ManualResetEventSlim();
        using var release = new ManualResetEventSlim();
        var cancel = TestContext.Current.CancellationToken;
        var holder = new Thread(() =>
        {
            using (device.BeginStep(arena)) { inside.Set(); release.Wait(cancel); }
        });
        holder.Start();
        inside.Wait(cancel);
        var e = Assert.Throws<InvalidOperationException>(() => device.BeginStep(arena));
        Assert.Contains("already running a step", e.Message);
        using (device.BeginStep(device.CreateArena("train"))) { }   // a second loop's own arena is fine
        release.Set();
        holder.Join();
        using (device.BeginStep(arena)) { }                          // free again once the first step ended
    }

    [Fact]
    public void Separate_train_steps_on_one_device_get_separate_memory()
    {
        var device = new CpuDevice("cpu-arena-separate", new CpuReferenceBackend());
        TrainStep Make() { var m = new FerNet(new FerNetConfig(Width: 0.125, Height: 8, ImageWidth: 8), device, seed: 1); return new TrainStep(m, new Adam(m.NamedParameters(), 1e-3), new TaskWeights()); }
        var (a, b) = (Make(), Make());
        var x = Tensor.Uniform(new Shape(2, 1, 8, 8), 0, 1, 1, 1, DType.Float32, device);
        var labels = FerNet.ClassCounts.Select(_ => Tensor.FromArray(new long[] { 0, 1 }, new Shape(2), device)).ToArray();
        var lossA = a.Run(x, labels, 0);
        var lossB = b.Run(x, labels, 0);
        Assert.NotSame(lossA.Total.Storage, lossB.Total.Storage);
        Assert.Equal(lossA.Total.Item(), lossB.Total.Item());
    }
}
