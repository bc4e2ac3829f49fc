using FerEngine.Backends.Cuda;
using FerEngine.Model.Network;
using FerEngine.Model.Training;
using FerEngine.Optim;

namespace FerEngine.Tests.Cuda;

/// <summary>
/// Graph capture on the emulated GPU: what a capture refuses, when a graph is dropped and captured
/// again, and how a step that cannot be captured falls back to running eagerly.
/// (That replays compute what eager steps compute is a shared test: <see cref="CudaBackendTests"/>.)
/// </summary>
public class GraphCaptureTests
{
    private static readonly FerNetConfig Tiny = new(Width: 0.125, Height: 8, ImageWidth: 8);

    private static (Tensor X, Tensor[] Labels) Batch(Device device, int n) =>
        (Tensor.Uniform(new Shape(n, 1, 8, 8), 0, 1, 7, (ulong)n, DType.Float32, device),
         FerNet.ClassCounts.Select(k => Tensor.FromArray(Enumerable.Range(0, n).Select(i => (long)(i % k)).ToArray(), new Shape(n), device)).ToArray());

    [Fact]
    public void A_capture_records_without_running_and_refuses_allocation_frees_and_host_copies()
    {
        var gpu = new EmulatedGpu();
        ulong a = gpu.Allocate(16);
        gpu.CopyToDevice<byte>(new byte[16], a);
        gpu.BeginCapture();
        gpu.Memset(a, 7, 16);
        Assert.Contains("allocating", Assert.Throws<InvalidOperationException>(() => gpu.Allocate(4)).Message);
        Assert.Contains("freeing", Assert.Throws<InvalidOperationException>(() => gpu.Free(a)).Message);
        Assert.Contains("copy to the host", Assert.Throws<InvalidOperationException>(() => gpu.CopyToHost<byte>(a, new byte[16])).Message);
        Assert.Contains("copy to the host", Assert.Throws<InvalidOperationException>(() => gpu.BeginCopyToHost<byte>(a, 16)).Message);
        Assert.Contains("copy from the host", Assert.Throws<InvalidOperationException>(() => gpu.CopyToDevice<byte>(new byte[16], a)).Message);
        using var graph = gpu.EndCapture();
        Assert.False(gpu.IsCapturing);

        var bytes = new byte[16];
        gpu.CopyToHost<byte>(a, bytes);
        Assert.All(bytes, b => Assert.Equal(0, b));   // recorded, not run
        graph.Replay();
        gpu.CopyToHost<byte>(a, bytes);
        Assert.All(bytes, b => Assert.Equal(7, b));
        Assert.Equal(1, graph.Operations);
    }

    [Fact]
    public void A_new_batch_size_drops_the_graph_and_a_later_steady_batch_is_captured_again()
    {
        var device = CudaDevice.Emulated();
        var model = new FerNet(Tiny, device, seed: 2);
        using var step = new TrainStep(model, new Adam(model.NamedParameters(), 1e-3), new TaskWeights(), captureGraph: true);
        var (x4, labels4) = Batch(device, 4);
        var (x3, labels3) = Batch(device, 3);
        ulong s = 0;
        for (int i = 0; i < 3; i++) step.Run(x4, labels4, s++);
        Assert.Equal((1, 1L), (step.Captures, step.Replays));

        step.Run(x3, labels3, s++);                 // a last, smaller batch: eager, the arena reallocates
        Assert.Equal(0, step.GraphOperations);
        for (int i = 0; i < 4; i++) step.Run(x4, labels4, s++);   // reallocate, warm up, capture, replay
        Assert.Equal((2, 3L), (step.Captures, step.Replays));
        Assert.Null(step.GraphUnavailable);
    }

    /// <summary>Plain gradient descent that also reads a gradient back to the host: a capture cannot hold that read.</summary>
    private sealed class ReadingOptimizer(IEnumerable<(string Name, Tensor Tensor)> parameters) : Optimizer(parameters, 1e-3)
    {
        public double LastGradient;
        public override IReadOnlyDictionary<string, Tensor> State => new Dictionary<string, Tensor>();
        public override void ApplyUpdates()
        {
            foreach (var (name, parameter, gradient) in WithGradients())
            {
                if (name == "fc.bias") LastGradient = gradient.ToDoubles()[0];
                parameter.Backend.Axpy(-LearningRate, gradient, parameter);
            }
        }
    }

    [Fact]
    public void A_step_that_reads_back_falls_back_to_eager_steps_and_says_why()
    {
        var device = CudaDevice.Emulated();
        var model = new FerNet(Tiny, device, seed: 2);
        var (x, labels) = Batch(device, 4);
        var optimizer = new ReadingOptimizer(model.NamedParameters());
        using var step = new TrainStep(model, optimizer, new TaskWeights(), captureGraph: true);
        var losses = Enumerable.Range(0, 4).Select(s => step.Run(x, labels, (ulong)s).Total.Item()).ToArray();

        Assert.Contains("copy to the host", step.GraphUnavailable);
        Assert.Equal((0, 0L), (step.Captures, step.Replays));
        Assert.All(losses, l => Assert.True(double.IsFinite(l)));
        Assert.NotEqual(0, optimizer.LastGradient);   // the eager steps ran the read
    }

    [Fact]
    public void The_five_losses_are_read_back_in_one_copy_after_eager_and_replayed_steps()
    {
        var device = CudaDevice.Emulated();
        var gpu = (EmulatedGpu)device.Gpu;
        var model = new FerNet(Tiny, device, seed: 2);
        using var step = new TrainStep(model, new Adam(model.NamedParameters(), 1e-3), new TaskWeights(), captureGraph: true);
        var (x, labels) = Batch(device, 4);
        for (int s = 0; s < 4; s++)   // eager, eager, captured (and replayed once), replayed
        {
            var loss = step.Run(x, labels, (ulong)s);
            long copies = gpu.CopiesToHost;
            var read = step.ReadLosses(loss);
            Assert.True(gpu.CopiesToHost - copies == 1, $"step {s}: {gpu.CopiesToHost - copies} copies");
            Assert.Equal((loss.Total.Item(), loss.Emotion.Item(), loss.Gender.Item(), loss.Race.Item(), loss.Age.Item()),
                (read.Total, read.Emotion, read.Gender, read.Race, read.Age));
        }
        Assert.Equal((1, 2L), (step.Captures, step.Replays));
    }

    [Theory]
    [InlineData("cpu")]
    [InlineData("emulated")]
    public void Losses_read_after_the_next_step_is_queued_are_still_their_own_steps(string where)
    {
        // The trainer reads step k's losses after queueing step k + 1 (on a GPU the host is then not idle
        // while the GPU runs): step k + 1 reuses the arena slots step k's losses live in, so the read must
        // hold step k's values from the moment it was made.
        Device device = where == "cpu" ? Device.Cpu : CudaDevice.Emulated();
        var model = new FerNet(Tiny, device, seed: 2);
        using var step = new TrainStep(model, new Adam(model.NamedParameters(), 1e-2), new TaskWeights(), captureGraph: where != "cpu");
        var (x, labels) = Batch(device, 4);
        Func<StepLosses>? previous = null;
        double previousTotal = double.NaN;
        for (int s = 0; s < 5; s++)
        {
            var loss = step.Run(x, labels, (ulong)s);
            var read = step.ReadLossesLater(loss);
            if (previous is not null)
            {
                var values = previous();
                Assert.Equal(previousTotal, values.Total);
                Assert.NotEqual(loss.Total.Item(), values.Total);   // Adam moved the weights: each step has its own loss
            }
            previous = read;
            previousTotal = loss.Total.Item();
        }
        Assert.Equal(previousTotal, previous!().Total);
    }

    [Fact]
    public void Graphs_are_refused_with_a_reason_off_the_gpu_and_for_sgd()
    {
        var cpuModel = new FerNet(Tiny, Device.Cpu);
        using var onCpu = new TrainStep(cpuModel, new Adam(cpuModel.NamedParameters()), new TaskWeights(), captureGraph: true);
        Assert.Contains("not a GPU", onCpu.GraphUnavailable);

        var gpuModel = new FerNet(Tiny, CudaDevice.Emulated());
        using var withSgd = new TrainStep(gpuModel, new Sgd(gpuModel.NamedParameters(), 0.1), new TaskWeights(), captureGraph: true);
        Assert.Contains("SGD", withSgd.GraphUnavailable);
        using var notAsked = new TrainStep(gpuModel, new Sgd(gpuModel.NamedParameters(), 0.1), new TaskWeights());
        Assert.Null(notAsked.GraphUnavailable);
    }
}
