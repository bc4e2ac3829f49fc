using System.Buffers.Binary;
using System.Text;
using FerEngine.Checkpoint;

namespace FerEngine.Tests.Engine;

public sealed class SafetensorsTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("fer-safetensors-").FullName;
    public void Dispose() => Directory.Delete(_folder, recursive: true);
    private string PathOf(string name) => Path.Combine(_folder, name);

    [Fact]
    public void Round_trip_keeps_every_dtype_shape_value_and_the_metadata()
    {
        var cpu = Device.CpuReference;
        (string, Tensor)[] tensors =
        [
            ("f32", Tensor.FromArray(new[] { 1.5f, -2f, 3.25f, 0f, 5f, 6f }, new Shape(2, 3), cpu)),
            ("f64", Tensor.FromArray(new[] { Math.PI }, Shape.Scalar, cpu)),
            ("i64", Tensor.FromArray(new long[] { -1, long.MaxValue }, new Shape(2), cpu)),
            ("u8", Tensor.FromArray(new byte[] { 0, 255, 7 }, new Shape(1, 3), cpu)),
            ("empty", Tensor.Zeros(new Shape(0, 4), DType.Float32, cpu)),
        ];
        SafetensorsFile.Save(PathOf("a.safetensors"), tensors, new Dictionary<string, string> { ["config"] = "{\"width\": 1}" });
        var back = SafetensorsFile.Load(PathOf("a.safetensors"), cpu);
        foreach (var (name, t) in tensors)
        {
            Assert.Equal(t.Shape, back.Tensors[name].Shape);
            Assert.Equal(t.DType, back.Tensors[name].DType);
            Assert.Equal(t.ToDoubles(), back.Tensors[name].ToDoubles());
        }
        Assert.Equal("{\"width\": 1}", back.Metadata["config"]);
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(File.ReadAllBytes(PathOf("a.safetensors")));
        Assert.Equal(0UL, headerLength % 8);
    }

    private string WriteRaw(string name, string json, byte[] data)
    {
        var header = Encoding.UTF8.GetBytes(json);
        var bytes = new byte[8 + header.Length + data.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)header.Length);
        header.CopyTo(bytes, 8);
        data.CopyTo(bytes, 8 + header.Length);
        File.WriteAllBytes(PathOf(name), bytes);
        return PathOf(name);
    }

    [Theory]
    [InlineData("{\"x\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}", "not a JSON object")]
    [InlineData("{\"x\": {\"dtype\": \"BF16\", \"shape\": [2], \"data_offsets\": [0, 4]}}", "dtype BF16")]
    [InlineData("{\"x\": {\"dtype\": \"F32\", \"shape\": [3], \"data_offsets\": [0, 8]}}", "needs 12 bytes")]
    [InlineData("{\"x\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [0, 16]}}", "outside the 8-byte data area")]
    [InlineData("{\"x\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}, \"y\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [4, 8]}}", "overlap")]
    public void Corrupt_headers_are_reported_with_the_file_and_the_problem(string json, string expected)
    {
        string path = WriteRaw("bad.safetensors", json, new byte[8]);
        var e = Assert.Throws<InvalidDataException>(() => SafetensorsFile.Load(path, Device.CpuReference));
        Assert.Contains(path, e.Message);
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void Truncated_and_tiny_files_are_reported()
    {
        File.WriteAllBytes(PathOf("tiny"), [1, 2, 3]);
        Assert.Contains("8-byte header length", Assert.Throws<InvalidDataException>(() => SafetensorsFile.Load(PathOf("tiny"), Device.Cpu)).Message);
        var bytes = new byte[16];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, 100);
        File.WriteAllBytes(PathOf("cut"), bytes);
        Assert.Contains("runs past the end", Assert.Throws<InvalidDataException>(() => SafetensorsFile.Load(PathOf("cut"), Device.Cpu)).Message);
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, ulong.MaxValue);
        File.WriteAllBytes(PathOf("huge"), bytes);
        Assert.Contains("larger than", Assert.Throws<InvalidDataException>(() => SafetensorsFile.Load(PathOf("huge"), Device.Cpu)).Message);
    }

    [Fact]
    public void A_write_that_fails_midway_leaves_the_previous_file_and_no_temporary()
    {
        string path = PathOf("model.safetensors");
        AtomicFile.WriteAllText(path, "previous good content");
        var e = Assert.Throws<FileWriteException>(() => AtomicFile.Write(path, stream =>
        {
            stream.Write(new byte[1000]);
            // .NET's message for ENOSPC names the file written: here the hidden temporary one
            throw new IOException($"No space left on device : '{((FileStream)stream).Name}'", 28);
        }));
        Assert.Equal("previous good content", File.ReadAllText(path));
        Assert.Single(Directory.GetFiles(_folder));
        // The error names the file the user knows, not the temporary.
        Assert.Equal($"cannot write {path}: No space left on device. Any earlier model.safetensors is unchanged.", e.Message);
    }

    [Fact]
    public void RequireNames_lists_every_problem_at_once()
    {
        SafetensorsFile.Save(PathOf("n.safetensors"), [("a", Tensor.Zeros(new Shape(2), DType.Float32, Device.Cpu)), ("extra", Tensor.Zeros(new Shape(1), DType.Float32, Device.Cpu))]);
        var content = SafetensorsFile.Load(PathOf("n.safetensors"), Device.Cpu);
        var e = Assert.Throws<InvalidDataException>(() => content.RequireNames([("a", new Shape(3)), ("b", new Shape(1))]));
        Assert.Contains("missing: b", e.Message);
        Assert.Contains("unexpected: extra", e.Message);
        Assert.Contains("a is [2], expected [3]", e.Message);
    }

    [Fact]
    public void Header_entries_listed_out_of_data_order_load()
    {
        // The format does not order the header; our writer happens to, PyTorch's JSON may not.
        string path = WriteRaw("unordered.safetensors",
            "{\"b\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [8, 16]}, \"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}}",
            [.. BitConverter.GetBytes(1f), .. BitConverter.GetBytes(2f), .. BitConverter.GetBytes(3f), .. BitConverter.GetBytes(4f)]);
        var content = SafetensorsFile.Load(path, Device.CpuReference);
        Assert.Equal([1f, 2f], content.Tensors["a"].ToArray<float>());
        Assert.Equal([3f, 4f], content.Tensors["b"].ToArray<float>());
    }

    [Fact]
    public void A_negative_data_offset_is_reported_with_the_file()
    {
        string path = WriteRaw("negative.safetensors", "{\"x\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [-4, 4]}}", new byte[8]);
        var e = Assert.Throws<InvalidDataException>(() => SafetensorsFile.Load(path, Device.CpuReference));
        Assert.Contains(path, e.Message);
    }
}
