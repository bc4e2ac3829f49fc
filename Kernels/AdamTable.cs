namespace FerEngine.Kernels;

/// <summary>One tensor's entry in an <see cref="AdamTable"/>: the device addresses of its parameter, gradient and moments, and its element count.</summary>
public readonly record struct AdamTableEntry(ulong Parameter, ulong Gradient, ulong M, ulong V, int Count);

/// <summary>
/// The table Adam.ptx's adam_f32 takes by value: up to <see cref="MaxTensors"/> tensors, each cut
/// into chunks of <see cref="ChunkElements"/> elements; one block updates one chunk. Entry i is
/// 40 bytes at 40 i: p, grad, m, v (u64), n (u32), firstChunk (u32, the chunks of the entries
/// before it). Unused entries stay zero; the kernel reads only the first <c>tensorCount</c>.
/// </summary>
public sealed class AdamTable
{
    public const int MaxTensors = 64;
    public const int EntryBytes = 40;
    public const int Bytes = MaxTensors * EntryBytes;
    /// <summary>2,048 float4 vectors: 8 per thread of a 256-thread block.</summary>
    public const int ChunkElements = 8192;

    /// <summary>The kernel parameter's bytes, <see cref="Bytes"/> long.</summary>
    public byte[] Parameter { get; } = new byte[Bytes];
    public int TensorCount { get; }
    /// <summary>The launch count: the chunks of all entries.</summary>
    public int Chunks { get; }

    public AdamTable(IReadOnlyList<AdamTableEntry> entries)
    {
        if (entries.Count is < 1 or > MaxTensors)
            throw new ArgumentException($"an Adam table holds 1 to {MaxTensors} tensors; got {entries.Count}. Split the list (AdamTable.Batches).");
        var span = Parameter.AsSpan();
        long chunks = 0;
        for (int i = 0; i < entries.Count; i++)
        {
            var e = entries[i];
            if (e.Count < 1) throw new ArgumentException($"Adam table entry {i}: {e.Count} elements; empty tensors are left out of the table.");
            var at = span.Slice(i * EntryBytes, EntryBytes);
            BitConverter.TryWriteBytes(at[0..], e.Parameter);
            BitConverter.TryWriteBytes(at[8..], e.Gradient);
            BitConverter.TryWriteBytes(at[16..], e.M);
            BitConverter.TryWriteBytes(at[24..], e.V);
            BitConverter.TryWriteBytes(at[32..], (uint)e.Count);
            BitConverter.TryWriteBytes(at[36..], (uint)chunks);
            chunks += (e.Count + ChunkElements - 1) / ChunkElements;
        }
        if (chunks > int.MaxValue) throw new ArgumentException($"an Adam table of {chunks} chunks is more than one launch can hold.");
        TensorCount = entries.Count;
        Chunks = (int)chunks;
    }

    /// <summary>Entry <paramref name="i"/> of a table's bytes, as the kernel reads it (for tools that look inside a launch).</summary>
    public static AdamTableEntry ReadEntry(ReadOnlySpan<byte> table, int i)
    {
        var at = table.Slice(i * EntryBytes, EntryBytes);
        return new(BitConverter.ToUInt64(at[0..]), BitConverter.ToUInt64(at[8..]), BitConverter.ToUInt64(at[16..]), BitConverter.ToUInt64(at[24..]),
            (int)BitConverter.ToUInt32(at[32..]));
    }

    /// <summary>The non-empty entries, in order, cut into tables of at most <see cref="MaxTensors"/>: one launch each.</summary>
    public static IEnumerable<AdamTable> Batches(IEnumerable<AdamTableEntry> entries) =>
        entries.Where(e => e.Count > 0).Chunk(MaxTensors).Select(batch => new AdamTable(batch));
}
