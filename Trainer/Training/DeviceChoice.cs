using FerEngine.Backends.Cpu;

namespace FerEngine.Trainer.Training;

/// <summary>--device auto|cpu|cpu-reference|cuda|emulated, turned into a <see cref="Device"/>.</summary>
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
            "cuda" or "emulated" => throw new UsageException(
                $"--device {name}: the CUDA backend is not part of this build yet (it is being written: see the README's status section). Use --device cpu."),
            _ => throw new UsageException($"--device {name}: unknown device; choose one of {string.Join(", ", Names)}."),
        };
    }
}

/// <summary>A mistake in how the command was called: exit code 2 and the message, no stack trace.</summary>
public sealed class UsageException(string message) : Exception(message);
