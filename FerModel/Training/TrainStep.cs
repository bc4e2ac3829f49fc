using FerEngine.Backends.Cuda;
using FerEngine.Model.Network;
using FerEngine.Memory;
using FerEngine.Optim;

namespace FerEngine.Model.Training;

/// <summary>The four tasks' losses of one step, read back to the host.</summary>
public sealed record StepLosses(double Total, double Emotion, double Gender, double Race, double Age);

/// <summary>
/// One training step, the unit everything else repeats:
///   forward (train mode) -> joint loss -> backward in topological order -> optimiser update.
/// x [N, C, H, W] holds pixels / 255; labels are four Int64 [N] tensors (-1 = missing) in
/// <see cref="FaceTask"/> order. Everything the step allocates comes from this TrainStep's own
/// <see cref="Arena"/>, so the returned losses stay valid until the next step begins.
///
/// With <paramref name="captureGraph"/> on a GPU, the step is captured as a CUDA graph once warm-up
/// steps have filled the arena (<see cref="StepGraph"/>), and later steps replay it. What cannot be
/// captured runs eagerly, and <see cref="GraphUnavailable"/> says why.
/// </summary>
public sealed class TrainStep(FerNet model, Optimizer optimizer, TaskWeights weights, bool captureGraph = false) : IDisposable
{
    public FerNet Model { get; } = model;
    public Optimizer Optimizer { get; } = optimizer;
    public TaskWeights Weights { get; } = weights;

    /// <summary>The memory every step reuses (activations, gradients, temporaries).</summary>
    public StepArena Arena { get; } = model.Fc.Weight.Device.CreateArena("train");

    /// <summary>Why the step runs eagerly although a graph was asked for; null while capture is possible.</summary>
    public string? GraphUnavailable { get; private set; } = !captureGraph ? null
        : model.Fc.Weight.Device is not CudaDevice ? $"{model.Fc.Weight.Device.Name} is not a GPU: graphs are a CUDA feature"
        : optimizer.NotCapturable;

    /// <summary>How many graphs were captured (a new one after the inputs or the arena change), and how many steps replayed one.</summary>
    public int Captures { get; private set; }
    public long Replays { get; private set; }
    /// <summary>Operations in the current graph (0 when there is none).</summary>
    public int GraphOperations => _graph?.Operations ?? 0;

    private StepGraph? _graph;
    private Tensor[]? _lastInputs;
    private int _quietSteps; // eager steps in a row with the same inputs that allocated nothing

    /// <summary>
    /// One training step on the batch x [N, C, H, W] with its four label tensors [N] (-1 = none).
    /// <paramref name="step"/> numbers the step from 0 and only keys the dropout masks (so a resumed
    /// run draws the same ones); Adam counts its own steps from 1 (<see cref="Optimizer.StepCount"/>,
    /// saved with the run), since its bias corrections need t, not the position in the data.
    /// </summary>
    public JointLossResult Run(Tensor x, IReadOnlyList<Tensor> labels, ulong step)
    {
        // The host's part: what changes from step to step goes to device memory first.
        Model.SetStep(step);
        Optimizer.PrepareStep();
        Tensor[] inputs = [x, .. labels];
        if (_graph is not null && _graph.Fits(inputs, Arena))
        {
            _graph.Replay();
            Replays++;
            return _graph.Loss;
        }
        if (_graph is not null)
        {
            _graph.Dispose();   // the inputs or the arena changed: its addresses are stale
            _graph = null;
            _quietSteps = 0;
        }
        // Capture only after an eager step with these very inputs allocated nothing: a capture may not
        // allocate, and the graph keeps every arena address it recorded.
        if (captureGraph && GraphUnavailable is null && _quietSteps >= 1 && StepGraph.SameTensors(inputs, _lastInputs)
            && TryCapture(x, labels, inputs) is { } captured)
            return captured;

        long allocations = Arena.Allocations;
        var loss = RunEagerly(x, labels);
        _quietSteps = Arena.Allocations == allocations && StepGraph.SameTensors(inputs, _lastInputs) ? _quietSteps + 1 : 0;
        _lastInputs = inputs;
        return loss;
    }

    /// <summary>The device's part, run now.</summary>
    private JointLossResult RunEagerly(Tensor x, IReadOnlyList<Tensor> labels)
    {
        using var _ = x.Device.BeginStep(Arena);
        return Compute(x, labels);
    }

    /// <summary>
    /// Records the device's part into a graph and replays it once (a capture records, it does not
    /// run). Null when the capture failed: the reason is kept and the caller runs the step eagerly.
    /// </summary>
    private JointLossResult? TryCapture(Tensor x, IReadOnlyList<Tensor> labels, Tensor[] inputs)
    {
        var gpu = ((CudaDevice)x.Device).Gpu;
        JointLossResult? loss = null;
        IGpuGraph? graph = null;
        using (x.Device.BeginStep(Arena))
        {
            gpu.BeginCapture();
            try { loss = Compute(x, labels); }
            catch (Exception e) { GraphUnavailable = $"capturing the step failed: {e.Message}"; }
            try { graph = gpu.EndCapture(); }   // always end the capture, also after a failure
            catch (Exception e) { GraphUnavailable ??= $"capturing the step failed: {e.Message}"; }
        }
        if (loss is null || graph is null)
        {
            graph?.Dispose();
            return null;
        }
        _graph = new StepGraph(graph, inputs, Arena.Allocations, loss);
        Captures++;
        _graph.Replay();
        Replays++;
        return loss;
    }

    private JointLossResult Compute(Tensor x, IReadOnlyList<Tensor> labels)
    {
        Model.Train();
        Optimizer.ZeroGrad();
        var loss = JointLoss.Compute(Model.ForwardTasks(x), labels, Weights);
        loss.Total.Backward();
        Optimizer.ApplyUpdates();
        return loss;
    }

    /// <summary>Gives the graph and the arena's memory back (the last step's losses become invalid).</summary>
    public void Dispose()
    {
        _graph?.Dispose();
        Arena.Dispose();
    }

    /// <summary>The step's five losses on the host (waits for the step).</summary>
    public StepLosses ReadLosses(JointLossResult loss) => ReadLossesLater(loss)();

    /// <summary>
    /// Starts reading the step's five losses back and returns at once; calling the result waits for
    /// them. The five share memory (<see cref="JointLossResult.All"/>), so they come back in one copy,
    /// and on a GPU the host may queue the next step before it waits, so the GPU does not idle while
    /// the host builds the next batch.
    /// </summary>
    public Func<StepLosses> ReadLossesLater(JointLossResult loss)
    {
        var backend = loss.All.Backend;
        Func<double[]> values;
        if (loss.All.DType == DType.Float64)
            values = backend.BeginCopyToHost<double>(loss.All).Wait;
        else
        {
            var read = backend.BeginCopyToHost<float>(loss.All);
            values = () => Array.ConvertAll(read.Wait(), v => (double)v);
        }
        return () =>
        {
            double[] v = values();
            return new(v[0], v[1], v[2], v[3], v[4]);
        };
    }
}
