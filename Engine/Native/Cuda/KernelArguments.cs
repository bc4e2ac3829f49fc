using FerEngine.Kernels;

namespace FerEngine.Native.Cuda;

/// <summary>
/// Packs a launch's arguments for cuLaunchKernel, whose kernelParams is an array of pointers, one
/// per kernel parameter, each pointing at that parameter's value. The values are laid out in one
/// buffer, one 8-byte slot per parameter, converted exactly to the PTX type the catalogue names
/// (.u64 device addresses and 64-bit integers, .u32, .f32). A value of the wrong type is an
/// error naming the kernel and the parameter, never a silent reinterpretation.
/// </summary>
internal static class KernelArguments
{
    public const int SlotBytes = 8;

    public static byte[] Pack(KernelInfo kernel, object[] arguments)
    {
        if (arguments.Length != kernel.Parameters.Count)
            throw new ArgumentException($"{kernel.Name} takes {kernel.Parameters.Count} arguments ({string.Join(", ", kernel.Parameters.Select(p => p.Name))}); got {arguments.Length}.");
        var buffer = new byte[SlotBytes * arguments.Length];
        for (int i = 0; i < arguments.Length; i++)
        {
            var parameter = kernel.Parameters[i];
            var slot = buffer.AsSpan(i * SlotBytes, SlotBytes);
            bool written = (parameter.Type, arguments[i]) switch
            {
                ("u64", ulong v) => BitConverter.TryWriteBytes(slot, v),
                ("u32", uint v) => BitConverter.TryWriteBytes(slot, v),
                ("f32", float v) => BitConverter.TryWriteBytes(slot, v),
                _ => false,
            };
            if (!written)
                throw new ArgumentException($"{kernel.Name}: parameter {i} ({parameter.Name}) is .{parameter.Type}, " +
                    $"but the launcher passed {arguments[i]?.GetType().Name ?? "null"} {arguments[i]}.");
        }
        return buffer;
    }
}
