using System.CommandLine;

namespace FerEngine.Trainer;

/// <summary>The `fer` command line: each sub-command lives in its own file under Commands/.</summary>
public static class Program
{
    public static int Main(string[] args)
    {
        var root = new RootCommand("fer: train and run the multi-task facial emotion recognition network on FerEngine.");
        var info = new Command("info", "Version, devices and backends found.");
        info.SetAction(_ =>
        {
            Console.WriteLine($"FerEngine {typeof(Program).Assembly.GetName().Version}");
            Console.WriteLine($"devices: {Device.Cpu} ({Device.Cpu.Backend.Name}), {Device.CpuReference} ({Device.CpuReference.Backend.Name})");
            Console.WriteLine($"CPU threads: {Environment.ProcessorCount}, SIMD: Vector512 {System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated}");
            return 0;
        });
        root.Subcommands.Add(info);
        return root.Parse(args).Invoke();
    }
}
