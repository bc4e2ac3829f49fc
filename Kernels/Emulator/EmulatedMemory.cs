using System.Runtime.InteropServices;

namespace FerEngine.Kernels.Emulator;

/// <summary>
/// Emulated global memory: a registry of allocations, each host memory (a byte array) addressed by
/// a 64-bit fake device address. Allocations are 256-byte aligned (like cudaMalloc) and separated
/// by unmapped guard gaps, so an access just past the end of one never lands in the next: it is
/// reported instead (a GPU would silently corrupt memory).
/// </summary>
public sealed class EmulatedMemory
{
    /// <summary>One allocation: [Address, Address + Bytes.Length).</summary>
    public sealed record Allocation(ulong Address, byte[] Bytes)
    {
        public ulong End => Address + (ulong)Bytes.LongLength;
        public override string ToString() => $"0x{Address:x}..0x{End:x} ({Bytes.LongLength} bytes)";
    }

    private const ulong FirstAddress = 0x7f00_0000_0000;
    private const ulong Guard = 4096;
    private readonly object gate = new();
    private Allocation[] allocations = [];   // sorted by address; replaced, never mutated (lock-free reads)
    private ulong next = FirstAddress;

    /// <summary>Allocates <paramref name="bytes"/> zeroed bytes and returns their device address.</summary>
    public ulong Allocate(long bytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(bytes);
        lock (gate)
        {
            var allocation = new Allocation(next, new byte[bytes]);
            next = (allocation.End + Guard + 255) & ~255UL;
            allocations = [.. allocations, allocation];
            return allocation.Address;
        }
    }

    /// <summary>Allocates room for <paramref name="values"/> and copies them in.</summary>
    public ulong Upload<T>(ReadOnlySpan<T> values) where T : unmanaged
    {
        ulong address = Allocate((long)values.Length * Marshal.SizeOf<T>());
        Write(address, values);
        return address;
    }

    public void Free(ulong address)
    {
        lock (gate)
        {
            if (!allocations.Any(a => a.Address == address))
                throw new PtxEmulatorException($"free: 0x{address:x} is not the start of an allocation.");
            allocations = [.. allocations.Where(a => a.Address != address)];
        }
    }

    public void Write<T>(ulong address, ReadOnlySpan<T> values) where T : unmanaged =>
        MemoryMarshal.AsBytes(values).CopyTo(Span(address, (long)values.Length * Marshal.SizeOf<T>()));

    public void Read<T>(ulong address, Span<T> values) where T : unmanaged =>
        Span(address, (long)values.Length * Marshal.SizeOf<T>()).CopyTo(MemoryMarshal.AsBytes(values));

    public T[] Read<T>(ulong address, int count) where T : unmanaged
    {
        var values = new T[count];
        Read<T>(address, values);
        return values;
    }

    /// <summary>The bytes [address, address + length), which must lie inside one allocation.</summary>
    public Span<byte> Span(ulong address, long length)
    {
        var allocation = Find(address, length)
            ?? throw new PtxEmulatorException($"host access of {length} bytes at 0x{address:x}: {Describe(address)}");
        return allocation.Bytes.AsSpan((int)(address - allocation.Address), (int)length);
    }

    /// <summary>The current allocations, sorted by address (a snapshot the interpreter uses for one launch).</summary>
    internal Allocation[] Snapshot => Volatile.Read(ref allocations);

    internal Allocation? Find(ulong address, long length) => Find(Snapshot, address, length);

    internal static Allocation? Find(Allocation[] sorted, ulong address, long length)
    {
        int low = 0, high = sorted.Length - 1;
        while (low <= high)
        {
            int middle = (low + high) >> 1;
            var a = sorted[middle];
            if (address < a.Address) high = middle - 1;
            else if (address >= a.End) low = middle + 1;
            else return address + (ulong)length <= a.End ? a : null;
        }
        return null;
    }

    /// <summary>Why an address is not accessible: the nearest allocation and how far it missed.</summary>
    internal string Describe(ulong address) => Describe(Snapshot, address);

    internal static string Describe(Allocation[] sorted, ulong address)
    {
        if (sorted.Length == 0) return "no memory is allocated.";
        var nearest = sorted.MinBy(a => address < a.Address ? a.Address - address : address >= a.End ? address - a.End + 1 : 0)!;
        string where = address < nearest.Address ? $"{nearest.Address - address} bytes before its start"
            : address >= nearest.End ? $"{address - nearest.End} bytes past its end"
            : $"at byte {address - nearest.Address}, but the access runs past its end";
        return $"outside every allocation; the nearest allocation is {nearest}, missed {where}.";
    }
}
