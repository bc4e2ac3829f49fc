using System.Runtime.InteropServices;
using System.Text;

namespace FerEngine.Native;

/// <summary>What `fer info` reports about the GPU side: driver version and devices, library versions, or why not.</summary>
public sealed record CudaReport(bool Available, IReadOnlyList<string> Lines);

/// <summary>
/// Asks the CUDA driver (cuInit, cuDriverGetVersion, cuDeviceGetCount, cuDeviceGet, cuDeviceGetName,
/// cuDeviceTotalMem_v2, cuGetErrorName; signatures from cuda.h) which GPUs there are, and loads
/// cuBLAS and cuDNN (cudnnGetVersion) to report their versions. Never throws: a missing piece is a line
/// of the report saying what is missing and what to do.
/// </summary>
public static unsafe class CudaProbe
{
    private const int Success = 0; // CUDA_SUCCESS in cuda.h's CUresult

    /// <summary>
    /// True when the CUDA driver loads (from FERENGINE_CUDA_LIBS or the system loader) and sees at
    /// least one GPU: the quick check behind --device auto, which starts no python3 and loads no
    /// library but the driver. Never throws.
    /// </summary>
    public static bool DriverSeesGpu()
    {
        try
        {
            IntPtr driver = LibraryResolver.Load(NativeLibrarySpec.Driver, LibraryResolver.OverrideFolders(Environment.GetEnvironmentVariable));
            var cuInit = (delegate* unmanaged<uint, int>)NativeLibrary.GetExport(driver, "cuInit");
            var cuDeviceGetCount = (delegate* unmanaged<int*, int>)NativeLibrary.GetExport(driver, "cuDeviceGetCount");
            int count = 0;
            return cuInit(0) == Success && cuDeviceGetCount(&count) == Success && count > 0;
        }
        catch (Exception e) when (e is CudaUnavailableException or EntryPointNotFoundException)
        {
            return false;
        }
    }

    public static CudaReport Run()
    {
        var lines = new List<string>();
        var folders = LibraryResolver.DefaultFolders();
        bool available = false;
        try
        {
            IntPtr driver = LibraryResolver.Load(NativeLibrarySpec.Driver, folders);
            var cuInit = (delegate* unmanaged<uint, int>)NativeLibrary.GetExport(driver, "cuInit");
            var cuDriverGetVersion = (delegate* unmanaged<int*, int>)NativeLibrary.GetExport(driver, "cuDriverGetVersion");
            var cuDeviceGetCount = (delegate* unmanaged<int*, int>)NativeLibrary.GetExport(driver, "cuDeviceGetCount");
            var cuDeviceGet = (delegate* unmanaged<int*, int, int>)NativeLibrary.GetExport(driver, "cuDeviceGet");
            var cuDeviceGetName = (delegate* unmanaged<byte*, int, int, int>)NativeLibrary.GetExport(driver, "cuDeviceGetName");
            var cuDeviceTotalMem = (delegate* unmanaged<nuint*, int, int>)NativeLibrary.GetExport(driver, "cuDeviceTotalMem_v2");
            var cuGetErrorName = (delegate* unmanaged<int, byte**, int>)NativeLibrary.GetExport(driver, "cuGetErrorName");
            string Name(int status)
            {
                byte* text = null;
                return cuGetErrorName(status, &text) == Success && text != null ? Marshal.PtrToStringAnsi((IntPtr)text)! : $"CUresult {status}";
            }

            int status = cuInit(0);
            if (status != Success) throw new CudaUnavailableException($"cuInit failed: {Name(status)} (is the NVIDIA driver loaded and a GPU visible?).");
            int version, count;
            cuDriverGetVersion(&version);
            cuDeviceGetCount(&count);
            lines.Add($"CUDA driver API {version / 1000}.{version % 1000 / 10}, {count} device(s)");
            for (int ordinal = 0; ordinal < count; ordinal++)
            {
                int device;
                var name = new byte[256];
                nuint bytes;
                cuDeviceGet(&device, ordinal);
                fixed (byte* buffer = name) cuDeviceGetName(buffer, name.Length, device);
                cuDeviceTotalMem(&bytes, device);
                lines.Add($"  cuda:{ordinal} {Encoding.ASCII.GetString(name).TrimEnd('\0')}, {bytes / (1024 * 1024)} MiB");
            }
            available = count > 0;
        }
        catch (Exception e) when (e is CudaUnavailableException or EntryPointNotFoundException)
        {
            lines.Add(e.Message);
        }
        foreach (var library in new[] { NativeLibrarySpec.Cublas, NativeLibrarySpec.Cudnn })
        {
            try
            {
                IntPtr handle = LibraryResolver.Load(library, folders);
                string version = library == NativeLibrarySpec.Cudnn
                    ? $" version {((delegate* unmanaged<nuint>)NativeLibrary.GetExport(handle, "cudnnGetVersion"))()}"
                    : "";
                lines.Add($"{library.Name}: loaded{version}");
            }
            catch (CudaUnavailableException e)
            {
                lines.Add(e.Message);
                available = false;
            }
        }
        return new CudaReport(available, lines);
    }
}
