namespace FerEngine.Kernels.Emulator;

/// <summary>
/// A PTX program the emulator cannot run: a parse error, an unsupported instruction or a breach of
/// the ISA's type rules that ptxas refuses too (the message names file:line), an out-of-bounds or misaligned access (kernel, block, thread, address), a
/// barrier or shuffle that not every live thread reaches, a read of an unwritten register or of
/// unwritten shared memory, or a shared-memory access another thread's races with.
/// </summary>
public sealed class PtxEmulatorException(string message) : Exception(message);
