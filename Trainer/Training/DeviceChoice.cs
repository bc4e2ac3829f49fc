using FerEngine.Backends.Cpu;
using FerEngine.Backends.Cuda;

namespace FerEngine.Trainer.Training;

/// <summary>
/// --device auto|cpu|cpu-reference|cuda|emulated, turned into a <see cref="Device"/>. "emulated" is
/// the CUDA backend on the emulated GPU (PTX kernels in the emulator): slow, for checking and
/// teaching; "cuda" is the real GPU 0 through our driver, cuBLAS and cuDNN bindings (no GPU: a
/// message that says where the libraries were looked for).
/// </summary>
public static class DeviceChoice
{
    public static readonly string[] Names = ["auto", "cpu", "cpu-reference", "cuda", "emulated"];

    /// <param name="tf32">on a real GPU, let cuBLAS and cuDNN use TF32 tensor cores for float32 (PyTorch's default)</param>
    public static Device Resolve(string name, int threads, bool tf32 = true)
    {
        CpuFastBackend.Threads = Math.Max(1, threads);
        return name.ToLowerInvariant() switch
        {
            "auto" or "cpu" => Device.Cpu,
            "cpu-reference" => Device.CpuReference,
            "emulated" => CudaDevice.Emulated(),
            "cuda" => CudaDevice.Real(0, tf32),
            _ => throw new UsageException($"--device {name}: unknown device; choose one of {string.Join(", ", Names)}."),
        };
    }
}

/// <summary>A mistake in how the command was called: exit code 2 and the message, no stack trace.</summary>
public sealed class UsageException(string message) : Exception(message);
