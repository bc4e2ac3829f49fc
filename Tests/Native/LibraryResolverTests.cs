using FerEngine.Native;

namespace FerEngine.Tests.Native;

public sealed class LibraryResolverTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("fer-libs-").FullName;
    public void Dispose() => Directory.Delete(_root, recursive: true);

    private string Folder(params string[] parts)
    {
        string path = Path.Combine([_root, .. parts]);
        Directory.CreateDirectory(path);
        return path;
    }

    private static void Touch(string folder, string file) => File.WriteAllText(Path.Combine(folder, file), "");

    [Fact]
    public void The_override_comes_first_then_ld_library_path_then_the_pip_wheels()
    {
        string custom = Folder("custom"), ld = Folder("ld"), nvidia = Folder("site-packages", "nvidia");
        Folder("site-packages", "nvidia", "cudnn", "lib");
        Folder("site-packages", "nvidia", "cu13", "lib");
        var environment = new Dictionary<string, string?> { [LibraryResolver.OverrideVariable] = custom, ["LD_LIBRARY_PATH"] = $"{ld}:{custom}" };
        var folders = LibraryResolver.SearchFolders(v => environment.GetValueOrDefault(v), [nvidia]);
        Assert.Equal([custom, ld, Path.Combine(nvidia, "cu13", "lib"), Path.Combine(nvidia, "cudnn", "lib")], folders.Take(4));
    }

    [Fact]
    public void A_newer_cublas_wins_in_any_folder_over_an_older_one()
    {
        string first = Folder("first"), second = Folder("second");
        Touch(first, "libcublas.so.12");
        Touch(second, "libcublas.so.13");
        var candidates = LibraryResolver.Candidates(NativeLibrarySpec.Cublas, [first, second]);
        Assert.Equal([Path.Combine(second, "libcublas.so.13"), Path.Combine(first, "libcublas.so.12")], candidates);
    }

    [Fact]
    public void The_system_driver_comes_right_after_the_override_and_before_other_folders()
    {
        string custom = Folder("custom"), pip = Folder("pip");
        Touch(custom, "libcuda.so.1");
        Touch(pip, "libcuda.so.1");   // a stub or compat copy must not win over the driver's own
        var order = LibraryResolver.LoadOrder(NativeLibrarySpec.Driver, [custom, pip], overrideFolders: [custom]);
        Assert.Equal([Path.Combine(custom, "libcuda.so.1"), "libcuda.so.1", Path.Combine(pip, "libcuda.so.1")], order);

        Touch(custom, "libcudnn.so.9");
        Touch(pip, "libcudnn.so.9");   // other libraries keep the folder order, the system loader last
        Assert.Equal([Path.Combine(custom, "libcudnn.so.9"), Path.Combine(pip, "libcudnn.so.9"), "libcudnn.so.9"],
            LibraryResolver.LoadOrder(NativeLibrarySpec.Cudnn, [custom, pip], overrideFolders: []));
    }

    [Fact]
    public void Cudnn_and_cublas_companions_come_from_their_own_folder_each_after_what_it_links_against()
    {
        string lib = Folder("cudnn");
        foreach (var file in new[] { "libcudnn.so.9", "libcudnn_adv.so.9", "libcudnn_engines_precompiled.so.9", "libcudnn_ops.so.9", "libcudnn_cnn.so.9",
                                     "libcudnn_heuristic.so.9", "libcudnn_graph.so.9", "libcublas.so.13", "libcublasLt.so.13" })
            Touch(lib, file);
        Assert.Equal(["libcudnn_graph.so.9", "libcudnn_ops.so.9", "libcudnn_cnn.so.9", "libcudnn_adv.so.9", "libcudnn_engines_precompiled.so.9", "libcudnn_heuristic.so.9"],
            LibraryResolver.Companions(Path.Combine(lib, "libcudnn.so.9")).Select(Path.GetFileName));
        Assert.Equal([Path.Combine(lib, "libcublasLt.so.13")], LibraryResolver.Companions(Path.Combine(lib, "libcublas.so.13")));
        Assert.Empty(LibraryResolver.Companions(Path.Combine(lib, "libcublas.so.12")));   // no Lt of that version here
    }

    [Fact]
    public void A_missing_library_is_one_message_listing_the_folders_and_the_override()
    {
        string empty = Folder("empty");
        var e = Assert.Throws<CudaUnavailableException>(() => LibraryResolver.Load(new NativeLibrarySpec("cuDNN", ["libcudnn-not-here.so.9"]), [empty]));
        Assert.Contains(empty, e.Message);
        Assert.Contains("libcudnn-not-here.so.9", e.Message);
        Assert.Contains(LibraryResolver.OverrideVariable, e.Message);
    }

    [Fact]
    public void A_library_that_is_there_but_will_not_load_is_reported_with_the_loaders_reason()
    {
        string broken = Folder("broken");
        File.WriteAllText(Path.Combine(broken, "libcublas-broken.so.13"), "not a shared library");   // as a download cut short
        var library = new NativeLibrarySpec("cuBLAS", ["libcublas-broken.so.13"]);
        var e = Assert.Throws<CudaUnavailableException>(() => LibraryResolver.Load(library, [broken]));
        Assert.StartsWith($"cuBLAS could not be loaded: {Path.Combine(broken, "libcublas-broken.so.13")}: ", e.Message);
        Assert.DoesNotContain("strace", e.Message);   // .NET's general advice is left out, the loader's reason kept

        string missing = Path.Combine(broken, "no-such-folder");
        e = Assert.Throws<CudaUnavailableException>(() => LibraryResolver.Load(library, [missing]));
        Assert.Contains($"{missing} (no such folder)", e.Message);
    }

    [Fact]
    public void The_probe_reports_instead_of_throwing()
    {
        var report = CudaProbe.Run();
        Assert.NotEmpty(report.Lines);
        if (!report.Available)
            Assert.Contains(report.Lines, l => l.Contains("not found") || l.Contains("could not be loaded") || l.Contains("does not export")
                                                || l.Contains("cuInit failed") || l.Contains("0 device") || l.Contains("needs cuDNN 9"));
        else
        {
            // What `fer info` shows on a GPU host: the driver and its devices, then where each library was loaded from.
            Assert.Matches(@"^CUDA driver API \d+\.\d+, [1-9]\d* device\(s\)$", report.Lines[0]);
            Assert.Matches(@"^  cuda:0 .+, [1-9]\d* MiB$", report.Lines[1]);
            Assert.Contains(report.Lines, l => l.StartsWith("cuBLAS: loaded ") && l.Contains("libcublas.so.1"));
            Assert.Contains(report.Lines, l => System.Text.RegularExpressions.Regex.IsMatch(l, @"^cuDNN: loaded .*libcudnn\.so\.9, version 9\d{4}$"));
        }
    }
}
