namespace FerEngine.Kernels.Emulator;

/// <summary>
/// The order the emulator runs a launch's threads in. A GPU promises no order between threads that
/// no barrier separates, so a correct kernel gives the same answer in both; a test that compares
/// them finds a kernel that reads a global value another thread writes, or writes one twice.
/// </summary>
public enum ExecutionOrder
{
    /// <summary>Blocks in parallel (each worker takes them in ascending order); a block's threads first to last.</summary>
    Parallel,
    /// <summary>One block at a time, last to first; a block's threads last to first between barriers.</summary>
    Reversed,
}
