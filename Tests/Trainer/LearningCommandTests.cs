using FerEngine.Autograd;
using FerEngine.Kernels;
using FerEngine.Ops;
using FerEngine.Trainer;
using FerEngine.Trainer.Commands;
using FerEngine.Trainer.Learning;

using static FerEngine.Tests.Trainer.FerCli;

namespace FerEngine.Tests.Trainer;

/// <summary>`fer trace` and `fer gradcheck`: the commands a reader runs to watch a kernel and a gradient check.</summary>
[Collection(CpuThreadsCollection.Name)]
public class LearningCommandTests
{
    [Fact]
    public void Every_catalogue_kernel_can_be_traced_and_matches_its_reference()
    {
        Assert.Equal(KernelCatalog.All.Select(k => k.Name).Order(), KernelRecipe.All.Select(r => r.Kernel).Order());
        foreach (var recipe in KernelRecipe.All)
        {
            var output = new StringWriter();
            bool ok = TraceCommand.Run(recipe, (0, 1), 5, output);
            string text = output.ToString();
            Assert.True(ok, $"{recipe.Kernel}:\n{text}");
            Assert.Contains($"launch {recipe.Kernel}:", text);                       // the traced kernel really ran
            Assert.Contains($"{KernelCatalog.Get(recipe.Kernel).File}:", text);     // with instruction lines from its file
        }
    }

    [Fact]
    public void Trace_prints_the_threads_registers_and_the_check()
    {
        var (exit, output, error) = Fer("trace", "--kernel", "scale_f32", "--size", "9", "--thread", "0,1");
        Assert.True(exit == 0, error);
        Assert.Contains("tracing block (0,0,0), thread (1,0,0)", output);
        Assert.Matches(@"Elementwise\.ptx:\d+ +mul\.rn\.f32 %f5, %f9, %f1 +%f5 = 0x[0-9a-f]{8} \(", output);   // a register value, as float bits
        Assert.Contains("bit-identical: OK", output);
    }

    [Fact]
    public void Trace_of_a_thread_outside_the_grid_is_a_usage_error_naming_the_grid_and_bad_arguments_are_usage_errors()
    {
        // max_f32 runs one block of 256 threads whatever N: block 3 does not exist, nor does thread 256.
        var (exit, output, error) = Fer("trace", "--kernel", "max_f32", "--thread", "3,0");
        Assert.Equal(2, exit);
        Assert.Contains("--thread 3,0: for --size 37, max_f32 runs 1 block of 256 threads; choose a block 0 .. 0 and a thread 0 .. 255.", error);
        Assert.DoesNotContain("launch max_f32", output);                                   // refused before anything ran
        (exit, _, error) = Fer("trace", "--kernel", "add_f32", "--size", "5000", "--thread", "1,256");
        Assert.Equal(2, exit);
        Assert.Contains("add_f32 runs 5 blocks of 256 threads; choose a block 0 .. 4 and a thread 0 .. 255", error);
        Assert.Equal(2, Fer("trace", "--kernel", "add_f32", "--size", "5000", "--thread", "5,0").Exit);
        Assert.Equal(0, Fer("trace", "--kernel", "add_f32", "--size", "5000", "--thread", "4,255").Exit);
        Assert.Equal(2, Fer("trace", "--kernel", "no_such_kernel").Exit);
        Assert.Equal(2, Fer("trace", "--kernel", "add_f32", "--thread", "x").Exit);
        Assert.Equal(2, Fer("trace", "--kernel", "add_f32", "--size", "0").Exit);
        Assert.Contains("choose 1 .. 8192 for joint_loss_f32", Fer("trace", "--kernel", "joint_loss_f32", "--size", "9000").Error);   // rows squared
        // The float-atomic sum of 100,000 values rounds in any order: its allowed error grows with N.
        Assert.Equal(0, Fer("trace", "--kernel", "sum_f32", "--size", "100000").Exit);
        Assert.Contains("adam_f32", Fer("trace", "--list").Output);
    }

    [Fact]
    public void Trace_of_a_thread_that_never_ran_fails_rather_than_reporting_the_check_alone()
    {
        // The call launches scale_f32, never copy_f32: the outputs match, but there was nothing to trace.
        var recipe = KernelRecipe.Find("scale_f32")! with { Kernel = "copy_f32" };
        var output = new StringWriter();
        Assert.False(TraceCommand.Run(recipe, (0, 0), 8, output));
        Assert.Contains("thread 0 of block 0 never ran: Scale(x, -1.5, y) does not launch copy_f32 for --size 8, so nothing was traced.", output.ToString());
    }

    [Fact]
    public void Trace_result_lines_name_the_outputs_by_their_kernel_parameters()
    {
        var output = new StringWriter();
        Assert.True(TraceCommand.Run(KernelRecipe.Find("add_f32")!, (0, 0), 8, output));
        Assert.Contains("check: y [8] Float32 against the CPU reference: bit-identical: OK", output.ToString());
        Assert.DoesNotContain("argument", output.ToString());

        // A tensor the traced kernel does not take is named by the kernel that does; Adam's by its table entry.
        output = new StringWriter();
        Assert.True(TraceCommand.Run(KernelRecipe.Find("batchnorm_finalize_statistics_f32")!, (0, 0), 3, output));
        Assert.Contains("check: runningMean [3] Float32", output.ToString());
        Assert.Contains("check: y (of batchnorm_normalize_f32) [4, 3, 4, 4] Float32", output.ToString());
        output = new StringWriter();
        Assert.True(TraceCommand.Run(KernelRecipe.Find("adam_f32")!, (0, 0), 3, output));
        Assert.Contains("check: m (entry 0 of tensors) [3] Float32", output.ToString());
    }

    [Fact]
    public void Trace_lines_align_and_show_comments_register_types_and_stores()
    {
        // SoftmaxCrossEntropy.ptx:99 and SoftmaxCrossEntropy.ptx:100 are both wider than a fixed 24-character column:
        // sized to the longest location, every instruction still starts at the same column.
        var (exit, output, error) = Fer("trace", "--kernel", "softmax_cross_entropy_f32", "--size", "5", "--thread", "0,1");
        Assert.True(exit == 0, error);
        var lines = output.Split('\n').Where(l => l.StartsWith("SoftmaxCrossEntropy.ptx:")).ToList();
        Assert.Contains(lines, l => l.StartsWith("SoftmaxCrossEntropy.ptx:99 "));
        Assert.Contains(lines, l => l.StartsWith("SoftmaxCrossEntropy.ptx:100 "));
        int InstructionColumn(string line) => line.IndexOf(' ') + line[line.IndexOf(' ')..].TakeWhile(c => c == ' ').Count();
        Assert.Single(lines.Select(InstructionColumn).Distinct());

        (exit, output, error) = Fer("trace", "--kernel", "sum_f32", "--size", "9", "--thread", "0,0");
        Assert.True(exit == 0, error);
        // The source line's comment follows the instruction and its values.
        Assert.Matches(@"Reduce\.ptx:\d+ +mov\.u32 %r4, %tid\.x +%r4 = 0 \(0x0\) +// %r4 = tid", output);
        // A shuffle's .b32 result in a .f32 register prints as a float, not as the integer of its bits.
        Assert.Matches(@"shfl\.sync\.bfly\.b32 %f2, %f1, 16, 31, -1 +%f2 = 0x[0-9a-f]{8} \(-?[0-9.E-]+\)", output);
        // Stores show where and what: shared memory by its array and offset, global memory by address.
        Assert.Matches(@"st\.shared\.f32 \[%r10\], %f1 +\[sum_f32_partials\+0\] = 0x[0-9a-f]{8} \(", output);
        Assert.Matches(@"red\.global\.add\.f32 \[%rd2\], %f3 +\[0x[0-9a-f]+\] add= 0x[0-9a-f]{8} \(", output);
    }

    [Fact]
    public void Trace_list_pads_the_kernel_names_to_the_longest()
    {
        var lines = Fer("trace", "--list").Output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        int longest = KernelRecipe.All.Max(r => r.Kernel.Length);
        Assert.Equal(33, longest);                                        // batchnorm_finalize_statistics_f32
        foreach (var line in lines)
        {
            string name = line[..line.IndexOf(' ')];
            Assert.Equal(longest + 2, line.IndexOf(KernelCatalog.Get(name).File, StringComparison.Ordinal));
        }
    }

    [Fact]
    public void Trace_reports_a_mismatch()
    {
        // A "kernel" whose GPU result differs from the CPU's: the check must say so and fail.
        var recipe = KernelRecipe.Find("scale_f32")! with
        {
            Call = (b, t) => b.Scale(t[0], b is FerEngine.Backends.Cuda.CudaBackend ? 2.0 : 2.5, t[1]),
        };
        var output = new StringWriter();
        Assert.False(TraceCommand.Run(recipe, (0, 0), 8, output));
        Assert.Contains("MISMATCH", output.ToString());
    }

    [Fact]
    public void Gradcheck_prints_a_row_per_input_and_passes()
    {
        var (exit, output, error) = Fer("gradcheck", "--op", OpNames.Conv2d);
        Assert.True(exit == 0, error + output);
        var rows = output.Split('\n').Where(l => l.StartsWith(OpNames.Conv2d)).ToList();
        Assert.Equal(2 * 3 * 3 - 2, rows.Count);    // 3 cases x batch 1 and 3; 3 inputs each, 2 without bias
        Assert.All(rows, r => Assert.EndsWith("pass", r.TrimEnd()));
        Assert.Contains("6 cases, 16 inputs: 16 passed, 0 failed", output);
    }

    [Fact]
    public void Gradcheck_says_where_it_runs_and_sizes_its_columns_to_the_longest_op_and_case()
    {
        const string LongOp = "an_op_name_longer_than_twenty_two", LongCase = "a case description longer than the fifty-eight characters of old";
        Tensor Input() => Tensor.Normal(new Shape(3), 0, 1, 1, 1, DType.Float64, Device.CpuReference);
        GradientCheckCases.Case[] cases =
        [
            new("multiply", "x * x", t => Functional.Multiply(t[0], t[0]), () => [Input()]),
            new(LongOp, LongCase, t => Functional.Multiply(t[0], t[0]), () => [Input()]),
        ];
        var output = new StringWriter();
        Assert.True(GradcheckCommand.Run(cases, output));
        var lines = output.ToString().Split('\n');
        Assert.Contains("on the CPU reference backend in float64", lines[0]);

        int caseAt = LongOp.Length + 2, inputAt = caseAt + LongCase.Length + 2;
        string header = lines.Single(l => l.StartsWith("op "));
        Assert.Equal(caseAt, header.IndexOf("case", StringComparison.Ordinal));
        Assert.Equal(inputAt, header.IndexOf("input", StringComparison.Ordinal));
        foreach (var c in cases)
        {
            string row = lines.Single(l => l.StartsWith(c.Op + " "));
            Assert.Equal(caseAt, row.IndexOf(c.Description, StringComparison.Ordinal));
            Assert.Equal('0', row[inputAt]);                              // the input index, in the input column
        }
    }

    [Fact]
    public void Gradcheck_fails_on_a_wrong_rule_and_refuses_bad_arguments()
    {
        // x * detach(x) has the gradient of x * c, not of x^2: a wrong rule the check must catch.
        var wrong = new GradientCheckCases.Case("multiply", "x * detach(x)", t => Functional.Multiply(t[0], t[0].Detach()),
            () => [Tensor.Normal(new Shape(4), 0, 1, 1, 1, DType.Float64, Device.CpuReference)]);
        var output = new StringWriter();
        Assert.False(GradcheckCommand.Run([wrong], output));
        Assert.Contains("FAIL", output.ToString());
        Assert.Contains("0 passed, 1 failed", output.ToString());

        Assert.Equal(2, Fer("gradcheck", "--op", "nope").Exit);
        Assert.Equal(2, Fer("gradcheck", "--dtype", "f32").Exit);
        Assert.Equal(2, Fer("gradcheck", "--op", "relu", "--all").Exit);
    }

    // A negative thread coordinate is a usage error.
    [Fact]
    public void Trace_refuses_a_negative_thread()
    {
        var (exit, _, error) = Fer("trace", "--kernel", "add_f32", "--thread", "0,-1");
        Assert.Equal(2, exit);
        Assert.Contains("--thread 0,-1: expected B,T", error);
    }

    // a GPU result of NaN where the CPU reference is a number is a MISMATCH (only NaN on both sides agrees).
    [Fact]
    public void Trace_reports_nan_against_a_number_as_a_mismatch()
    {
        var recipe = KernelRecipe.Find("scale_f32")! with
        {
            Call = (b, t) => b.Scale(t[0], b is FerEngine.Backends.Cuda.CudaBackend ? double.NaN : 2.0, t[1]),
        };
        var output = new StringWriter();
        Assert.False(TraceCommand.Run(recipe, (0, 0), 8, output));
        Assert.Contains("MISMATCH", output.ToString());
    }
}
