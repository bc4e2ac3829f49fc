using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace FerEngine.Checkpoint;

/// <summary>The tensors and metadata read from a safetensors file.</summary>
public sealed class SafetensorsContent(string path, IReadOnlyDictionary<string, Tensor> tensors, IReadOnlyDictionary<string, string> metadata)
{
    public string Path { get; } = path;
    public IReadOnlyDictionary<string, Tensor> Tensors { get; } = tensors;
    public IReadOnlyDictionary<string, string> Metadata { get; } = metadata;

    /// <summary>Fails listing every missing, unexpected and wrong-shape tensor at once.</summary>
    public void RequireNames(IEnumerable<(string Name, Shape Shape)> expected)
    {
        var wanted = expected.ToDictionary(e => e.Name, e => e.Shape);
        var missing = wanted.Keys.Where(n => !Tensors.ContainsKey(n)).ToList();
        var unexpected = Tensors.Keys.Where(n => !wanted.ContainsKey(n)).ToList();
        var wrong = wanted.Where(w => Tensors.TryGetValue(w.Key, out var t) && t.Shape != w.Value)
            .Select(w => $"{w.Key} is {Tensors[w.Key].Shape}, expected {w.Value}").ToList();
        if (missing.Count + unexpected.Count + wrong.Count == 0) return;
        var message = new StringBuilder($"{Path} does not hold the expected tensors:");
        if (missing.Count > 0) message.Append($" missing: {string.Join(", ", missing)}.");
        if (unexpected.Count > 0) message.Append($" unexpected: {string.Join(", ", unexpected)}.");
        if (wrong.Count > 0) message.Append($" wrong shape: {string.Join("; ", wrong)}.");
        throw new InvalidDataException(message.ToString());
    }
}

/// <summary>
/// The safetensors format (https://github.com/huggingface/safetensors): an 8-byte little-endian
/// header length N, N bytes of JSON {"__metadata__": {str: str}, name: {"dtype", "shape",
/// "data_offsets": [begin, end]}}, then the raw little-endian row-major data, offsets counted
/// from the first byte after the header. PyTorch loads our files with safetensors.torch.load_file.
/// </summary>
public static class SafetensorsFile
{
    public const long MaxHeaderBytes = 100L << 20;

    private static readonly Dictionary<DType, string> Names = new()
    {
        [DType.Float32] = "F32", [DType.Float64] = "F64", [DType.Int64] = "I64", [DType.Int32] = "I32", [DType.UInt8] = "U8",
    };

    /// <summary>Writes the tensors (in the given order) atomically: a crash never leaves a partial file.</summary>
    public static void Save(string path, IEnumerable<(string Name, Tensor Tensor)> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var list = tensors.ToList();
        var header = new JsonObject();
        if (metadata is { Count: > 0 })
            header["__metadata__"] = new JsonObject(metadata.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)JsonValue.Create(kv.Value))));
        long offset = 0;
        foreach (var (name, tensor) in list)
        {
            if (name == "__metadata__" || header.ContainsKey(name))
                throw new ArgumentException($"safetensors: tensor name '{name}' is reserved or repeated.");
            long bytes = tensor.ElementCount * tensor.DType.SizeInBytes();
            header[name] = new JsonObject
            {
                ["dtype"] = Names[tensor.DType],
                ["shape"] = new JsonArray(tensor.Shape.ToArray().Select(d => (JsonNode?)JsonValue.Create(d)).ToArray()),
                ["data_offsets"] = new JsonArray(JsonValue.Create(offset), JsonValue.Create(offset + bytes)),
            };
            offset += bytes;
        }
        byte[] json = Encoding.UTF8.GetBytes(header.ToJsonString());
        int padded = (json.Length + 7) / 8 * 8; // pad with spaces to a multiple of 8, as the reference writer does
        AtomicFile.Write(path, stream =>
        {
            Span<byte> length = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)padded);
            stream.Write(length);
            stream.Write(json);
            for (int i = json.Length; i < padded; i++) stream.WriteByte((byte)' ');
            foreach (var (_, tensor) in list) stream.Write(HostBytes(tensor));
        });
    }

    /// <summary>Reads and validates a file; every problem names the file and what is wrong.</summary>
    public static SafetensorsContent Load(string path, Device device)
    {
        byte[] file;
        try { file = File.ReadAllBytes(path); }
        catch (FileNotFoundException) { throw new FileNotFoundException($"{path}: no such file.", path); }
        if (file.Length < 8) throw Bad(path, $"the file has {file.Length} bytes; a safetensors file starts with an 8-byte header length.");
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(file);
        if (headerLength > MaxHeaderBytes) throw Bad(path, $"header length {headerLength} is larger than {MaxHeaderBytes} bytes; this is not a safetensors file (or it is corrupt).");
        if (8 + (long)headerLength > file.Length) throw Bad(path, $"header length {headerLength} runs past the end of the {file.Length}-byte file (truncated?).");
        long dataStart = 8 + (long)headerLength;

        JsonObject header;
        try { header = JsonNode.Parse(file.AsSpan(8, (int)headerLength))?.AsObject() ?? throw new JsonException("empty header"); }
        catch (Exception e) when (e is JsonException or InvalidOperationException) { throw Bad(path, $"the header is not a JSON object: {e.Message}"); }

        var metadata = new Dictionary<string, string>();
        var tensors = new Dictionary<string, Tensor>();
        var ranges = new List<(long Begin, long End, string Name)>();
        try
        {
            ReadEntries(path, header, file.AsSpan((int)dataStart), device, metadata, tensors, ranges);
        }
        catch (Exception e) when (e is InvalidOperationException or FormatException or JsonException)
        {
            throw Bad(path, $"an entry of the header has the wrong JSON type ({e.Message})");   // e.g. a number where a string belongs
        }
        ranges.Sort((a, b) => a.Begin.CompareTo(b.Begin));
        for (int i = 1; i < ranges.Count; i++)
            if (ranges[i].Begin < ranges[i - 1].End)
                throw Bad(path, $"tensors '{ranges[i - 1].Name}' and '{ranges[i].Name}' overlap in the data area.");
        return new SafetensorsContent(path, tensors, metadata);
    }

    /// <summary>Only the __metadata__ of a file (what a run's state says about it), without reading its tensors.</summary>
    public static IReadOnlyDictionary<string, string> ReadMetadata(string path)
    {
        using var stream = File.OpenRead(path);
        Span<byte> length = stackalloc byte[8];
        if (stream.ReadAtLeast(length, 8, throwOnEndOfStream: false) < 8) throw Bad(path, $"the file has {stream.Length} bytes; a safetensors file starts with an 8-byte header length.");
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(length);
        if (headerLength > MaxHeaderBytes || 8 + (long)headerLength > stream.Length)
            throw Bad(path, $"header length {headerLength} does not fit the {stream.Length}-byte file (truncated, or not a safetensors file).");
        var json = new byte[headerLength];
        stream.ReadExactly(json);
        var metadata = new Dictionary<string, string>();
        try
        {
            var header = JsonNode.Parse(json)?.AsObject() ?? throw new JsonException("empty header");
            foreach (var (key, value) in header["__metadata__"]?.AsObject() ?? [])
                metadata[key] = value is JsonValue v && v.TryGetValue(out string? s) ? s : throw Bad(path, $"__metadata__ value of '{key}' is not a string.");
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException) { throw Bad(path, $"the header is not a JSON object with a __metadata__ object: {e.Message}"); }
        return metadata;
    }

    /// <summary>The header's metadata and tensors (data: the bytes after the header), each entry checked.</summary>
    private static void ReadEntries(string path, JsonObject header, ReadOnlySpan<byte> data, Device device, Dictionary<string, string> metadata,
        Dictionary<string, Tensor> tensors, List<(long Begin, long End, string Name)> ranges)
    {
        long dataLength = data.Length;
        foreach (var (name, node) in header)
        {
            if (name == "__metadata__")
            {
                foreach (var (key, value) in node?.AsObject() ?? [])
                    metadata[key] = value is JsonValue v && v.TryGetValue(out string? s) ? s : throw Bad(path, $"__metadata__ value of '{key}' is not a string.");
                continue;
            }
            var entry = node as JsonObject ?? throw Bad(path, $"entry '{name}' is not an object.");
            string dtypeName = entry["dtype"]?.GetValue<string>() ?? throw Bad(path, $"'{name}' has no dtype.");
            var dtype = Names.FirstOrDefault(kv => kv.Value == dtypeName).Key;
            if (!Names.ContainsKey(dtype) || Names[dtype] != dtypeName)
                throw Bad(path, $"'{name}' has dtype {dtypeName}; supported: {string.Join(", ", Names.Values)}.");
            int[] dims = entry["shape"]?.AsArray().Select(d => d!.GetValue<int>()).ToArray() ?? throw Bad(path, $"'{name}' has no shape.");
            long[] offsets = entry["data_offsets"]?.AsArray().Select(d => d!.GetValue<long>()).ToArray() ?? throw Bad(path, $"'{name}' has no data_offsets.");
            if (offsets.Length != 2 || offsets[0] < 0 || offsets[1] < offsets[0] || offsets[1] > dataLength)
                throw Bad(path, $"'{name}' data_offsets [{string.Join(", ", offsets)}] lie outside the {dataLength}-byte data area.");
            if (dims.Any(d => d < 0)) throw Bad(path, $"'{name}' has a negative dimension.");
            var shape = new Shape(dims);
            long expected = shape.ElementCount * dtype.SizeInBytes();
            if (offsets[1] - offsets[0] != expected)
                throw Bad(path, $"'{name}' ({dtypeName} {shape}) needs {expected} bytes but data_offsets span {offsets[1] - offsets[0]}.");
            ranges.Add((offsets[0], offsets[1], name));
            tensors[name] = FromBytes(data.Slice((int)offsets[0], (int)expected), dtype, shape, device);
        }
    }

    private static InvalidDataException Bad(string path, string problem) => new($"{path}: not a valid safetensors file: {problem}");

    private static byte[] HostBytes(Tensor t) => t.DType switch
    {
        DType.Float32 => MemoryMarshal.AsBytes(t.ToArray<float>().AsSpan()).ToArray(),
        DType.Float64 => MemoryMarshal.AsBytes(t.ToArray<double>().AsSpan()).ToArray(),
        DType.Int64 => MemoryMarshal.AsBytes(t.ToArray<long>().AsSpan()).ToArray(),
        DType.Int32 => MemoryMarshal.AsBytes(t.ToArray<int>().AsSpan()).ToArray(),
        _ => t.ToArray<byte>(),
    };

    private static Tensor FromBytes(ReadOnlySpan<byte> bytes, DType dtype, Shape shape, Device device) => dtype switch
    {
        DType.Float32 => Tensor.FromArray(MemoryMarshal.Cast<byte, float>(bytes).ToArray(), shape, device),
        DType.Float64 => Tensor.FromArray(MemoryMarshal.Cast<byte, double>(bytes).ToArray(), shape, device),
        DType.Int64 => Tensor.FromArray(MemoryMarshal.Cast<byte, long>(bytes).ToArray(), shape, device),
        DType.Int32 => Tensor.FromArray(MemoryMarshal.Cast<byte, int>(bytes).ToArray(), shape, device),
        _ => Tensor.FromArray(bytes.ToArray(), shape, device),
    };
}
