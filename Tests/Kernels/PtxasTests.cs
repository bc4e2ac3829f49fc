using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;
using FerEngine.Kernels;

namespace FerEngine.Tests.Kernels;

/// <summary>
/// Every embedded .ptx file must assemble with NVIDIA's ptxas for sm_80 and sm_90 with no error and
/// no register spill. ptxas comes from FERENGINE_PTXAS (set by .ci/run after .ci/install-ptxas),
/// or from .cache/ptxas/usr/bin/ptxas in the repository (run `bash .ci/install-ptxas`). In CI
/// (CI=true) a missing ptxas is a failure; elsewhere the test is skipped and says why.
///
/// The registers used per kernel and arch are compared with Kernels/REGISTERS.md when that table
/// was made by the same ptxas version (counts differ between versions); set
/// FERENGINE_UPDATE_REGISTERS=1 to rewrite the table.
/// </summary>
public class PtxasTests
{
    private static readonly string[] Architectures = ["sm_80", "sm_90"];

    [Fact]
    public void Every_kernel_assembles_for_sm80_and_sm90_without_spills()
    {
        string ptxas = FindPtxas();
        string version = Run(ptxas, "--version").Output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Last().Trim();
        var registers = new SortedDictionary<string, Dictionary<string, int>>(StringComparer.Ordinal);
        string folder = Directory.CreateTempSubdirectory("ferengine-ptxas").FullName;
        try
        {
            foreach (var file in KernelCatalog.Files)
            {
                string path = Path.Combine(folder, file);
                File.WriteAllText(path, KernelCatalog.Source(file));
                foreach (var arch in Architectures)
                {
                    var (exitCode, output) = Run(ptxas, $"-arch={arch} -v -o {Path.Combine(folder, "out.cubin")} {path}");
                    Assert.True(exitCode == 0, $"ptxas -arch={arch} {file} failed (exit {exitCode}):\n{output}");
                    Assert.DoesNotContain("error", output, StringComparison.OrdinalIgnoreCase);
                    foreach (var (kernel, used, spillStores, spillLoads) in ParseReport(output))
                    {
                        Assert.True(spillStores == 0 && spillLoads == 0,
                            $"{file}: {kernel} spills registers for {arch} ({spillStores} bytes stored, {spillLoads} loaded):\n{output}");
                        if (!registers.TryGetValue(kernel, out var perArch)) registers[kernel] = perArch = new();
                        perArch[arch] = used;
                    }
                }
            }
        }
        finally { Directory.Delete(folder, recursive: true); }

        Assert.Equal(KernelCatalog.All.Select(k => k.Name).Order(StringComparer.Ordinal), registers.Keys);
        string table = Table(version, registers);
        string? committed = RegistersFile();
        if (Environment.GetEnvironmentVariable("FERENGINE_UPDATE_REGISTERS") == "1" && committed is not null)
            File.WriteAllText(committed, table);
        else if (committed is not null && File.Exists(committed) && File.ReadAllText(committed).Contains(version))
            Assert.True(File.ReadAllText(committed) == table,
                $"Registers per kernel changed since Kernels/REGISTERS.md was written (same {version}). If intended, rerun with FERENGINE_UPDATE_REGISTERS=1. New table:\n{table}");
        else   // another ptxas allocates registers its own way: the kernels assembled without spills, which is what counts here
            TestContext.Current.SendDiagnosticMessage($"Kernels/REGISTERS.md was not compared: it was written by another ptxas than this {version}.");
    }

    private static IEnumerable<(string Kernel, int Registers, int SpillStores, int SpillLoads)> ParseReport(string output)
    {
        string? kernel = null;
        int stores = 0, loads = 0;
        foreach (var line in output.Split('\n'))
        {
            var compiling = Regex.Match(line, @"Compiling entry function '([\w$]+)'");
            if (compiling.Success) { kernel = compiling.Groups[1].Value; continue; }
            var spill = Regex.Match(line, @"(\d+) bytes spill stores, (\d+) bytes spill loads");
            if (spill.Success) { stores = int.Parse(spill.Groups[1].Value); loads = int.Parse(spill.Groups[2].Value); continue; }
            var used = Regex.Match(line, @"Used (\d+) registers");
            if (used.Success && kernel is not null) { yield return (kernel, int.Parse(used.Groups[1].Value), stores, loads); kernel = null; }
        }
    }

    private static string Table(string version, SortedDictionary<string, Dictionary<string, int>> registers)
    {
        var sb = new StringBuilder();
        sb.Append("# Registers per kernel\n\n");
        sb.Append($"Written by Tests/Kernels/PtxasTests.cs (FERENGINE_UPDATE_REGISTERS=1) with `ptxas -v`, {version}. No kernel spills.\n\n");
        sb.Append("| kernel | file | sm_80 | sm_90 |\n|---|---|---:|---:|\n");
        foreach (var (kernel, perArch) in registers)
            sb.Append($"| {kernel} | {KernelCatalog.Get(kernel).File} | {perArch["sm_80"]} | {perArch["sm_90"]} |\n");
        return sb.ToString();
    }

    private static string? RegistersFile() => TestPaths.RepositoryRoot() is { } root ? Path.Combine(root, "Kernels", "REGISTERS.md") : null;

    private static string FindPtxas()
    {
        string? fromEnvironment = Environment.GetEnvironmentVariable("FERENGINE_PTXAS");
        string? inRepository = TestPaths.RepositoryRoot() is { } root ? Path.Combine(root, ".cache", "ptxas", "usr", "bin", "ptxas") : null;
        foreach (var candidate in new[] { fromEnvironment, inRepository })
            if (!string.IsNullOrEmpty(candidate) && File.Exists(candidate)) return candidate;
        string why = $"ptxas not found: FERENGINE_PTXAS is {(fromEnvironment is null ? "unset" : $"'{fromEnvironment}' (missing)")} and " +
            $"{inRepository ?? ".cache/ptxas"} does not exist. Run `bash .ci/install-ptxas` (needs root for apt) to install it.";
        if (Environment.GetEnvironmentVariable("CI") == "true") Assert.Fail(why + " In CI this check must run.");
        Assert.Skip(why);
        return "";
    }

    private static (int ExitCode, string Output) Run(string program, string arguments)
    {
        var start = new ProcessStartInfo(program, arguments) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var process = Process.Start(start)!;
        var error = process.StandardError.ReadToEndAsync();
        string output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, output + error.Result);
    }
}
