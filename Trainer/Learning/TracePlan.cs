using FerEngine.Backends.Cuda;
using FerEngine.Kernels;
using FerEngine.Kernels.Emulator;

namespace FerEngine.Trainer.Learning;

/// <summary>
/// What a recipe's primitive call does at size N, learnt before anything runs by a dry run on a
/// <see cref="LaunchRecorder"/>: the grid of every launch of the traced kernel (so that `fer trace
/// --thread B,T` can be refused when thread T or block B is not part of it), and, for each tensor of
/// the call, the name of the kernel parameter that receives it (so that the result lines say "y",
/// not "argument 7").
/// </summary>
public sealed class TracePlan
{
    /// <summary>The grid of each launch of the traced kernel, in order (none if the call does not launch it).</summary>
    public required IReadOnlyList<LaunchGrid> Grids { get; init; }

    /// <summary>Per tensor of the call: its parameter name in the traced kernel, else "name (of other_kernel)", else "tensor i".</summary>
    public required IReadOnlyList<string> TensorNames { get; init; }

    public static TracePlan Of(KernelRecipe recipe, int n)
    {
        var recorder = new LaunchRecorder(new EmulatedGpu());
        var device = new CudaDevice(recorder);
        var tensors = recipe.MakeInputs(n).Select(t => t.To(device)).ToArray();
        recipe.Call(device.Backend, tensors);
        var launches = recorder.Launches;
        return new TracePlan
        {
            Grids = [.. launches.Where(l => l.Kernel == recipe.Kernel).Select(l => KernelCatalog.Get(l.Kernel).LaunchFor(l.Count))],
            TensorNames = [.. tensors.Select((t, i) => NameOf(Address(t), recipe.Kernel, launches) ?? $"tensor {i}")],
        };
    }

    /// <summary>
    /// A usage message when thread <paramref name="thread"/> of block <paramref name="block"/> (x coordinates)
    /// is in no launch of the traced kernel, naming the block size and grid; null when it is in one.
    /// </summary>
    public string? ThreadOutside(string kernel, int n, int block, int thread)
    {
        if (Grids.Count == 0 || Grids.Any(g => block < g.Grid.X && thread < g.Block.X)) return null;
        int threads = Grids[0].Block.X, blocks = Grids.Max(g => g.Grid.X);
        return $"--thread {block},{thread}: for --size {n}, {kernel} runs {blocks} block{(blocks == 1 ? "" : "s")} of {threads} threads; " +
            $"choose a block 0 .. {blocks - 1} and a thread 0 .. {threads - 1}.";
    }

    /// <summary>The device address of a tensor's first element, as the backend passes it to a kernel.</summary>
    private static ulong Address(Tensor t) => ((CudaStorage)t.Storage).Address + (ulong)(t.Offset * t.DType.SizeInBytes());

    /// <summary>The parameter that received <paramref name="address"/>: in the traced kernel first, else in another launched kernel.</summary>
    private static string? NameOf(ulong address, string traced, IReadOnlyList<RecordedLaunch> launches)
    {
        foreach (var launch in launches.OrderBy(l => l.Kernel == traced ? 0 : 1))
            for (int i = 0; i < launch.Arguments.Length; i++)
            {
                string? name = launch.Arguments[i] switch
                {
                    ulong argument when argument == address => KernelCatalog.Get(launch.Kernel).Parameters[i].Name,
                    byte[] table => InTable(table, address, KernelCatalog.Get(launch.Kernel).Parameters[i].Name),
                    _ => null,
                };
                if (name is not null) return launch.Kernel == traced ? name : $"{name} (of {launch.Kernel})";
            }
        return null;
    }

    /// <summary>An address inside a table passed by value, adam_f32's <see cref="AdamTable"/>: "m (entry 0 of tensors)".</summary>
    private static string? InTable(byte[] table, ulong address, string parameter)
    {
        for (int i = 0; (i + 1) * AdamTable.EntryBytes <= table.Length; i++)
        {
            var entry = AdamTable.ReadEntry(table, i);
            string? field = address == entry.Parameter ? "p" : address == entry.Gradient ? "grad" : address == entry.M ? "m" : address == entry.V ? "v" : null;
            if (field is not null) return $"{field} (entry {i} of {parameter})";
        }
        return null;
    }
}
