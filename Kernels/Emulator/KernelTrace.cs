using System.Globalization;

namespace FerEngine.Kernels.Emulator;

/// <summary>
/// Trace mode: prints every instruction that one chosen thread executes, with the registers it
/// wrote, e.g. <c>Elementwise.ptx:41  add.f32 %f3, %f1, %f2;   %f3 = 0x40400000 (3)</c>.
/// A guarded instruction whose predicate is false is printed as "(skipped)". Block and thread are
/// coordinates (zero-based), e.g. block new Dim3(1, 0, 0), thread new Dim3(2, 0, 0).
/// </summary>
public sealed class KernelTrace(Dim3 block, Dim3 thread, TextWriter writer)
{
    public Dim3 Block { get; } = block;
    public Dim3 Thread { get; } = thread;
    public TextWriter Writer { get; } = writer;

    internal void Record(PtxKernel kernel, PtxInstruction instruction, ReadOnlySpan<ulong> registers, bool executed)
    {
        var line = $"{instruction.Location,-24} {instruction.Text}";
        if (!executed) line += "   (skipped)";
        else
            foreach (int slot in instruction.Destinations)
                line += $"   {kernel.SlotNames[slot]} = {Format(registers[slot], instruction.Op == PtxOp.Setp ? PtxType.Pred : instruction.Type)}";
        Writer.WriteLine(line);
    }

    private static string Format(ulong bits, PtxType type) => type switch
    {
        PtxType.Pred => bits != 0 ? "true" : "false",
        PtxType.F32 => $"0x{(uint)bits:x8} ({BitConverter.UInt32BitsToSingle((uint)bits).ToString("R", CultureInfo.InvariantCulture)})",
        PtxType.F64 => $"0x{bits:x16} ({BitConverter.UInt64BitsToDouble(bits).ToString("R", CultureInfo.InvariantCulture)})",
        PtxType.S32 => $"{(int)bits}",
        PtxType.S64 => $"{(long)bits}",
        PtxType.U32 or PtxType.B32 => $"{(uint)bits} (0x{(uint)bits:x})",
        _ => $"{bits} (0x{bits:x})",
    };
}
