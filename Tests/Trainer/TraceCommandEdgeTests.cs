using FerEngine.Trainer.Commands;
using FerEngine.Trainer.Learning;

using static FerEngine.Tests.Trainer.FerCli;

namespace FerEngine.Tests.Trainer;

/// <summary>fer trace: refused thread numbers and NaN against a number.</summary>
public class TraceCommandEdgeTests
{
    // Behaviour (belongs in Tests/Trainer/LearningCommandTests.cs): a negative thread coordinate is a usage error.
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
