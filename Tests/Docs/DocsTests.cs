using System.Text;
using System.Text.RegularExpressions;
using FerEngine.Kernels;

namespace FerEngine.Tests.Docs;

/// <summary>
/// The documents stay true to the code: every relative link in README.md and docs/*.md points at a
/// file that exists, a link whose text names a symbol (`TrainStep.Run`) points at a file that
/// still contains that name, and the kernel table of docs/KERNELS.md matches the catalogue and
/// Kernels/REGISTERS.md (FERENGINE_UPDATE_DOCS=1 rewrites it).
/// </summary>
public class DocsTests
{
    private static string Root()
    {
        if (TestPaths.RepositoryRoot() is { } root) return root;
        Assert.Skip("the repository is not around this test binary (a bundle run elsewhere): the documents cannot be checked here.");
        return "";
    }

    public static TheoryData<string> Documents => ["README.md", "docs/TOUR.md", "docs/KERNELS.md", "docs/FAST_CPU.md", "Kernels/README.md"];

    [Theory, MemberData(nameof(Documents))]
    public void Links_point_at_files_and_names_that_exist(string document)
    {
        string root = Root(), path = Path.Combine(root, document);
        string text = File.ReadAllText(path);
        var links = Regex.Matches(text, @"\[(?<text>[^\]]+)\]\((?<target>[^)\s]+)\)");
        int checkedLinks = 0;
        foreach (Match link in links)
        {
            string target = link.Groups["target"].Value;
            if (target.StartsWith("http") || target.StartsWith('#')) continue;
            string file = Path.GetFullPath(Path.Combine(Path.GetDirectoryName(path)!, target.Split('#')[0]));
            Assert.True(File.Exists(file) || Directory.Exists(file), $"{document}: the link to {target} points at nothing.");
            checkedLinks++;
            var symbol = Regex.Match(link.Groups["text"].Value, @"^`([\w.]+)`$");   // `Name` or `Type.Member`
            if (!symbol.Success || !File.Exists(file) || symbol.Groups[1].Value.EndsWith(".ptx")) continue;
            string linkedText = File.ReadAllText(file);
            foreach (string name in symbol.Groups[1].Value.Split('.'))   // the type and the member both
                Assert.True(Regex.IsMatch(linkedText, $@"\b{Regex.Escape(name)}\b"),
                    $"{document}: `{symbol.Groups[1].Value}` is linked to {target}, which no longer mentions {name}.");
        }
        Assert.True(checkedLinks > 0 || document == "Kernels/README.md", $"{document} has no relative links to check");
    }

    /// <summary>
    /// Every `Type.Member` a document names in code quotes, linked or not, is a type declared in the
    /// source whose file still mentions the member: a renamed method leaves no stale name in the prose.
    /// </summary>
    [Theory, MemberData(nameof(Documents))]
    public void Named_types_and_members_exist_in_the_source(string document)
    {
        string root = Root();
        string text = File.ReadAllText(Path.Combine(root, document));
        var sources = Directory.EnumerateFiles(root, "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}") && !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}"))
            .Select(File.ReadAllText).ToList();
        var missing = new List<string>();
        foreach (var name in Regex.Matches(text, @"`([A-Z]\w*)\.([A-Z]\w*)`").Select(m => (Type: m.Groups[1].Value, Member: m.Groups[2].Value)).Distinct())
        {
            var declaring = sources.Where(source => Regex.IsMatch(source, $@"\b(class|record|struct|interface|enum)\s+{name.Type}\b")).ToList();
            if (declaring.Count == 0) missing.Add($"`{name.Type}.{name.Member}`: no type {name.Type}");
            else if (!declaring.Any(source => Regex.IsMatch(source, $@"\b{name.Member}\b"))) missing.Add($"`{name.Type}.{name.Member}`: {name.Type} has no {name.Member}");
        }
        Assert.True(missing.Count == 0, $"{document} names what the source no longer has:\n{string.Join("\n", missing)}");
    }

    [Fact]
    public void The_kernel_table_matches_the_catalogue_and_the_register_counts()
    {
        string root = Root();
        string doc = Path.Combine(root, "docs", "KERNELS.md");
        var registers = File.ReadAllLines(Path.Combine(root, "Kernels", "REGISTERS.md"))
            .Select(l => l.Split('|', StringSplitOptions.TrimEntries))
            .Where(c => c.Length == 6 && KernelCatalog.All.Any(k => k.Name == c[1]))
            .ToDictionary(c => c[1], c => (Sm80: c[3], Sm90: c[4]));

        var table = new StringBuilder("<!-- kernel table: generated -->\n");
        table.Append("| kernel | file | launch | registers sm_80 / sm_90 |\n|---|---|---|---|\n");
        foreach (var k in KernelCatalog.All.OrderBy(k => k.File, StringComparer.Ordinal).ThenBy(k => k.Name, StringComparer.Ordinal))
        {
            var (sm80, sm90) = registers.TryGetValue(k.Name, out var r) ? r : ("?", "?");
            table.Append($"| `{k.Name}` | {k.File} | {k.LaunchRule} | {sm80} / {sm90} |\n");
        }
        table.Append("<!-- kernel table: end -->");

        string text = File.ReadAllText(doc);
        var section = new Regex(@"<!-- kernel table: generated -->.*?<!-- kernel table: end -->", RegexOptions.Singleline);
        Assert.Matches(section, text);
        string expected = section.Replace(text, table.ToString().Replace("$", "$$"));
        if (Environment.GetEnvironmentVariable("FERENGINE_UPDATE_DOCS") == "1") File.WriteAllText(doc, expected);
        else Assert.True(text == expected, $"docs/KERNELS.md's kernel table is out of date; rerun with FERENGINE_UPDATE_DOCS=1. Expected:\n{table}");
        Assert.All(KernelCatalog.All, k => Assert.True(registers.ContainsKey(k.Name), $"{k.Name} is missing from Kernels/REGISTERS.md"));
    }
}
