using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;

namespace FerEngine.Benchmarks;

/// <summary>
/// The benchmark commands' options. Each value is checked as the command line is parsed, so a bad
/// one is a usage error that names the option before anything runs, not a stack trace minutes in.
/// </summary>
internal static class BenchmarkOptions
{
    public static Option<int> Batch(int fallback, int least) =>
        new Option<int>("--batch") { Description = "Images per batch.", DefaultValueFactory = _ => fallback }
            .Require(b => b >= least && b <= 65536, $"must be from {least} to 65536{(least == 2 ? " (training batch norm needs two samples)" : "")}.");

    public static Option<int> Threads(int fallback = 2) =>
        new Option<int>("--threads") { Description = "CPU threads.", DefaultValueFactory = _ => fallback }
            .Require(t => t is >= 1 and <= 1024, "must be from 1 to 1024.");

    public static Option<double> Seconds(double fallback) =>
        new Option<double>("--seconds") { Description = "Time each measurement for at least this long.", DefaultValueFactory = _ => fallback }
            .Require(s => s > 0 && s < 3600, "must be a positive number of seconds (under an hour).");

    /// <param name="fallback">/usr/bin/python3 (Debian's python3-torch) for CPU peers; python3 on PATH (pip's PyTorch) on a GPU host</param>
    public static Option<string> Python(string fallback) =>
        new("--python") { Description = "The Python that runs the PyTorch peer script; without PyTorch the PyTorch columns say \"-\".", DefaultValueFactory = _ => fallback };

    /// <summary>A Markdown file for the report (<see cref="WriteReport"/>); checked before the run: a file in a folder that exists and can be written.</summary>
    public static Option<string?> Out()
    {
        var option = new Option<string?>("--out") { Description = "Also write the report to this Markdown file." };
        option.Validators.Add(result =>
        {
            string? path = result.GetValueOrDefault<string?>();
            string? folder = string.IsNullOrWhiteSpace(path) ? null : Path.GetDirectoryName(Path.GetFullPath(path));
            if (folder is null || Directory.Exists(path) || !Directory.Exists(folder))
                result.AddError($"--out {path}: must be a file in an existing folder.");
            else if (WritableFolderProblem(folder) is { } problem)
                result.AddError($"--out {path}: the folder cannot be written ({problem}).");
        });
        return option;
    }

    /// <summary>Null when a file can be created in <paramref name="folder"/>, else the reason: found before a run of minutes, not after it.</summary>
    private static string? WritableFolderProblem(string folder)
    {
        string probe = Path.Combine(folder, $".ferengine-write-probe-{Guid.NewGuid():N}");
        try
        {
            using var _ = new FileStream(probe, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1, FileOptions.DeleteOnClose);
            return null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return e.Message.Replace(probe, folder); }
    }

    /// <summary>
    /// Writes a report to --out whole or not at all (<see cref="Checkpoint.AtomicFile"/>): a run stopped
    /// mid-write, as the GPU host's deadline does, leaves the previous version rather than half a table.
    /// </summary>
    public static void WriteReport(string? outFile, string report)
    {
        if (outFile is not null) Checkpoint.AtomicFile.WriteAllText(outFile, report);
    }

    /// <summary>Width multipliers, "1,0.25": read the values with <see cref="Values{T}"/>.</summary>
    public static Option<string> Widths(string fallback) =>
        List<double>("--widths", fallback, "Width multipliers, comma-separated.", w => w > 0 && w <= 8, "(0, 8]");

    /// <summary>Whole numbers, "32,256": read the values with <see cref="Values{T}"/>.</summary>
    public static Option<string> Counts(string name, string fallback, string description, int least, int most = 65536) =>
        List<int>(name, fallback, description, n => n >= least && n <= most, $"{least} to {most}");

    /// <summary>The values of a list option (already checked when it was parsed).</summary>
    public static T[] Values<T>(string list) where T : IParsable<T> =>
        [.. list.Split(',', StringSplitOptions.TrimEntries).Select(item => T.Parse(item, CultureInfo.InvariantCulture))];

    /// <summary>"1,0.25": a comma-separated list in one argument, each value checked to be in range.</summary>
    private static Option<string> List<T>(string name, string fallback, string description, Func<T, bool> valid, string range) where T : IParsable<T>
    {
        var option = new Option<string>(name) { Description = description, DefaultValueFactory = _ => fallback };
        option.Validators.Add(result =>
        {
            string text = result.GetValueOrDefault<string>();
            foreach (var item in text.Split(',', StringSplitOptions.TrimEntries))
                if (!T.TryParse(item, CultureInfo.InvariantCulture, out var value) || !valid(value))
                {
                    result.AddError($"{name} {text}: `{item}` is not {(typeof(T) == typeof(int) ? "a whole number" : "a number")} in {range}; give a comma-separated list such as {fallback}.");
                    return;
                }
        });
        return option;
    }
}
