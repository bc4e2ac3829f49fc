using FerEngine.Trainer;

namespace FerEngine.Tests.Trainer;

/// <summary>Runs the `fer` command line in process and captures its exit code and output.</summary>
internal static class FerCli
{
    public static (int Exit, string Output, string Error) Fer(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int exit = Program.Run(args, output, error);
        return (exit, output.ToString(), error.ToString());
    }
}
