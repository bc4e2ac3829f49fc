namespace FerEngine.Tests;

/// <summary>Where the repository is, for tests that read its committed files (null when the tests run from a bundle elsewhere).</summary>
internal static class TestPaths
{
    public static string? RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "FerEngine.sln"))) return dir.FullName;
        return null;
    }
}
