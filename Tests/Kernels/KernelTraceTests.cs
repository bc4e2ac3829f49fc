using FerEngine.Kernels.Emulator;
using static FerEngine.Tests.Kernels.KernelHarness;

namespace FerEngine.Tests.Kernels;

/// <summary>What a trace line shows: the instruction, its values as the registers' declared types, stores, and the comment.</summary>
public class KernelTraceTests
{
    private static string[] Trace(string body, LaunchGrid? grid = null, int outputs = 4)
    {
        var writer = new StringWriter();
        RunWithOutput(body, outputs, grid, new KernelTrace(new Dim3(0, 0, 0), new Dim3(0, 0, 0), writer));
        return writer.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
    }

    [Fact]
    public void A_value_prints_as_its_registers_declared_type_and_the_source_comment_follows()
    {
        var lines = Trace("""
            .reg .b32 %r<4>;
            .reg .f32 %f<4>;
            .reg .s64 %sd<2>;
            .reg .b64 %rd<4>;
            ld.param.u64 %rd1, [test_out];
            mov.f32 %f1, 0fBF800000;                            // %f1 = -1
            shfl.sync.bfly.b32 %f2, %f1, 0, 31, -1;             // %f2 = the lane's own %f1
            add.s32 %r1, 0, -3;                                 // a .b32 register written by .s32 prints signed
            cvt.s64.s32 %sd1, %r1;
            ret;
            """);
        // A .f32 register written by a .b32 shuffle is a float, not the integer 3212836864 of its bits.
        Assert.Contains(lines, l => l.Contains("shfl.sync.bfly.b32 %f2, %f1, 0, 31, -1") && l.Contains("%f2 = 0xbf800000 (-1)   // %f2 = the lane's own %f1"));
        Assert.Contains(lines, l => l.Contains("%r1 = -3 (0xfffffffd)"));
        Assert.Contains(lines, l => l.Contains("%sd1 = -3 (0xfffffffffffffffd)"));                     // s64 in hex too
        Assert.Contains(lines, l => l.Contains("mov.f32 %f1, 0fBF800000") && l.EndsWith("%f1 = 0xbf800000 (-1)   // %f1 = -1"));
    }

    [Fact]
    public void Stores_and_atomics_print_the_address_and_the_value_stored()
    {
        var lines = Trace("""
            .reg .b32 %r<4>;
            .reg .f32 %f<4>;
            .reg .b64 %rd<4>;
            .shared .align 4 .b8 pad[4];
            .shared .align 16 .b8 cells[32];
            ld.param.u64 %rd1, [test_out];
            mov.f32 %f1, 0f40000000;
            st.global.f32 [%rd1+4], %f1;
            st.global.v2.u32 [%rd1+8], {7, 9};
            st.shared.u32 [cells+8], 5;
            atom.shared.add.u32 %r1, [cells+8], 2;
            ret;
            """, outputs: 2);
        Assert.Contains(lines, l => l.Contains("st.global.f32 [%rd1+4], %f1") && l.Contains("[0x7f0000000004] = 0x40000000 (2)"));
        Assert.Contains(lines, l => l.Contains("[0x7f0000000008] = {7 (0x7), 9 (0x9)}"));
        Assert.Contains(lines, l => l.Contains("st.shared.u32 [cells+8], 5") && l.Contains("[cells+8] = 5 (0x5)"));
        Assert.Contains(lines, l => l.Contains("[cells+8] add= 2 (0x2)   %r1 = 5 (0x5)"));
    }

    [Fact]
    public void The_location_and_instruction_columns_are_as_wide_as_the_kernels_longest()
    {
        // The instructions are on test.ptx:9 .. test.ptx:13: locations of two widths, instructions of several.
        var lines = Trace("""
            .reg .b32 %r<4>; .reg .b64 %rd<4>;
            ld.param.u64 %rd1, [test_out];
            mov.u32 %r1, 1;
            add.u32 %r2, %r1, %r1;
            mov.u32 %r1, 7;
            ret;
            """);
        Assert.Contains(lines, l => l.StartsWith("test.ptx:9 "));
        Assert.Contains(lines, l => l.StartsWith("test.ptx:12 "));
        int InstructionColumn(string line) => line.IndexOf(' ') + line[line.IndexOf(' ')..].TakeWhile(c => c == ' ').Count();
        int ValueColumn(string line) => line.LastIndexOf("   ", line.IndexOf(" = ", StringComparison.Ordinal), StringComparison.Ordinal) + 3;
        Assert.Single(lines.Select(InstructionColumn).Distinct());
        Assert.Single(lines.Where(l => l.Contains(" = ")).Select(ValueColumn).Distinct());
    }
}
