namespace FerEngine.Native.Cuda;

/// <summary>Function pointers out of a loaded library; a missing export is one clear message.</summary>
internal static class Exports
{
    /// <summary>The first of <paramref name="exports"/> the library has (a newer versioned name first, then the older one).</summary>
    public static IntPtr Get(IntPtr library, string libraryName, params string[] exports)
    {
        foreach (string export in exports)
            if (System.Runtime.InteropServices.NativeLibrary.TryGetExport(library, export, out var address)) return address;
        throw new CudaUnavailableException(
            $"{libraryName} does not export {string.Join(" or ", exports)}: the installed version is older (or newer) than this build expects. " +
            $"Point {LibraryResolver.OverrideVariable} at a CUDA 12/13, cuBLAS 12/13 and cuDNN 9 installation.");
    }
}
