using FerEngine.Backends.Cpu;
using FerEngine.Backends.Cuda;
using FerEngine.Native;
using FerEngine.Native.Cuda;

namespace FerEngine.Trainer.Training;

/// <summary>
/// --device auto|cpu|cpu-reference|cuda|emulated, turned into a <see cref="Device"/>. "auto" is the
/// real GPU 0 when the driver sees one and cuBLAS and cuDNN load, otherwise the CPU; "emulated" is
/// the CUDA backend on the emulated GPU (PTX kernels in the emulator): slow, for checking and
/// teaching; "cuda" is the real GPU 0 through our driver, cuBLAS and cuDNN bindings (no GPU: a
/// message that says where the libraries were looked for).
/// </summary>
public static class DeviceChoice
{
    public static readonly string[] Names = ["auto", "cpu", "cpu-reference", "cuda", "emulated"];

    /// <param name="tf32">on a real GPU, let cuBLAS and cuDNN use TF32 tensor cores for float32 (PyTorch by default allows it for convolutions only, not matrix products)</param>
    /// <param name="warn">where "auto" says why it did not take a GPU that is there</param>
    public static Device Resolve(string name, int threads, bool tf32 = true, Action<string>? warn = null)
    {
        CpuFastBackend.Threads = Math.Max(1, threads);
        if (threads > Environment.ProcessorCount)
            warn?.Invoke($"--threads {threads} is more than this machine's {Environment.ProcessorCount} logical cores: the extra threads wait for a core, and each step slows down.");
        return name.ToLowerInvariant() switch
        {
            "auto" => Auto(tf32, warn ?? (_ => { })),
            "cpu" => Device.Cpu,
            "cpu-reference" => Device.CpuReference,
            "emulated" => CudaDevice.Emulated(),
            "cuda" => CudaDevice.Real(0, tf32),
            _ => throw new UsageException($"--device {name}: unknown device; choose one of {string.Join(", ", Names)}."),
        };
    }

    /// <summary>The device as the trainer's log shows it: "cpu (2 threads)", "cuda:NVIDIA H100 80GB HBM3 (TF32 tensor cores, eager)".</summary>
    public static string Describe(Device device, int threads, bool tf32, bool graph) => device switch
    {
        CudaDevice { Gpu: EmulatedGpu } => $"{device.Name} (the CUDA backend in the PTX emulator: slow, for checking and teaching)",
        CudaDevice => $"{device.Name} ({(tf32 ? "TF32 tensor cores" : "strict float32")}, {(graph ? "CUDA graph replay after two warm-up steps" : "eager")})",
        _ when device == Device.Cpu => $"{device.Name} ({threads} thread{(threads == 1 ? "" : "s")})",
        _ => device.Name,
    };

    /// <summary>The first GPU if it can be used, otherwise the CPU (saying why when a GPU was there).</summary>
    private static Device Auto(bool tf32, Action<string> warn)
    {
        if (!CudaProbe.DriverSeesGpu(out string why))
        {
            if (LibraryResolver.OverrideFolders(Environment.GetEnvironmentVariable).Count > 0)   // the user pointed at a driver: say why it was not taken
                warn($"{LibraryResolver.OverrideVariable} is set, but no GPU can be used ({why}). Running on the CPU instead.");
            return Device.Cpu;
        }
        try
        {
            return CudaDevice.Real(0, tf32);
        }
        catch (Exception e) when (e is CudaUnavailableException or CudaException)
        {
            warn($"the driver sees a GPU, but it cannot be used: {e.Message} Running on the CPU instead (--device cpu chooses it without this check).");
            return Device.Cpu;
        }
    }
}

/// <summary>A mistake in how the command was called: exit code 2 and the message, no stack trace.</summary>
public sealed class UsageException(string message) : Exception(message);
