namespace FerEngine.Benchmarks;

/// <summary>The runners' "--name value" options.</summary>
internal static class Arguments
{
    public static string Option(string[] args, string name, string fallback)
    {
        int at = Array.IndexOf(args, name);
        return at >= 0 && at + 1 < args.Length ? args[at + 1] : fallback;
    }
}
