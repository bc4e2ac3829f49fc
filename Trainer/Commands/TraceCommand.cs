using System.CommandLine;
using System.Globalization;
using FerEngine.Backends.Cuda;
using FerEngine.Kernels;
using FerEngine.Kernels.Emulator;
using FerEngine.Trainer.Learning;
using FerEngine.Trainer.Training;

namespace FerEngine.Trainer.Commands;

/// <summary>
/// `fer trace --kernel NAME [--thread B,T] [--size N]`: runs one PTX kernel on the emulated GPU on
/// small random data (through the primitive that launches it, see <see cref="KernelRecipe"/>),
/// prints every instruction one thread executes with the registers it writes, then checks the
/// kernel's result against the CPU reference. Exit code 1 if the result does not match or the
/// traced thread never ran; 2 (a usage error, before anything runs) if the thread or block is not
/// part of the kernel's launch at that size.
/// </summary>
public static class TraceCommand
{
    public static Command Create(TextWriter output)
    {
        var kernel = new Option<string>("--kernel") { Description = "The kernel to trace (see `fer trace --list`).", };
        var list = new Option<bool>("--list") { Description = "List the kernels that can be traced, with the primitive that launches each." };
        var thread = new Option<string>("--thread") { Description = "Block and thread to trace, as B,T (x coordinates).", DefaultValueFactory = _ => "0,0" };
        var size = new Option<int>("--size") { Description = "The problem size N (elements, rows, channels or images: see --list).", DefaultValueFactory = _ => 37 };
        var command = new Command("trace", "Run one PTX kernel in the emulator, print one thread's instructions and registers, and check the result.")
            { kernel, list, thread, size };
        command.SetAction(parse =>
        {
            if (parse.GetValue(list))
            {
                int nameWidth = KernelRecipe.All.Max(r => r.Kernel.Length);
                int fileWidth = KernelRecipe.All.Max(r => KernelCatalog.Get(r.Kernel).File.Length);
                foreach (var r in KernelRecipe.All)
                    output.WriteLine($"{r.Kernel.PadRight(nameWidth)}  {KernelCatalog.Get(r.Kernel).File.PadRight(fileWidth)}  {r.Primitive}");
                return Program.Success;
            }
            string name = parse.GetValue(kernel) ?? throw new UsageException("give --kernel NAME (or --list to see the kernels).");
            var recipe = KernelRecipe.Find(name) ?? throw new UsageException(
                $"--kernel {name}: no such kernel; choose one of {string.Join(", ", KernelRecipe.All.Select(r => r.Kernel))}.");
            int n = parse.GetValue(size);
            if (n < 1 || n > recipe.MaxSize) throw new UsageException($"--size {n}: choose 1 .. {recipe.MaxSize} for {recipe.Kernel} (the emulator is slow, and the trace is for reading).");
            return Run(recipe, ParseThread(parse.GetValue(thread)!), n, output) ? Program.Success : Program.Failure;
        });
        return command;
    }

    private static (int Block, int Thread) ParseThread(string text)
    {
        var parts = text.Split(',');
        if (parts.Length == 2 && int.TryParse(parts[0], out int b) && int.TryParse(parts[1], out int t) && b >= 0 && t >= 0) return (b, t);
        throw new UsageException($"--thread {text}: expected B,T (block and thread x coordinates, e.g. 0,5).");
    }

    /// <summary>
    /// Traces the recipe's kernel for one thread and checks the outputs; true when they match the
    /// reference and the thread ran. A thread or block outside every launch of the kernel at this size is
    /// a <see cref="UsageException"/>, found by a dry run (<see cref="TracePlan"/>) before anything runs.
    /// </summary>
    public static bool Run(KernelRecipe recipe, (int Block, int Thread) at, int n, TextWriter output)
    {
        var info = KernelCatalog.Get(recipe.Kernel);
        var plan = TracePlan.Of(recipe, n);
        if (plan.ThreadOutside(recipe.Kernel, n, at.Block, at.Thread) is { } outside) throw new UsageException(outside);
        output.WriteLine($"{recipe.Kernel} ({info.File}): {recipe.Primitive} with N = {n}");
        output.WriteLine($"launch rule: {info.LaunchRule}");
        output.WriteLine("parameters:");
        foreach (var p in info.Parameters) output.WriteLine($"  {p.Name,-22} .{p.Type,-4} {p.Meaning}");
        output.WriteLine();

        var gpu = new EmulatedGpu();
        var device = new CudaDevice(gpu);
        var inputs = recipe.MakeInputs(n);
        var onGpu = inputs.Select(t => t.To(device)).ToArray();
        var trace = new KernelTrace(new Dim3(at.Block, 0, 0), new Dim3(at.Thread, 0, 0), output);
        gpu.Tracing = (recipe.Kernel, trace);
        recipe.Call(device.Backend, onGpu);
        gpu.Tracing = null;
        recipe.Call(Device.CpuReference.Backend, inputs);

        output.WriteLine();
        // A check of the outputs says nothing about a thread that never ran: that is no trace, and a failure.
        bool ran = trace.Instructions > 0;
        if (!ran)
            output.WriteLine($"thread {at.Thread} of block {at.Block} never ran: {recipe.Primitive} " +
                $"{(plan.Grids.Count == 0 ? $"does not launch {recipe.Kernel} for --size {n}" : $"launched {recipe.Kernel} without it")}, so nothing was traced.");
        bool allMatch = ran;
        foreach (int o in recipe.Outputs)
        {
            double[] expected = inputs[o].ToDoubles(), actual = onGpu[o].ToDoubles();
            double worst = 0;
            for (int i = 0; i < expected.Length; i++)
            {
                double error = double.IsNaN(expected[i]) && double.IsNaN(actual[i]) ? 0 : Math.Abs(actual[i] - expected[i]) / (1 + Math.Abs(expected[i]));
                worst = double.IsNaN(error) ? double.PositiveInfinity : Math.Max(worst, error);
            }
            bool match = worst <= recipe.AllowedError(inputs);
            allMatch &= match;
            string verdict = worst == 0 ? "bit-identical" : $"max |error| / (1 + |reference|) = {worst.ToString("0.00E+00", CultureInfo.InvariantCulture)}, allowed {recipe.AllowedError(inputs):G3}";
            output.WriteLine($"check: {plan.TensorNames[o]} {inputs[o].Shape} {inputs[o].DType} against the CPU reference: {verdict}: {(match ? "OK" : "MISMATCH")}");
        }
        return allMatch;
    }
}
