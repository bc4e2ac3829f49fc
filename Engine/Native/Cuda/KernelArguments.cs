using FerEngine.Kernels;

namespace FerEngine.Native.Cuda;

/// <summary>
/// Packs a launch's arguments for cuLaunchKernel, whose kernelParams is an array of pointers, one
/// per kernel parameter, each pointing at that parameter's value. The values are laid out in one
/// buffer, each at an 8-byte aligned offset, converted exactly to the PTX type the catalogue names
/// (.u64 device addresses and 64-bit integers, .u32, .f32, and .b8 arrays passed by value as
/// byte[]). A value of the wrong type is an error naming the kernel and the parameter, never a
/// silent reinterpretation.
/// </summary>
internal static class KernelArguments
{
    public const int SlotBytes = 8;

    /// <summary>The packed values and where each parameter's value starts in them.</summary>
    public sealed record Packed(byte[] Values, int[] Offsets);

    public static Packed Pack(KernelInfo kernel, object[] arguments)
    {
        if (arguments.Length != kernel.Parameters.Count)
            throw new ArgumentException($"{kernel.Name} takes {kernel.Parameters.Count} arguments ({string.Join(", ", kernel.Parameters.Select(p => p.Name))}); got {arguments.Length}.");
        var offsets = new int[arguments.Length];
        int size = 0;
        for (int i = 0; i < arguments.Length; i++)
        {
            offsets[i] = size;
            int bytes = arguments[i] is byte[] array ? array.Length : SlotBytes;
            size += (bytes + SlotBytes - 1) / SlotBytes * SlotBytes;
        }
        var buffer = new byte[size];
        for (int i = 0; i < arguments.Length; i++)
        {
            var parameter = kernel.Parameters[i];
            var slot = buffer.AsSpan(offsets[i]);
            bool written = (parameter.Type, arguments[i]) switch
            {
                ("u64", ulong v) => BitConverter.TryWriteBytes(slot, v),
                ("u32", uint v) => BitConverter.TryWriteBytes(slot, v),
                ("f32", float v) => BitConverter.TryWriteBytes(slot, v),
                ("b8", byte[] v) => v.AsSpan().TryCopyTo(slot),
                _ => false,
            };
            if (!written)
                throw new ArgumentException($"{kernel.Name}: parameter {i} ({parameter.Name}) is .{parameter.Type}, " +
                    $"but the launcher passed {arguments[i]?.GetType().Name ?? "null"} {arguments[i]}.");
            // The driver copies as many bytes as the .ptx declares: a shorter array would pass whatever follows it.
            if (arguments[i] is byte[] array && KernelCatalog.Emulated(kernel.Name).Parameters[i].Size is var declared && array.Length != declared)
                throw new ArgumentException($"{kernel.Name}: parameter {i} ({parameter.Name}) is {declared} bytes, but the launcher passed {array.Length}.");
        }
        return new Packed(buffer, offsets);
    }
}
