namespace FerEngine.Native.Cuda;

/// <summary>Function pointers out of a loaded library; a missing export is one clear message.</summary>
internal static class Exports
{
    /// <summary>The first of <paramref name="exports"/> the library has (a newer versioned name first, then the older one).</summary>
    public static IntPtr Get(IntPtr library, NativeLibrarySpec spec, params string[] exports)
    {
        foreach (string export in exports)
            if (System.Runtime.InteropServices.NativeLibrary.TryGetExport(library, export, out var address)) return address;
        string file = LibraryResolver.PathOf(library) ?? string.Join(" / ", spec.FileNames);
        string advice = spec == NativeLibrarySpec.Driver   // the driver matches the kernel module: no folder setting can swap it
            ? "Update the NVIDIA driver (this build needs one for CUDA 12 or newer), or run on the CPU (--device cpu)."
            : $"Point {LibraryResolver.OverrideVariable} at a folder with cuBLAS 12/13 and cuDNN 9 (the pip wheels PyTorch uses).";
        throw new CudaUnavailableException(
            $"{spec.Name} ({file}) does not export {string.Join(" or ", exports)}: the installed version is older (or newer) than this build expects. {advice}");
    }
}
