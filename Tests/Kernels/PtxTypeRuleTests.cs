using FerEngine.Kernels;
using FerEngine.Kernels.Emulator;
using static FerEngine.Tests.Kernels.KernelHarness;

namespace FerEngine.Tests.Kernels;

/// <summary>
/// The PTX ISA's type rules (9.4, 9.4.1, 9.3.1, cvt) are parse errors naming file:line, as ptxas
/// refuses them, rather than programs the emulator runs and a GPU build rejects.
/// </summary>
public class PtxTypeRuleTests
{
    private const string Prologue = """
        .reg .pred %p<4>;
        .reg .b32 %r<8>;
        .reg .u32 %u<4>;
        .reg .s32 %s<4>;
        .reg .f32 %f<16>;
        .reg .f64 %fd<4>;
        .reg .b64 %rd<8>;
        ld.param.u64 %rd1, [test_out];
        """;

    /// <summary>Parses <paramref name="instruction"/> after the prologue; the error, which names the instruction's line.</summary>
    private static string ParseError(string instruction)
    {
        string text = Module(Prologue + "\n" + instruction + "\nret;");
        int line = text.Split('\n').ToList().FindIndex(l => l == instruction) + 1;
        var error = Assert.Throws<PtxEmulatorException>(() => PtxParser.Parse(text, "test.ptx"));
        Assert.StartsWith($"test.ptx:{line}: ", error.Message);
        return error.Message;
    }

    private static void Parses(string instruction) => PtxParser.Parse(Module(Prologue + "\n" + instruction + "\nret;"), "test.ptx");

    [Theory]
    [InlineData("add.s32 %f9, %f1, %f5;", "writes a .s32 value into %f9, which is declared .f32; there it takes a register declared .b32, .u32 or .s32")]
    [InlineData("add.s32 %r1, %f1, %r2;", "reads a .s32 value from %f1, which is declared .f32")]
    [InlineData("mov.f32 %rd4, %f1;", "writes a .f32 value into %rd4, which is declared .b64; there it takes a register declared .b32 or .f32")]
    [InlineData("mov.u32 %f2, %r1;", "writes a .u32 value into %f2, which is declared .f32")]
    [InlineData("add.u64 %rd3, %r1, %r2;", "reads a .u64 value from %r1, which is declared .b32")]
    [InlineData("mul.wide.u32 %r3, %r1, %r2;", "writes a .u64 value into %r3")]
    [InlineData("shl.b64 %rd2, %rd1, %rd1;", "reads a .u32 value from %rd1")]
    [InlineData("selp.u32 %r3, 1, 0, %r1;", "reads a .pred value from %r1")]
    [InlineData("add.u32 %r3, %p1, %r2;", "reads a .u32 value from %p1, which is declared .pred")]
    [InlineData("ld.global.u32 %f3, [%rd1];", "writes a .u32 value into %f3, which is declared .f32; there it takes a register declared .b32, .b64, .u32, .u64, .s32 or .s64 (PTX ISA 9.4.1")]
    [InlineData("st.global.u32 [%rd1], %f1;", "reads a .u32 value from %f1")]
    [InlineData("ld.global.f32 %fd1, [%rd1];", "writes a .f32 value into %fd1, which is declared .f64")]
    [InlineData("atom.global.add.u32 %f3, [%rd1], %r1;", "writes a .u32 value into %f3")]
    [InlineData("shfl.sync.bfly.b32 %rd2, %f1, 1, 31, -1;", "writes a .b32 value into %rd2")]
    [InlineData("@%r1 add.u32 %r2, %r2, 1;", "the guard %r1 is declared .b32; a guard must be a .pred register")]
    [InlineData("ld.global.f32 %f3, [%f1];", "the address register %f1 is declared .f32; an address register must be of an integer or bit-size type")]
    public void An_operand_whose_declared_type_does_not_agree_with_the_instruction_is_a_parse_error(string instruction, string expected)
    {
        Assert.Contains(expected, ParseError(instruction));
    }

    // What the ISA allows: a bit-size register with any type of its size, signed with unsigned, wider data registers in
    // ld, st and cvt (a float register only for a float of its own type, or a wider bit-size register), shift amounts .u32.
    [Theory]
    [InlineData("mov.f32 %r3, %f1;")]
    [InlineData("mov.b32 %f2, %r1;")]
    [InlineData("add.u32 %s2, %s1, %u1;")]
    [InlineData("add.s32 %u2, %u1, %r1;")]
    [InlineData("shfl.sync.bfly.b32 %f2, %f1, 16, 31, -1;")]
    [InlineData("ld.global.u32 %rd3, [%rd1];")]
    [InlineData("ld.global.f32 %rd3, [%rd1];")]
    [InlineData("ld.global.u8 %r3, [%rd1];")]
    [InlineData("st.global.f32 [%rd1], %r1;")]
    [InlineData("st.global.u32 [%rd1], %rd1;")]
    [InlineData("atom.global.add.f32 %r3, [%rd1], %f1;")]
    [InlineData("shl.b64 %rd2, %rd1, %s1;")]
    [InlineData("mul.wide.s32 %rd2, %s1, %r1;")]
    [InlineData("cvt.u64.u32 %rd2, %tid.x;")]
    [InlineData("cvt.u32.u64 %r2, %rd1;")]
    public void Operands_the_isa_allows_parse(string instruction) => Parses(instruction);

    [Fact]
    public void Every_kernel_file_parses_under_the_type_rules()
    {
        foreach (var file in KernelCatalog.Files)
            Assert.NotEmpty(PtxParser.Parse(KernelCatalog.Source(file), file).Kernels);
    }

    [Theory]
    [InlineData("setp.equ.u32 %p1, %r1, %r2;", ".equ does not compare .u32 values; for .u32 use .eq, .ne, .lt, .le, .gt, .ge, .lo, .ls, .hi, .hs")]
    [InlineData("setp.lo.s32 %p1, %r1, %r2;", ".lo does not compare .s32 values")]
    [InlineData("setp.lt.b32 %p1, %r1, %r2;", ".lt does not compare .b32 values; for .b32 use .eq, .ne")]
    [InlineData("setp.hi.f32 %p1, %f1, %f2;", ".hi does not compare .f32 values")]
    [InlineData("setp.num.s32 %p1, %r1, %r2;", ".num does not compare .s32 values")]
    public void A_setp_comparison_invalid_for_its_type_is_a_parse_error(string instruction, string expected)
    {
        Assert.Contains(expected, ParseError(instruction));
    }

    // .lo and .hi are also mul's halves: setp.lo.u32 must compare "lower", not fall back to eq.
    [Fact]
    public void Setp_lo_and_hi_compare_unsigned_lower_and_higher()
    {
        var r = RunWithOutput(Prologue + """
            setp.lo.u32 %p1, 1, 2;                   // 1 < 2: true (eq would say false)
            setp.hi.u32 %p2, 0xFFFFFFFF, 1;          // unsigned: true
            setp.ls.u32 %p3, 2, 2;                   // true
            selp.u32 %r1, 1, 0, %p1;
            selp.u32 %r2, 1, 0, %p2;
            selp.u32 %r3, 1, 0, %p3;
            selp.u32 %r4, 1, 0, %p3;
            st.global.v4.u32 [%rd1], {%r1, %r2, %r3, %r4};
            ret;
            """, 2);
        Assert.Equal([1u, 1u, 1u], new[] { (uint)r[0], (uint)(r[0] >> 32), (uint)r[1] });
    }

    [Theory]
    [InlineData("cvt.f32.u32 %f2, %r1;", "integer to float needs a rounding modifier: .rn, .rz, .rm or .rp")]
    [InlineData("cvt.f64.s32 %fd2, %r1;", "integer to float needs a rounding modifier")]
    [InlineData("cvt.s32.f32 %r2, %f1;", "float to integer needs an integer rounding modifier: .rni, .rzi, .rmi or .rpi")]
    [InlineData("cvt.rn.s32.f32 %r2, %f1;", "float to integer needs an integer rounding modifier")]
    [InlineData("cvt.f32.f64 %f2, %fd1;", "a float conversion that loses precision needs a rounding modifier")]
    [InlineData("cvt.rn.f64.f32 %fd2, %f1;", "a rounding modifier (.rn, .rz, .rm, .rp) is allowed only where the conversion rounds")]
    [InlineData("cvt.rni.f32.s32 %f2, %r1;", "integer to float needs a rounding modifier")]
    [InlineData("cvt.rni.f64.f32 %fd2, %f1;", "an integer rounding modifier (.rni, .rzi, .rmi, .rpi) is allowed only from a float to an integer or to a float of the same size")]
    public void A_cvt_without_the_rounding_its_conversion_needs_or_with_one_it_may_not_have_is_a_parse_error(string instruction, string expected)
    {
        Assert.Contains(expected, ParseError(instruction));
    }

    [Theory]
    [InlineData("cvt.rn.f32.u32 %f2, %r1;")]
    [InlineData("cvt.rzi.s32.f32 %r2, %f1;")]
    [InlineData("cvt.rn.f32.f64 %f2, %fd1;")]
    [InlineData("cvt.f64.f32 %fd2, %f1;")]
    [InlineData("cvt.rni.f32.f32 %f2, %f1;")]
    [InlineData("cvt.f32.f32 %f2, %f1;")]
    public void A_cvt_with_the_rounding_the_isa_asks_for_parses(string instruction) => Parses(instruction);
}
