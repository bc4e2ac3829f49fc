using FerEngine.Backends.Cuda;
using FerEngine.Kernels.Emulator;
using FerEngine.Model.Evaluation;
using FerEngine.Model.Network;
using FerEngine.Model.Training;
using FerEngine.Optim;

namespace FerEngine.Tests.Cuda;

/// <summary>
/// A GPU runs a launch's threads in no promised order, so every kernel must give the same answer in
/// any. The emulator runs them in its usual order and in reverse (<see cref="ExecutionOrder"/>): a
/// kernel in which one thread reads a global value another writes without a barrier between, or two
/// threads write one value, gives different bits in the two.
/// </summary>
public class ExecutionOrderTests
{
    [Fact]
    public void Training_steps_and_an_evaluation_give_the_same_bits_whichever_order_threads_run_in()
    {
        var (parallel, parallelCounts) = TrainAndEvaluate(ExecutionOrder.Parallel);
        var (reversed, reversedCounts) = TrainAndEvaluate(ExecutionOrder.Reversed);
        Assert.Equal(parallel.Keys, reversed.Keys);
        foreach (var (name, values) in parallel)
            Assert.True(values.AsSpan().SequenceEqual(reversed[name]), $"{name} differs between the two orders");
        Assert.Equal(parallelCounts, reversedCounts);
    }

    /// <summary>Every parameter and buffer after three training steps, and the evaluation's confusion counts.</summary>
    private static (Dictionary<string, float[]> State, long[] Counts) TrainAndEvaluate(ExecutionOrder order)
    {
        var device = new CudaDevice(new EmulatedGpu { Order = order });
        // 16 x 16 images at width 0.125 and batch 12: several blocks per kernel, batch norm in several slices.
        var model = new FerNet(new FerNetConfig(Width: 0.125, Height: 16, ImageWidth: 16), device, seed: 3);
        const int n = 12;
        var x = Tensor.Uniform(new Shape(n, 1, 16, 16), 0, 1, 5, 1, DType.Float32, device);
        var labels = FerNet.ClassCounts
            .Select((k, task) => Tensor.FromArray(Enumerable.Range(0, n).Select(i => i % 5 == task ? -1L : (i + task) % k).ToArray(), new Shape(n), device))
            .ToArray();
        using (var step = new TrainStep(model, new Adam(model.NamedParameters(), 1e-3), new TaskWeights()))
            for (int s = 0; s < 3; s++) step.Run(x, labels, (ulong)s);
        var state = model.StateDict().ToDictionary(p => p.Name, p => p.Tensor.ToArray<float>());
        var result = Evaluator.Evaluate(model, n, 5, (start, count) => (x.Slice(start, count), labels.Select(l => l.Slice(start, count)).ToArray()));
        long[] counts = [.. result.Matrices.SelectMany(m => m.Counts.Cast<long>())];
        return (state, counts);
    }
}
