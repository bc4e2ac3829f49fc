using System.CommandLine;
using FerEngine.Trainer.Commands;
using FerEngine.Trainer.Training;

namespace FerEngine.Trainer;

/// <summary>
/// The `fer` command line. Each sub-command lives in its own file under Commands/.
/// Exit codes: 0 success, 1 failure (bad data, I/O, numerical trouble), 2 usage error,
/// 130 interrupted (Ctrl-C or SIGTERM; `fer train` saved first, and --resume continues).
/// </summary>
public static class Program
{
    public const int Success = 0, Failure = 1, UsageError = 2, Interrupted = 130;

    public static int Main(string[] args) => Run(args, Console.Out, Console.Error);

    public static int Run(string[] args, TextWriter output, TextWriter error)
    {
        var root = new RootCommand("fer: train and run the multi-task facial emotion recognition network on FerEngine.")
        {
            TrainCommand.Create(output),
            EvalCommand.Create(output),
            PredictCommand.Create(output),
            DumpStepCommand.Create(output),
            ExportCommand.Create(output),
            InfoCommand.Create(output),
            GradcheckCommand.Create(output),
            TraceCommand.Create(output),
        };
        var parsed = root.Parse(args);
        if (parsed.Errors.Count > 0)
        {
            foreach (var e in parsed.Errors) error.WriteLine($"fer: {OptionChecks.WithoutTypeNames(e.Message)}");
            error.WriteLine("Run `fer --help` (or `fer <command> --help`) for usage.");
            return UsageError;
        }
        try
        {
            return parsed.Invoke(new InvocationConfiguration { Output = output, Error = error, EnableDefaultExceptionHandler = false });
        }
        catch (UsageException e)
        {
            error.WriteLine($"fer: {e.Message}");
            return UsageError;
        }
        catch (Exception e) when (e is IOException or InvalidDataException or ArgumentException or FormatException
                                      or UnauthorizedAccessException or InvalidOperationException or NotSupportedException
                                      or Native.CudaUnavailableException or Native.Cuda.CudaException)
        {
            error.WriteLine($"fer: {e.Message}");
            if (e is Native.Cuda.CudaException && !args.Any(a => a == "--device" || a.StartsWith("--device=")))
                error.WriteLine("fer: --device auto chose the GPU; --device cpu runs on the CPU instead.");
            return Failure;
        }
    }
}
