using System.Globalization;

namespace FerEngine.Kernels.Emulator;

/// <summary>
/// Trace mode: prints every instruction that one chosen thread executes, what it wrote, and the
/// source line's comment, e.g.
/// <c>Elementwise.ptx:41  add.rn.f32 %f3, %f1, %f2   %f3 = 0x40400000 (3)   // y = a + b</c>.
/// A register's value is shown as its declared type (a .f32 register as a float, whatever the
/// instruction's type); a store, red or atom shows the address and the value it stores. A guarded
/// instruction whose predicate is false is printed as "(skipped)". Block and thread are coordinates
/// (zero-based), e.g. block new Dim3(1, 0, 0), thread new Dim3(2, 0, 0).
/// </summary>
public sealed class KernelTrace(Dim3 block, Dim3 thread, TextWriter writer)
{
    public Dim3 Block { get; } = block;
    public Dim3 Thread { get; } = thread;
    public TextWriter Writer { get; } = writer;

    private int instructions;

    /// <summary>Instructions the traced thread has executed or skipped so far (0: it never ran).</summary>
    public int Instructions => instructions;

    internal void Record(PtxKernel kernel, PtxInstruction instruction, ReadOnlySpan<ulong> registers, bool executed)
    {
        instructions++;
        // Columns as wide as the kernel's longest location and instruction, so that the values line up.
        string line = $"{instruction.Location.PadRight(kernel.LongestLocation)}  {instruction.Text.PadRight(kernel.LongestText)}";
        if (!executed) line += "   (skipped)";
        else
        {
            if (instruction.Op is PtxOp.St or PtxOp.Red or PtxOp.Atom) line += "   " + Stored(kernel, instruction, registers);
            for (int i = 0; i < instruction.Destinations.Length; i++)
            {
                int slot = instruction.Destinations[i];
                line += $"   {kernel.SlotNames[slot]} = {Format(registers[slot], instruction.WrittenTypes[i])}";
            }
        }
        if (instruction.Comment.Length > 0) line += "   // " + instruction.Comment;
        Writer.WriteLine(line.TrimEnd());
    }

    /// <summary>"[address] = value" (a vector as {v1, v2, ...}; red and atom: "[address] add= value").</summary>
    private static string Stored(PtxKernel kernel, PtxInstruction instruction, ReadOnlySpan<ulong> registers)
    {
        ulong address = (instruction.AddressBase >= 0 ? registers[instruction.AddressBase] : 0) + (ulong)instruction.AddressOffset;
        string where = instruction.Space switch
        {
            PtxSpace.Shared => $"[{kernel.SharedName((long)address) ?? $".shared 0x{address:x}"}]",
            PtxSpace.Local => $"[.local 0x{address:x}]",
            _ => $"[0x{address:x}]",
        };
        var values = new List<string>();
        foreach (int source in instruction.Sources) values.Add(Format(registers[source], instruction.Type));
        string value = values.Count == 1 ? values[0] : "{" + string.Join(", ", values) + "}";
        string operation = instruction.Op == PtxOp.St ? "=" : instruction.Atomic.ToString().ToLowerInvariant() + "=";
        return $"{where} {operation} {value}";
    }

    private static string Format(ulong bits, PtxType type) => type switch
    {
        PtxType.Pred => bits != 0 ? "true" : "false",
        PtxType.F32 => $"0x{(uint)bits:x8} ({BitConverter.UInt32BitsToSingle((uint)bits).ToString("R", CultureInfo.InvariantCulture)})",
        PtxType.F64 => $"0x{bits:x16} ({BitConverter.UInt64BitsToDouble(bits).ToString("R", CultureInfo.InvariantCulture)})",
        PtxType.S8 => $"{(sbyte)bits} (0x{(byte)bits:x})",
        PtxType.S16 => $"{(short)bits} (0x{(ushort)bits:x})",
        PtxType.S32 => $"{(int)bits} (0x{(uint)bits:x})",
        PtxType.S64 => $"{(long)bits} (0x{bits:x})",
        PtxType.U8 or PtxType.B8 => $"{(byte)bits} (0x{(byte)bits:x})",
        PtxType.U16 or PtxType.B16 or PtxType.F16 => $"{(ushort)bits} (0x{(ushort)bits:x})",
        PtxType.U32 or PtxType.B32 => $"{(uint)bits} (0x{(uint)bits:x})",
        _ => $"{bits} (0x{bits:x})",
    };
}
