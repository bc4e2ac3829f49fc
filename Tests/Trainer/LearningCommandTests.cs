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
    public void Trace_of_a_thread_outside_the_grid_says_so_and_bad_arguments_are_usage_errors()
    {
        var (exit, output, _) = Fer("trace", "--kernel", "max_f32", "--thread", "3,0");
        Assert.Equal(0, exit);
        Assert.Contains("not part of this launch", output);
        Assert.Equal(2, Fer("trace", "--kernel", "no_such_kernel").Exit);
        Assert.Equal(2, Fer("trace", "--kernel", "add_f32", "--thread", "x").Exit);
        Assert.Equal(2, Fer("trace", "--kernel", "add_f32", "--size", "0").Exit);
        Assert.Contains("choose 1 .. 8192 for joint_loss_f32", Fer("trace", "--kernel", "joint_loss_f32", "--size", "9000").Error);   // rows squared
        // The float-atomic sum of 100,000 values rounds in any order: its allowed error grows with N.
        Assert.Equal(0, Fer("trace", "--kernel", "sum_f32", "--size", "100000").Exit);
        Assert.Contains("adam_f32", Fer("trace", "--list").Output);
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
