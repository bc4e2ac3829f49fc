using System.Runtime.InteropServices;
using System.Text;

namespace FerEngine.Native;

/// <summary>What `fer info` reports about the GPU side: driver version and devices, where cuBLAS and cuDNN were loaded from (and cuDNN's version), or why not.</summary>
public sealed record CudaReport(bool Available, IReadOnlyList<string> Lines);

/// <summary>
/// Asks the CUDA driver (cuInit, cuDriverGetVersion, cuDeviceGetCount, cuDeviceGet, cuDeviceGetName,
/// cuDeviceTotalMem_v2, cuGetErrorName; signatures from cuda.h) which GPUs there are, and loads
/// cuBLAS (checking it exports cublasCreate_v2) and cuDNN (cudnnGetVersion: 9 or newer). Never throws:
/// a missing piece is a line of the report saying what is missing and what to do.
/// </summary>
public static unsafe class CudaProbe
{
    private const int Success = 0; // CUDA_SUCCESS in cuda.h's CUresult

    /// <summary>
    /// True when the CUDA driver loads (from FERENGINE_CUDA_LIBS or the system loader) and sees at
    /// least one GPU: the quick check behind --device auto, which starts no python3 and loads no
    /// library but the driver. Never throws.
    /// </summary>
    public static bool DriverSeesGpu() => DriverSeesGpu(out _);

    /// <param name="why">when false, why not, in words</param>
    public static bool DriverSeesGpu(out string why)
    {
        try
        {
            IntPtr driver = LibraryResolver.Load(NativeLibrarySpec.Driver, LibraryResolver.OverrideFolders(Environment.GetEnvironmentVariable));
            var cuInit = (delegate* unmanaged<uint, int>)Export(driver, "cuInit");
            var cuDeviceGetCount = (delegate* unmanaged<int*, int>)Export(driver, "cuDeviceGetCount");
            int count = 0, status = cuInit(0);
            why = status != Success ? $"cuInit returned CUresult {status}"
                : cuDeviceGetCount(&count) != Success || count == 0 ? "the driver sees no GPU"
                : "";
            return why.Length == 0;
        }
        catch (CudaUnavailableException e)
        {
            why = e.Message;
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
            var cuInit = (delegate* unmanaged<uint, int>)Export(driver, "cuInit");
            var cuDriverGetVersion = (delegate* unmanaged<int*, int>)Export(driver, "cuDriverGetVersion");
            var cuDeviceGetCount = (delegate* unmanaged<int*, int>)Export(driver, "cuDeviceGetCount");
            var cuDeviceGet = (delegate* unmanaged<int*, int, int>)Export(driver, "cuDeviceGet");
            var cuDeviceGetName = (delegate* unmanaged<byte*, int, int, int>)Export(driver, "cuDeviceGetName");
            var cuDeviceTotalMem = (delegate* unmanaged<nuint*, int, int>)Export(driver, "cuDeviceTotalMem_v2");
            var cuGetErrorName = (delegate* unmanaged<int, byte**, int>)Export(driver, "cuGetErrorName");
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
        catch (CudaUnavailableException e)
        {
            lines.Add(e.Message);
        }
        foreach (var library in new[] { NativeLibrarySpec.Cublas, NativeLibrarySpec.Cudnn })
        {
            try
            {
                IntPtr handle = LibraryResolver.Load(library, folders);
                string version = "";
                if (library == NativeLibrarySpec.Cublas)
                    Export(handle, "cublasCreate_v2", library);   // a file of that name that is not cuBLAS fails here, not in the first training step
                else
                {
                    nuint cudnn = ((delegate* unmanaged<nuint>)Export(handle, "cudnnGetVersion", library))();
                    if (cudnn < 90000)   // cuDNN 9 numbers its versions major * 10000 + minor * 100 + patch
                        throw new CudaUnavailableException($"cuDNN ({LibraryResolver.PathOf(handle)}) is version {cudnn}; this build needs cuDNN 9 (the pip wheel nvidia-cudnn-cu12 or -cu13).");
                    version = $", version {cudnn}";
                }
                lines.Add($"{library.Name}: loaded {LibraryResolver.PathOf(handle)}{version}");
            }
            catch (CudaUnavailableException e)
            {
                lines.Add(e.Message);
                available = false;
            }
        }
        return new CudaReport(available, lines);
    }

    /// <summary>An export of a loaded library, or <see cref="CudaUnavailableException"/> naming the library and its file.</summary>
    private static IntPtr Export(IntPtr library, string export, NativeLibrarySpec? spec = null) =>
        Cuda.Exports.Get(library, spec ?? NativeLibrarySpec.Driver, export);
}
