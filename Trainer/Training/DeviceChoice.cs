using FerEngine.Backends.Cpu;
using FerEngine.Backends.Cuda;

namespace FerEngine.Trainer.Training;

/// <summary>
/// --device auto|cpu|cpu-reference|cuda|emulated, turned into a <see cref="Device"/>. "emulated" is
/// the CUDA backend on the emulated GPU (PTX kernels in the emulator): slow, for checking and
/// teaching; "cuda" needs the real-GPU bindings, which are not in this build yet.
/// </summary>
public static class DeviceChoice
{
    public static readonly string[] Names = ["auto", "cpu", "cpu-reference", "cuda", "emulated"];

    public static Device Resolve(string name, int threads)
    {
        CpuFastBackend.Threads = Math.Max(1, threads);
        return name.ToLowerInvariant() switch
        {
            "auto" or "cpu" => Device.Cpu,
            "cpu-reference" => Device.CpuReference,
            "emulated" => CudaDevice.Emulated(),
            "cuda" => throw new UsageException(
                "--device cuda: the bindings to a real GPU are not part of this build yet (see the README's status section). " +
                "Use --device cpu, or --device emulated to run the CUDA backend on the emulated GPU."),
            _ => throw new UsageException($"--device {name}: unknown device; choose one of {string.Join(", ", Names)}."),
        };
    }
}

/// <summary>A mistake in how the command was called: exit code 2 and the message, no stack trace.</summary>
public sealed class UsageException(string message) : Exception(message);
