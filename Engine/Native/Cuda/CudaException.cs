namespace FerEngine.Native.Cuda;

/// <summary>A CUDA, cuBLAS or cuDNN call failed: names the call and the library's name for the error.</summary>
public sealed class CudaException(string call, string status, string? advice = null)
    : Exception($"{call} failed: {status}.{(advice is null ? "" : " " + advice)}")
{
    public string Call { get; } = call;
    public string Status { get; } = status;
}

/// <summary>Function pointers out of a loaded library; a missing export is one clear message.</summary>
internal static class Exports
{
    public static IntPtr Get(IntPtr library, string libraryName, string export)
    {
        if (System.Runtime.InteropServices.NativeLibrary.TryGetExport(library, export, out var address)) return address;
        throw new CudaUnavailableException(
            $"{libraryName} does not export {export}: the installed version is older (or newer) than this build expects. " +
            $"Point {LibraryResolver.OverrideVariable} at a CUDA 12/13, cuBLAS 12/13 and cuDNN 9 installation.");
    }
}
