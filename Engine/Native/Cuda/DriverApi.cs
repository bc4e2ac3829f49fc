using System.Runtime.InteropServices;

namespace FerEngine.Native.Cuda;

/// <summary>
/// The CUDA driver API calls we make, as unmanaged function pointers into libcuda.so.1.
/// Signatures and constants are from cuda.h (CUDA 12.6); the export names are the versioned
/// ones the header's #defines select (cuMemAlloc -> cuMemAlloc_v2, cuStreamBeginCapture ->
/// cuStreamBeginCapture_v2, cuStreamDestroy -> cuStreamDestroy_v2, cuEventDestroy -> cuEventDestroy_v2, in CUDA 13 cuEventElapsedTime ->
/// cuEventElapsedTime_v2 (older drivers: the plain name), cuGraphInstantiate ->
/// cuGraphInstantiateWithFlags; cuMemHostAlloc and cuMemFreeHost have no versions), all exported by
/// the CUDA 13 driver on the GPU hosts (../shared/GPU_HOST.md). Handles (CUcontext, CUmodule,
/// CUfunction, CUstream, CUevent, CUgraph, CUgraphExec) are opaque pointers; CUdeviceptr is 64-bit.
/// </summary>
internal sealed unsafe class DriverApi
{
    public const int Success = 0;             // CUDA_SUCCESS
    public const int ErrorOutOfMemory = 2;    // CUDA_ERROR_OUT_OF_MEMORY
    public const int JitErrorLogBuffer = 5;           // CU_JIT_ERROR_LOG_BUFFER
    public const int JitErrorLogBufferSizeBytes = 6;  // CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES
    public const uint StreamNonBlocking = 1;  // CU_STREAM_NON_BLOCKING
    public const uint EventDefault = 0;       // CU_EVENT_DEFAULT
    public const uint EventDisableTiming = 2; // CU_EVENT_DISABLE_TIMING
    public const int CaptureModeThreadLocal = 1;  // CU_STREAM_CAPTURE_MODE_THREAD_LOCAL

    public readonly delegate* unmanaged<uint, int> cuInit;
    public readonly delegate* unmanaged<int*, int, int> cuDeviceGet;                       // (CUdevice*, ordinal)
    public readonly delegate* unmanaged<byte*, int, int, int> cuDeviceGetName;             // (char*, len, CUdevice)
    public readonly delegate* unmanaged<IntPtr*, int, int> cuDevicePrimaryCtxRetain;       // (CUcontext*, CUdevice)
    public readonly delegate* unmanaged<int, int> cuDevicePrimaryCtxRelease_v2;            // (CUdevice)
    public readonly delegate* unmanaged<IntPtr, int> cuCtxSetCurrent;                      // (CUcontext)
    public readonly delegate* unmanaged<nuint*, nuint*, int> cuMemGetInfo_v2;              // (size_t* free, size_t* total)
    public readonly delegate* unmanaged<ulong*, nuint, int> cuMemAlloc_v2;                 // (CUdeviceptr*, size_t)
    public readonly delegate* unmanaged<ulong, int> cuMemFree_v2;                          // (CUdeviceptr)
    public readonly delegate* unmanaged<void**, nuint, uint, int> cuMemHostAlloc;          // (void** pp, size_t, flags)
    public readonly delegate* unmanaged<void*, int> cuMemFreeHost;                         // (void* p)
    public readonly delegate* unmanaged<ulong, void*, nuint, IntPtr, int> cuMemcpyHtoDAsync_v2;  // (dst, src host, bytes, stream)
    public readonly delegate* unmanaged<void*, ulong, nuint, IntPtr, int> cuMemcpyDtoHAsync_v2;  // (dst host, src, bytes, stream)
    public readonly delegate* unmanaged<ulong, ulong, nuint, IntPtr, int> cuMemcpyDtoDAsync_v2;  // (dst, src, bytes, stream)
    public readonly delegate* unmanaged<ulong, byte, nuint, IntPtr, int> cuMemsetD8Async;        // (dst, value, count, stream)
    public readonly delegate* unmanaged<IntPtr*, void*, uint, int*, void**, int> cuModuleLoadDataEx;  // (CUmodule*, image, n, options, values)
    public readonly delegate* unmanaged<IntPtr*, IntPtr, byte*, int> cuModuleGetFunction;  // (CUfunction*, CUmodule, name)
    public readonly delegate* unmanaged<IntPtr, uint, uint, uint, uint, uint, uint, uint, IntPtr, void**, void**, int> cuLaunchKernel;
    public readonly delegate* unmanaged<IntPtr*, uint, int> cuStreamCreate;                // (CUstream*, flags)
    public readonly delegate* unmanaged<IntPtr, int> cuStreamSynchronize;
    public readonly delegate* unmanaged<IntPtr, int> cuStreamDestroy_v2;                   // (CUstream)
    public readonly delegate* unmanaged<IntPtr*, uint, int> cuEventCreate;                 // (CUevent*, flags)
    public readonly delegate* unmanaged<IntPtr, IntPtr, int> cuEventRecord;                // (CUevent, CUstream)
    public readonly delegate* unmanaged<IntPtr, int> cuEventSynchronize;
    public readonly delegate* unmanaged<IntPtr, int> cuEventDestroy_v2;                    // (CUevent)
    public readonly delegate* unmanaged<float*, IntPtr, IntPtr, int> cuEventElapsedTime;   // (ms*, start, end)
    public readonly delegate* unmanaged<IntPtr, int, int> cuStreamBeginCapture_v2;         // (CUstream, CUstreamCaptureMode)
    public readonly delegate* unmanaged<IntPtr, IntPtr*, int> cuStreamEndCapture;          // (CUstream, CUgraph*)
    public readonly delegate* unmanaged<IntPtr*, IntPtr, ulong, int> cuGraphInstantiateWithFlags;  // (CUgraphExec*, CUgraph, flags)
    public readonly delegate* unmanaged<IntPtr, IntPtr, int> cuGraphLaunch;                // (CUgraphExec, CUstream)
    public readonly delegate* unmanaged<IntPtr, int> cuGraphExecDestroy;
    public readonly delegate* unmanaged<IntPtr, int> cuGraphDestroy;
    public readonly delegate* unmanaged<int, byte**, int> cuGetErrorName;                  // (CUresult, const char**)

    public DriverApi(IntPtr library)
    {
        IntPtr F(params string[] names) => Exports.Get(library, NativeLibrarySpec.Driver, names);
        cuInit = (delegate* unmanaged<uint, int>)F("cuInit");
        cuDeviceGet = (delegate* unmanaged<int*, int, int>)F("cuDeviceGet");
        cuDeviceGetName = (delegate* unmanaged<byte*, int, int, int>)F("cuDeviceGetName");
        cuDevicePrimaryCtxRetain = (delegate* unmanaged<IntPtr*, int, int>)F("cuDevicePrimaryCtxRetain");
        cuDevicePrimaryCtxRelease_v2 = (delegate* unmanaged<int, int>)F("cuDevicePrimaryCtxRelease_v2");
        cuCtxSetCurrent = (delegate* unmanaged<IntPtr, int>)F("cuCtxSetCurrent");
        cuMemGetInfo_v2 = (delegate* unmanaged<nuint*, nuint*, int>)F("cuMemGetInfo_v2");
        cuMemAlloc_v2 = (delegate* unmanaged<ulong*, nuint, int>)F("cuMemAlloc_v2");
        cuMemFree_v2 = (delegate* unmanaged<ulong, int>)F("cuMemFree_v2");
        cuMemHostAlloc = (delegate* unmanaged<void**, nuint, uint, int>)F("cuMemHostAlloc");
        cuMemFreeHost = (delegate* unmanaged<void*, int>)F("cuMemFreeHost");
        cuMemcpyHtoDAsync_v2 = (delegate* unmanaged<ulong, void*, nuint, IntPtr, int>)F("cuMemcpyHtoDAsync_v2");
        cuMemcpyDtoHAsync_v2 = (delegate* unmanaged<void*, ulong, nuint, IntPtr, int>)F("cuMemcpyDtoHAsync_v2");
        cuMemcpyDtoDAsync_v2 = (delegate* unmanaged<ulong, ulong, nuint, IntPtr, int>)F("cuMemcpyDtoDAsync_v2");
        cuMemsetD8Async = (delegate* unmanaged<ulong, byte, nuint, IntPtr, int>)F("cuMemsetD8Async");
        cuModuleLoadDataEx = (delegate* unmanaged<IntPtr*, void*, uint, int*, void**, int>)F("cuModuleLoadDataEx");
        cuModuleGetFunction = (delegate* unmanaged<IntPtr*, IntPtr, byte*, int>)F("cuModuleGetFunction");
        cuLaunchKernel = (delegate* unmanaged<IntPtr, uint, uint, uint, uint, uint, uint, uint, IntPtr, void**, void**, int>)F("cuLaunchKernel");
        cuStreamCreate = (delegate* unmanaged<IntPtr*, uint, int>)F("cuStreamCreate");
        cuStreamSynchronize = (delegate* unmanaged<IntPtr, int>)F("cuStreamSynchronize");
        cuStreamDestroy_v2 = (delegate* unmanaged<IntPtr, int>)F("cuStreamDestroy_v2");
        cuEventCreate = (delegate* unmanaged<IntPtr*, uint, int>)F("cuEventCreate");
        cuEventRecord = (delegate* unmanaged<IntPtr, IntPtr, int>)F("cuEventRecord");
        cuEventSynchronize = (delegate* unmanaged<IntPtr, int>)F("cuEventSynchronize");
        cuEventDestroy_v2 = (delegate* unmanaged<IntPtr, int>)F("cuEventDestroy_v2");
        cuEventElapsedTime = (delegate* unmanaged<float*, IntPtr, IntPtr, int>)F("cuEventElapsedTime_v2", "cuEventElapsedTime");   // CUDA 13's cuda.h selects _v2; same signature
        cuStreamBeginCapture_v2 = (delegate* unmanaged<IntPtr, int, int>)F("cuStreamBeginCapture_v2");
        cuStreamEndCapture = (delegate* unmanaged<IntPtr, IntPtr*, int>)F("cuStreamEndCapture");
        cuGraphInstantiateWithFlags = (delegate* unmanaged<IntPtr*, IntPtr, ulong, int>)F("cuGraphInstantiateWithFlags");
        cuGraphLaunch = (delegate* unmanaged<IntPtr, IntPtr, int>)F("cuGraphLaunch");
        cuGraphExecDestroy = (delegate* unmanaged<IntPtr, int>)F("cuGraphExecDestroy");
        cuGraphDestroy = (delegate* unmanaged<IntPtr, int>)F("cuGraphDestroy");
        cuGetErrorName = (delegate* unmanaged<int, byte**, int>)F("cuGetErrorName");
    }

    /// <summary>Throws a <see cref="CudaException"/> naming the call and the driver's error name unless the status is CUDA_SUCCESS.</summary>
    public void Check(int status, string call, string? advice = null)
    {
        if (status == Success) return;
        byte* name = null;
        string text = cuGetErrorName(status, &name) == Success && name != null ? Marshal.PtrToStringAnsi((IntPtr)name)! : $"CUresult {status}";
        throw new CudaException(call, text, advice);
    }
}
