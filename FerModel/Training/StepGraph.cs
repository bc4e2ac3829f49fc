using FerEngine.Backends.Cuda;
using FerEngine.Memory;
using FerEngine.Model.Network;

namespace FerEngine.Model.Training;

/// <summary>
/// One training step recorded as a GPU graph (a CUDA graph) and replayed as a whole: one launch
/// instead of hundreds, and no host work between the kernels. A graph bakes in every address and
/// launch argument it saw, so it is only valid while
///   - the step's inputs are the same tensors (same memory, offset and shape: the batch arena
///     hands out the same slots for every full batch),
///   - the step arena has not reallocated a slot since the capture (a different batch size would),
///   - everything that changes between steps is read from device memory, not launch arguments
///     (the dropout step and Adam's step scalars, written before each replay).
/// The losses of the captured step are arena tensors: each replay rewrites them in place.
/// </summary>
internal sealed class StepGraph(IGpuGraph graph, Tensor[] inputs, long arenaAllocations, JointLossResult loss) : IDisposable
{
    public JointLossResult Loss { get; } = loss;
    public int Operations => graph.Operations;

    /// <summary>True when a replay would compute this step for <paramref name="stepInputs"/> in <paramref name="arena"/>.</summary>
    public bool Fits(Tensor[] stepInputs, StepArena arena) =>
        arena.Allocations == arenaAllocations && SameTensors(stepInputs, inputs);

    public void Replay() => graph.Replay();

    public void Dispose() => graph.Dispose();

    /// <summary>Same memory, offset and shape, element by element.</summary>
    public static bool SameTensors(Tensor[] a, Tensor[]? b) =>
        b is not null && a.Length == b.Length &&
        a.Zip(b).All(p => ReferenceEquals(p.First.Storage, p.Second.Storage) && p.First.Offset == p.Second.Offset && p.First.Shape == p.Second.Shape);
}
