using System.CommandLine;
using System.Text.RegularExpressions;

namespace FerEngine.CommandLine;

/// <summary>
/// Option checks that `fer` and the benchmark program share (Benchmarks compiles this file too: see
/// Benchmarks.csproj), so that both refuse a bad value in the same words.
/// </summary>
internal static class OptionChecks
{
    /// <summary>Refuses a value that <paramref name="valid"/> rejects, with the usage error "--option value: what".</summary>
    public static Option<T> Require<T>(this Option<T> option, Func<T, bool> valid, string what)
    {
        option.Validators.Add(result =>
        {
            T value;
            try { value = result.GetValueOrDefault<T>(); }
            catch (InvalidOperationException) { return; }   // not a T at all: the parser reports that error itself
            if (!valid(value)) result.AddError($"{option.Name} {value}: {what}");
        });
        return option;
    }

    /// <summary>A parse error with the parser's "as expected type 'System.Int32'" (or 'System.Nullable`1[System.Int32]') in words a user knows.</summary>
    public static string WithoutTypeNames(string message) =>
        Regex.Replace(message, @"as expected type '(?:System\.Nullable`1\[)?System\.(\w+)\]?'", type => type.Groups[1].Value switch
        {
            "Double" or "Single" => "as a number",
            "Int32" or "Int64" => "as a whole number",
            "UInt32" or "UInt64" => "as a whole number, 0 or more",
            _ => type.Value,
        });
}
