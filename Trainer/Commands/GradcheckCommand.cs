using System.CommandLine;
using System.Globalization;
using FerEngine.Autograd;
using FerEngine.Ops;
using FerEngine.Trainer.Training;

namespace FerEngine.Trainer.Commands;

/// <summary>
/// `fer gradcheck [--op NAME | --all] [--dtype f64]`: the finite-difference gradient checks of the
/// test suite (<see cref="GradientCheckCases"/>), run where a reader can watch them: one row per
/// case and input with the max absolute and the relative error; exit code 1 if any fails.
/// </summary>
public static class GradcheckCommand
{
    public static Command Create(TextWriter output)
    {
        var op = new Option<string?>("--op") { Description = $"Check one op: {string.Join(", ", OpNames.All)}." };
        var all = new Option<bool>("--all") { Description = "Check every op (the default when --op is not given)." };
        var dtype = new Option<string>("--dtype") { Description = "f64 (central differences need float64's precision).", DefaultValueFactory = _ => "f64" };
        var command = new Command("gradcheck", "Check every op's backward pass against finite differences and print the errors.") { op, all, dtype };
        command.SetAction(parse =>
        {
            if (parse.GetValue(dtype) is not ("f64" or "float64"))
                throw new UsageException($"--dtype {parse.GetValue(dtype)}: gradient checks run in f64 only (in float32 the finite differences are too noisy to judge a rule).");
            string? name = parse.GetValue(op);
            if (name is not null && parse.GetValue(all)) throw new UsageException("give either --op NAME or --all, not both.");
            if (name is not null && !OpNames.All.Contains(name))
                throw new UsageException($"--op {name}: no such op; choose one of {string.Join(", ", OpNames.All)}.");
            var cases = GradientCheckCases.All().Where(c => name is null || c.Op == name).ToList();
            return Run(cases, output) ? Program.Success : Program.Failure;
        });
        return command;
    }

    /// <summary>Runs the cases, prints the table and a summary; true when every input passes.</summary>
    public static bool Run(IReadOnlyList<GradientCheckCases.Case> cases, TextWriter output)
    {
        // The op and case columns as wide as their longest text (and their headers), so that every row lines up.
        int opWidth = cases.Select(c => c.Op.Length).Append("op".Length).Max();
        int caseWidth = cases.Select(c => c.Description.Length).Append("case".Length).Max();
        string Row = $"{{0,-{opWidth}}}  {{1,-{caseWidth}}}  {{2,-6}} {{3,-14}} {{4,10}} {{5,10}}  {{6}}";
        output.WriteLine("Gradient checks on the CPU reference backend in float64 (the ops' backward rules; the GPU kernels are checked by `fer trace` and the tests):");
        output.WriteLine($"analytic backward vs central differences (step {GradientCheck.Step:G}), pass when relative error < {GradientCheck.Tolerance:G}");
        output.WriteLine(string.Format(Row, "op", "case", "input", "shape", "max abs", "relative", "").TrimEnd());
        int inputs = 0, failures = 0;
        foreach (var c in cases)
            foreach (var e in GradientCheck.Run(c.Function, c.MakeInputs()))
            {
                bool pass = e.RelativeError < GradientCheck.Tolerance;
                inputs++;
                if (!pass) failures++;
                output.WriteLine(Row, c.Op, c.Description, e.Input, e.Shape, Number(e.MaxAbsError), Number(e.RelativeError), pass ? "pass" : "FAIL");
            }
        output.WriteLine($"{cases.Count} cases, {inputs} inputs: {inputs - failures} passed, {failures} failed");
        return failures == 0;
    }

    private static string Number(double v) => v.ToString("0.00E+00", CultureInfo.InvariantCulture);
}
