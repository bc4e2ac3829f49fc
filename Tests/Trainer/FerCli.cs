using FerEngine.Trainer;

namespace FerEngine.Tests.Trainer;

/// <summary>Runs the `fer` command line in process and captures its exit code and output.</summary>
internal static class FerCli
{
    private static readonly string[] CommandsWithDevice = ["train", "eval", "predict", "dump-step"];

    /// <summary>
    /// `fer args`. A command that takes --device and is not given one runs on the CPU: these tests
    /// check the command line, and on a GPU host --device auto would take the GPU, whose sums in
    /// another order would change what the tests compare (the GPU has its own tests).
    /// </summary>
    public static (int Exit, string Output, string Error) Fer(params string[] args)
    {
        if (args.Length > 0 && CommandsWithDevice.Contains(args[0]) && !args.Contains("--device") && !args.Contains("--help"))
            args = [.. args, "--device", "cpu"];
        var output = new StringWriter();
        var error = new StringWriter();
        int exit = Program.Run(args, output, error);
        return (exit, output.ToString(), error.ToString());
    }
}
