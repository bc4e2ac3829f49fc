using System.CommandLine;
using System.Runtime.Intrinsics;
using FerEngine.Model.Network;

namespace FerEngine.Trainer.Commands;

/// <summary>`fer info`: version, devices and backends, and the default model's summary.</summary>
public static class InfoCommand
{
    public static Command Create(TextWriter output)
    {
        var command = new Command("info", "Version, devices and backends found, and the model summary.");
        command.SetAction(_ =>
        {
            output.WriteLine($"FerEngine {typeof(InfoCommand).Assembly.GetName().Version} on .NET {Environment.Version}");
            output.WriteLine($"CPU: {Environment.ProcessorCount} logical cores, Vector512 {(Vector512.IsHardwareAccelerated ? "yes" : "no")}, Vector256 {(Vector256.IsHardwareAccelerated ? "yes" : "no")}");
            output.WriteLine($"devices: {Device.Cpu} ({Device.Cpu.Backend.Name}: fast float32 path), {Device.CpuReference} ({Device.CpuReference.Backend.Name}: plain reference loops)");
            output.WriteLine("emulated: the CUDA backend on the emulated GPU (PTX kernels in the emulator), --device emulated");
            output.WriteLine("cuda: a real GPU through our driver, cuBLAS and cuDNN bindings, --device cuda. What this machine has:");
            foreach (var line in FerEngine.Native.CudaProbe.Run().Lines) output.WriteLine($"  {line}");
            output.WriteLine();
            output.Write(ModelSummary.Format(new FerNetConfig()));
            return Program.Success;
        });
        return command;
    }
}
