using FerEngine.Autograd;
using FerEngine.Ops;

namespace FerEngine.Tests.Engine;

/// <summary>Every op's autograd rule against central differences in float64 (relative error below 1e-6).</summary>
public class GradientCheckTests
{
    private static readonly IReadOnlyList<GradientCheckCases.Case> Cases = GradientCheckCases.All().ToList();

    public static TheoryData<string> CaseNames => new(Cases.Select(c => $"{c.Op}: {c.Description}"));

    [Theory]
    [MemberData(nameof(CaseNames))]
    public void Analytic_gradient_matches_finite_differences(string name)
    {
        var testCase = Cases.Single(c => $"{c.Op}: {c.Description}" == name);
        var errors = GradientCheck.Run(testCase.Function, testCase.MakeInputs());
        foreach (var e in errors)
            Assert.True(e.RelativeError < GradientCheck.Tolerance,
                $"{name}: input {e.Input} {e.Shape} relative error {e.RelativeError:E2} (max abs {e.MaxAbsError:E2})");
    }

    [Fact]
    public void Every_registered_op_has_a_gradient_check()
    {
        var checkedOps = Cases.Select(c => c.Op).ToHashSet();
        var unchecked_ = OpNames.All.Except(checkedOps).ToList();
        Assert.True(unchecked_.Count == 0, $"ops without a gradient check: {string.Join(", ", unchecked_)}");
    }

    [Fact]
    public void The_checker_catches_a_wrong_gradient()
    {
        // x * x with a deliberately wrong rule would be caught; here: sum(x) checked against a
        // function whose analytic gradient is detached from part of the computation.
        var x = Tensor.Normal(new Shape(4), 0, 1, 1, 1, DType.Float64, Device.CpuReference);
        var errors = GradientCheck.Run(t => Functional.Multiply(t[0], t[0].Detach()), [x]);
        Assert.True(errors[0].RelativeError > 0.1, $"a half-detached product should fail the check, error {errors[0].RelativeError}");
    }
}
