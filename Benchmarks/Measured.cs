namespace FerEngine.Benchmarks;

/// <summary>
/// A measurement that may fail without ending the run: on a GPU lent for minutes, one failed
/// case should not cost every other number in the table.
/// </summary>
internal static class Measured
{
    /// <summary>run's result, or NaN after writing what failed and why to the error stream (the log).</summary>
    public static double OrNaN(string what, Func<double> run)
    {
        try { return run(); }
        catch (Exception e)
        {
            Console.Error.WriteLine($"{what} failed: {e}");
            return double.NaN;
        }
    }
}
