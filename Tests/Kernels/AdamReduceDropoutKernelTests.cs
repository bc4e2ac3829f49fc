using FerEngine.Backends;
using FerEngine.Backends.Cpu;
using FerEngine.Kernels;
using FerEngine.Kernels.Emulator;
using FerEngine.Random;
using static FerEngine.Tests.Kernels.KernelHarness;

namespace FerEngine.Tests.Kernels;

/// <summary>Adam.ptx, Reduce.ptx and Dropout.ptx in the emulator against their CPU references.</summary>
public class AdamReduceDropoutKernelTests
{
    public static TheoryData<int> Sizes => [1, 31, 33, 1001, 4099];

    /// <summary>
    /// Bit for bit: the kernel does the reference's float32 operations in the same order with .rn.
    /// One launch updates every tensor of the table; the sizes cover a lone tail element, float4
    /// vectors with and without a tail, a whole chunk, a chunk and a tail, and several chunks.
    /// </summary>
    [Theory]
    [InlineData(1, 0.0, new[] { 1 })]
    [InlineData(3, 0.01, new[] { 31, 33, 8 })]
    [InlineData(10, 0.0, new[] { 8192, 3, 8195 })]
    [InlineData(2, 0.05, new[] { 1001, 20_001, 2, 4099 })]
    public void Adam_matches_the_reference_bit_for_bit(int step, double weightDecay, int[] sizes)
    {
        var h = new AdamHyperparameters(LearningRate: 3e-3, WeightDecay: weightDecay);
        var memory = new EmulatedMemory();
        var tensors = sizes.Select((n, i) =>
        {
            ulong stream = 21 + 4 * (ulong)i;
            float[] p = RandomFloats(n, stream), g = RandomFloats(n, stream + 1, -0.1f, 0.1f), m = RandomFloats(n, stream + 2, -0.01f, 0.01f), v = RandomFloats(n, stream + 3, 0, 0.001f);
            var entry = new AdamTableEntry(memory.Upload<float>(p), memory.Upload<float>(g), memory.Upload<float>(m), memory.Upload<float>(v), n);
            return (P: p, G: g, M: m, V: v, Entry: entry);
        }).ToList();
        var table = new AdamTable(tensors.Select(t => t.Entry).ToList());
        Assert.Equal(sizes.Sum(n => (n + AdamTable.ChunkElements - 1) / AdamTable.ChunkElements), table.Chunks);

        float[] stepScalars = h.StepScalars(step).Select(s => (float)s).ToArray();
        ulong pscalars = memory.Upload<float>(stepScalars);
        Launch(memory, "adam_f32", table.Chunks, table.Parameter, (uint)table.TensorCount, (float)h.Beta1, (float)h.Beta2,
            (float)(1 - h.Beta1), (float)(1 - h.Beta2), (float)h.Epsilon, (float)h.WeightDecay, pscalars);

        foreach (var t in tensors)
        {
            ReferenceLoops<float>.AdamUpdate(t.P, t.G, t.M, t.V, h, stepScalars);
            Assert.Equal(t.P, memory.Read<float>(t.Entry.Parameter, t.P.Length));
            Assert.Equal(t.M, memory.Read<float>(t.Entry.M, t.P.Length));
            Assert.Equal(t.V, memory.Read<float>(t.Entry.V, t.P.Length));
            Assert.Equal(t.G, memory.Read<float>(t.Entry.Gradient, t.P.Length));   // read, never written
        }
    }

    [Fact]
    public void An_adam_table_refuses_too_many_or_empty_tensors_and_batches_a_long_list()
    {
        var entry = new AdamTableEntry(16, 32, 48, 64, 5);
        Assert.Contains("1 to 64 tensors", Assert.Throws<ArgumentException>(() => new AdamTable(Enumerable.Repeat(entry, 65).ToList())).Message);
        Assert.Contains("0 elements", Assert.Throws<ArgumentException>(() => new AdamTable([entry with { Count = 0 }])).Message);
        var batches = AdamTable.Batches([.. Enumerable.Repeat(entry, 130), entry with { Count = 0 }]).ToList();
        Assert.Equal([64, 64, 2], batches.Select(b => b.TensorCount));
        Assert.Equal(40 * 64, batches[0].Parameter.Length);
        Assert.Equal((5u, 1u), (BitConverter.ToUInt32(batches[2].Parameter, 40 + 32), BitConverter.ToUInt32(batches[2].Parameter, 40 + 36)));   // entry 1: n, firstChunk
        Assert.Equal(2, batches[2].Chunks);
    }

    /// <summary>Tolerance: 1e-6 of the sum of |x| (float32 partial sums, atomics in any order).</summary>
    [Theory, MemberData(nameof(Sizes))]
    public void Sum_matches_the_reference(int n)
    {
        float[] x = RandomFloats(n, 25);
        var memory = new EmulatedMemory();
        ulong px = memory.Upload<float>(x), py = memory.Allocate(4);
        Launch(memory, "sum_f32", n, px, py, (uint)n);
        var expected = Tensor.Zeros(Shape.Scalar, DType.Float32, Device.CpuReference);
        Device.CpuReference.Backend.Sum(Tensor.FromArray(x, new Shape(n), Device.CpuReference), expected);
        double scale = x.Sum(v => Math.Abs((double)v));
        Assert.InRange(Math.Abs(memory.Read<float>(py, 1)[0] - expected.ToArray<float>()[0]), 0, 1e-6 * scale + 1e-7);
    }

    [Fact]
    public void Sum_of_many_blocks_loses_no_block()
    {
        int n = 1 << 20;
        var x = Enumerable.Repeat(1f, n).ToArray();
        var memory = new EmulatedMemory();
        ulong px = memory.Upload<float>(x), py = memory.Allocate(4);
        Launch(memory, "sum_f32", n, px, py, (uint)n);
        Assert.Equal((float)n, memory.Read<float>(py, 1)[0]);
    }

    /// <summary>The mask is bit-identical to Philox.Keep (stream + the step read from memory); y and dx equal the reference exactly.</summary>
    [Theory]
    [InlineData(1, 0.5)]
    [InlineData(31, 0.1)]
    [InlineData(33, 0.5)]
    [InlineData(1001, 0.25)]
    [InlineData(4099, 0.9)]
    [InlineData(1024, 0.3)]
    public void Dropout_mask_matches_philox_keep_and_outputs_match_the_reference(int n, double p)
    {
        const ulong seed = 0x0123_4567_89AB_CDEF, stream = 0xFEDC_BA98_7654_3210;
        const long step = 0x1_0000_0007;   // crosses into the stream's high word
        float[] x = RandomFloats(n, 26), dy = RandomFloats(n, 27);
        var memory = new EmulatedMemory();
        ulong px = memory.Upload<float>(x), py = memory.Allocate(n * 4L), pmask = memory.Allocate(n), pdy = memory.Upload<float>(dy), pdx = memory.Allocate(n * 4L);
        float scale = (float)(1.0 / (1.0 - p));
        ulong pstep = memory.Upload<long>([step]);
        Launch(memory, "dropout_forward_f32", n, px, py, pmask, (uint)n, seed, stream, pstep, Philox.DropThreshold(p), scale);
        Launch(memory, "dropout_backward_f32", n, pdy, pmask, pdx, (uint)n, scale);

        var mask = memory.Read<byte>(pmask, n);
        for (int i = 0; i < n; i++) Assert.Equal(Philox.Keep(seed, stream + step, (ulong)i, p) ? 1 : 0, mask[i]);
        var reference = Device.CpuReference;
        Tensor ty = Tensor.Zeros(new Shape(n), DType.Float32, reference), tmask = Tensor.Zeros(new Shape(n), DType.UInt8, reference);
        Tensor tdx = Tensor.Zeros(new Shape(n), DType.Float32, reference);
        reference.Backend.DropoutForward(Tensor.FromArray(x, new Shape(n), reference), p, seed, stream, Tensor.FromArray([step], new Shape(1), reference), ty, tmask);
        reference.Backend.DropoutBackward(Tensor.FromArray(dy, new Shape(n), reference), tmask, p, tdx);
        Assert.Equal(ty.ToArray<float>(), memory.Read<float>(py, n));
        Assert.Equal(tdx.ToArray<float>(), memory.Read<float>(pdx, n));
    }
}
