using System.Diagnostics;
using System.Runtime.InteropServices;

namespace FerEngine.Native;

/// <summary>A native library we need and its file names, most preferred first.</summary>
public sealed record NativeLibrarySpec(string Name, IReadOnlyList<string> FileNames)
{
    public static readonly NativeLibrarySpec Driver = new("CUDA driver", ["libcuda.so.1"]);
    public static readonly NativeLibrarySpec Cublas = new("cuBLAS", ["libcublas.so.13", "libcublas.so.12"]);
    public static readonly NativeLibrarySpec Cudnn = new("cuDNN", ["libcudnn.so.9"]);
}

/// <summary>No GPU library could be loaded: the message lists where we looked and what to set.</summary>
public sealed class CudaUnavailableException(string message) : Exception(message);

/// <summary>
/// Finds the CUDA libraries without guessing silently. Folders are searched in this order:
///   1. FERENGINE_CUDA_LIBS (folders separated by ':'), an explicit override;
///   2. LD_LIBRARY_PATH;
///   3. the pip-installed NVIDIA wheels of the python3 on PATH (nvidia/*/lib, nvidia/cu13/lib) and of
///      /opt/torch/.venv (where the lent GPU hosts keep PyTorch);
///   4. /usr/local/cuda*/lib64;
/// and finally the system loader by bare file name (ldconfig, the driver's own install). For a
/// library with several versions the newer file name wins in every folder before an older one is tried.
/// Two exceptions to that order, for libraries that must match something else:
///   - the driver (libcuda.so.1) must match the kernel module, so after the override the system
///     loader comes first: a folder may hold a stub or a compat copy, and cuInit would then fail;
///   - a library that loads others by bare name at run time (cuBLAS its libcublasLt, cuDNN 9 its
///     libcudnn_* sub-libraries) has those loaded first from its own folder, so the loader reuses
///     them instead of searching and perhaps finding another version.
/// </summary>
public static class LibraryResolver
{
    public const string OverrideVariable = "FERENGINE_CUDA_LIBS";

    /// <summary>The folders to search, in order (duplicates removed).</summary>
    public static IReadOnlyList<string> SearchFolders(Func<string, string?> environment, IEnumerable<string> pythonNvidiaFolders)
    {
        var folders = new List<string>(OverrideFolders(environment));
        folders.AddRange((environment("LD_LIBRARY_PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries));
        foreach (var nvidia in pythonNvidiaFolders)
        {
            if (!Directory.Exists(nvidia)) continue;
            foreach (var package in Directory.GetDirectories(nvidia).Order(StringComparer.Ordinal))
                folders.Add(Path.Combine(package, "lib"));
        }
        if (Directory.Exists("/usr/local"))
            foreach (var cuda in Directory.GetDirectories("/usr/local", "cuda*").Order(StringComparer.Ordinal))
                folders.Add(Path.Combine(cuda, "lib64"));
        return folders.Distinct().ToList();
    }

    /// <summary>Full paths to try, in order: every folder for the preferred file name, then the next name.</summary>
    public static IReadOnlyList<string> Candidates(NativeLibrarySpec library, IReadOnlyList<string> folders) =>
        library.FileNames.SelectMany(name => folders.Select(folder => Path.Combine(folder, name))).Where(File.Exists).ToList();

    /// <summary>The search folders of this process: environment, python3's NVIDIA wheels, /usr/local/cuda*.</summary>
    public static IReadOnlyList<string> DefaultFolders() =>
        SearchFolders(Environment.GetEnvironmentVariable, PythonNvidiaFolders());

    /// <summary>
    /// Loads the library or throws <see cref="CudaUnavailableException"/> saying where it looked and,
    /// for a file that is there but would not load (a missing dependency such as libcublasLt, a file cut
    /// short), the loader's reason.
    /// </summary>
    public static IntPtr Load(NativeLibrarySpec library, IReadOnlyList<string>? folders = null)
    {
        folders ??= DefaultFolders();
        var failures = new List<string>();
        foreach (var path in LoadOrder(library, folders, OverrideFolders(Environment.GetEnvironmentVariable)))
        {
            bool isFile = Path.IsPathRooted(path);
            if (isFile)
                foreach (var companion in Companions(path))
                    NativeLibrary.TryLoad(companion, out _);   // a failure here shows up, with cuDNN's own message, when the library needs it
            try
            {
                IntPtr handle = NativeLibrary.Load(path);
                LoadedFrom[handle] = path;
                return handle;
            }
            catch (DllNotFoundException e) when (isFile)
            {
                // .NET's message is advice on strace and LD_DEBUG, then the loader's own lines ("path: reason")
                var reasons = e.Message.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Skip(1).ToList();
                failures.Add(reasons.Count > 0 ? string.Join("; ", reasons) : e.Message);
            }
            catch (DllNotFoundException)
            {
                // a bare name the system loader does not know: "not found" says so
            }
            catch (BadImageFormatException e)
            {
                failures.Add($"{path}: {e.Message}");
            }
        }
        throw new CudaUnavailableException(NotFoundMessage(library, folders, failures));
    }

    /// <summary>The file a handle of <see cref="Load"/> came from, for messages about it.</summary>
    public static string? PathOf(IntPtr handle) => LoadedFrom.TryGetValue(handle, out var path) ? path : null;

    private static readonly System.Collections.Concurrent.ConcurrentDictionary<IntPtr, string> LoadedFrom = new();

    /// <summary>
    /// Full paths found in <paramref name="folders"/>, then the bare file names for the system loader;
    /// for the driver, the bare name right after the paths in <paramref name="overrideFolders"/>.
    /// </summary>
    public static IReadOnlyList<string> LoadOrder(NativeLibrarySpec library, IReadOnlyList<string> folders, IReadOnlyList<string> overrideFolders)
    {
        var found = Candidates(library, folders);
        if (library != NativeLibrarySpec.Driver) return [.. found, .. library.FileNames];
        var overridden = found.Where(path => overrideFolders.Contains(Path.GetDirectoryName(path))).ToList();
        return [.. overridden, .. library.FileNames, .. found.Except(overridden)];
    }

    /// <summary>The folders of FERENGINE_CUDA_LIBS.</summary>
    public static IReadOnlyList<string> OverrideFolders(Func<string, string?> environment) =>
        (environment(OverrideVariable) ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries);

    /// <summary>
    /// What <paramref name="path"/> loads by bare name at run time, from its own folder, in load order:
    /// libcublasLt.so.N beside libcublas.so.N; beside libcudnn.so.9 every libcudnn_*.so.9, each after
    /// what it links against: graph (all depend on it), ops, cnn (on ops), adv (on ops and cnn), then
    /// the engines and the heuristic in name order.
    /// </summary>
    public static IReadOnlyList<string> Companions(string path)
    {
        string folder = Path.GetDirectoryName(path)!, name = Path.GetFileName(path);
        if (name.StartsWith("libcublas.so.", StringComparison.Ordinal))
            return [.. new[] { Path.Combine(folder, "libcublasLt.so." + name["libcublas.so.".Length..]) }.Where(File.Exists)];
        if (name == "libcudnn.so.9")
            return [.. Directory.GetFiles(folder, "libcudnn_*.so.9")
                .OrderBy(file => CudnnLoadOrder(Path.GetFileName(file))).ThenBy(file => file, StringComparer.Ordinal)];
        return [];
    }

    private static int CudnnLoadOrder(string name)
    {
        int index = Array.IndexOf(["libcudnn_graph.so.9", "libcudnn_ops.so.9", "libcudnn_cnn.so.9", "libcudnn_adv.so.9"], name);
        return index < 0 ? 4 : index;
    }

    /// <param name="failures">the loader's reason for each file that is there but would not load</param>
    public static string NotFoundMessage(NativeLibrarySpec library, IReadOnlyList<string> folders, IReadOnlyList<string>? failures = null)
    {
        string advice = library == NativeLibrarySpec.Driver
            ? "No NVIDIA driver: this machine has no usable GPU (use --device cpu or --device emulated)."
            : $"Install NVIDIA's {library.Name} (for example the pip wheels PyTorch uses) or point {OverrideVariable} at the folder that holds it.";
        if (failures is { Count: > 0 })
            return $"{library.Name} could not be loaded: {string.Join("; ", failures)}. {advice}";
        return $"{library.Name} not found: looked for {string.Join(" / ", library.FileNames)} in " +
               (folders.Count == 0 ? "no folders" : string.Join(", ", folders.Select(f => Directory.Exists(f) ? f : $"{f} (no such folder)"))) +
               $" and through the system loader. {advice} To choose folders yourself: {OverrideVariable}=/path/one:/path/two.";
    }

    /// <summary>nvidia/ folders of the pip installs: `python3 -c "import nvidia"` and the GPU hosts' /opt/torch/.venv. Asked once per process.</summary>
    private static IEnumerable<string> PythonNvidiaFolders() => PythonNvidia.Value;

    private static readonly Lazy<IReadOnlyList<string>> PythonNvidia = new(() =>
    {
        var folders = new List<string>();
        try
        {
            var info = new ProcessStartInfo("python3", "-c \"import nvidia, os; print(os.pathsep.join(nvidia.__path__))\"")
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            using var process = Process.Start(info);
            if (process is not null)
            {
                var output = process.StandardOutput.ReadToEndAsync();   // both pipes read while it runs: a full pipe would stall it
                _ = process.StandardError.ReadToEndAsync();
                if (process.WaitForExit(5000))
                {
                    if (process.ExitCode == 0)
                        folders.AddRange(output.Result.Trim().Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries).Where(Path.IsPathRooted));
                }
                else
                    process.Kill(entireProcessTree: true);   // a python3 that hangs is not ours to wait for, nor to leave running
            }
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or InvalidOperationException)
        {
            // no python3 on PATH (or it ended as it was killed): nothing to add
        }
        if (Directory.Exists("/opt/torch/.venv/lib"))
            foreach (var python in Directory.GetDirectories("/opt/torch/.venv/lib", "python3*"))
                folders.Add(Path.Combine(python, "site-packages", "nvidia"));
        return folders;
    });
}
