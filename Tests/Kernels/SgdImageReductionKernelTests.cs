using FerEngine.Backends;
using FerEngine.Backends.Cpu;
using FerEngine.Kernels.Emulator;
using FerEngine.Random;
using static FerEngine.Tests.Kernels.KernelHarness;

namespace FerEngine.Tests.Kernels;

/// <summary>Sgd.ptx, ImageBatch.ptx, scale_by_f32 and the max / argmax / count kernels of Reduce.ptx against their CPU references.</summary>
public class SgdImageReductionKernelTests
{
    private static IBackend R => Device.CpuReference.Backend;

    /// <summary>Bit for bit: the same float32 operations in the same order, each rounded once.</summary>
    [Theory]
    [InlineData(1, 1, 0.9, 0.0)]
    [InlineData(31, 2, 0.9, 0.01)]
    [InlineData(33, 5, 0.0, 0.0)]
    [InlineData(1001, 1, 0.5, 0.05)]
    [InlineData(4099, 3, 0.0, 0.001)]
    public void Sgd_matches_the_reference_bit_for_bit(int n, int step, double momentum, double weightDecay)
    {
        const double lr = 0.03;
        float[] p = RandomFloats(n, 31), g = RandomFloats(n, 32, -0.1f, 0.1f), buf = RandomFloats(n, 33, -0.01f, 0.01f);
        var memory = new EmulatedMemory();
        ulong pp = memory.Upload<float>(p), pg = memory.Upload<float>(g), pb = memory.Upload<float>(buf);
        Launch(memory, "sgd_f32", n, pp, pg, pb, (uint)n, (float)-lr, (float)momentum, (float)weightDecay, step == 1 ? 1u : 0u);
        ReferenceLoops<float>.SgdUpdate(p, g, buf, lr, momentum, weightDecay, step);
        Assert.Equal(p, memory.Read<float>(pp, n));
        Assert.Equal(buf, memory.Read<float>(pb, n));   // untouched when momentum is 0
    }

    [Theory]
    [InlineData(1)]
    [InlineData(33)]
    [InlineData(4099)]
    public void Scale_by_a_device_scalar_matches_the_reference(int n)
    {
        float[] x = RandomFloats(n, 34);
        var memory = new EmulatedMemory();
        ulong px = memory.Upload<float>(x), py = memory.Allocate(n * 4L), ps = memory.Upload<float>([-0.37f]);
        Launch(memory, "scale_by_f32", n, px, py, (uint)n, ps);
        var expected = Tensor.Empty(new Shape(n), DType.Float32, Device.CpuReference);
        R.MultiplyByScalar(Tensor.FromArray(x, new Shape(n), Device.CpuReference), Tensor.FromArray(new[] { -0.37f }, Shape.Scalar, Device.CpuReference), expected);
        Assert.Equal(expected.ToArray<float>(), memory.Read<float>(py, n));
    }

    private static float RunMax(float[] x)
    {
        var memory = new EmulatedMemory();
        ulong px = memory.Upload<float>(x), py = memory.Allocate(4);
        Launch(memory, "max_f32", x.Length, px, py, (uint)x.Length);
        return memory.Read<float>(py, 1)[0];
    }

    private static float ReferenceMax(float[] x)
    {
        var y = Tensor.Zeros(Shape.Scalar, DType.Float32, Device.CpuReference);
        R.Max(Tensor.FromArray(x, new Shape(x.Length), Device.CpuReference), y);
        return y.ToArray<float>()[0];
    }

    [Theory]
    [InlineData(1)]
    [InlineData(31)]
    [InlineData(33)]
    [InlineData(1001)]
    [InlineData(4099)]
    public void Max_matches_the_reference(int n)
    {
        float[] x = RandomFloats(n, 35, -1000, -1);           // all negative: a zero-initialised partial would be wrong
        Assert.Equal(ReferenceMax(x), RunMax(x));
        x[n / 2] = float.NaN;                                   // any NaN makes the max NaN, in both
        Assert.True(float.IsNaN(ReferenceMax(x)));
        Assert.True(float.IsNaN(RunMax(x)));
        Assert.Equal(float.NegativeInfinity, RunMax(Enumerable.Repeat(float.NegativeInfinity, n).ToArray()));
    }

    private static long[] RunArgmax(float[] x, int rows, int classes)
    {
        var memory = new EmulatedMemory();
        ulong px = memory.Upload<float>(x), pi = memory.Allocate(rows * 8L);
        Launch(memory, "argmax_f32", rows, px, pi, (uint)rows, (uint)classes);
        return memory.Read<long>(pi, rows);
    }

    private static long[] ReferenceArgmax(float[] x, int rows, int classes)
    {
        var indices = Tensor.Empty(new Shape(rows), DType.Int64, Device.CpuReference);
        R.Argmax(Tensor.FromArray(x, new Shape(rows, classes), Device.CpuReference), indices);
        return indices.ToArray<long>();
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(3, 7)]
    [InlineData(33, 2)]
    [InlineData(40, 31)]
    [InlineData(5, 33)]
    [InlineData(9, 100)]
    [InlineData(1001, 7)]
    public void Argmax_matches_the_reference(int rows, int classes)
    {
        float[] x = RandomFloats(rows * classes, 36);
        Assert.Equal(ReferenceArgmax(x, rows, classes), RunArgmax(x, rows, classes));
    }

    /// <summary>Ties go to the first index, a NaN never wins, a NaN at index 0 is never left, an all -inf row gives 0.</summary>
    [Fact]
    public void Argmax_follows_the_references_tie_and_nan_rules()
    {
        const int classes = 40;   // more than one warp's width, so lanes must combine
        var rows = new List<float[]>();
        float[] Row(Action<float[]> set) { var r = new float[classes]; Array.Fill(r, -5f); set(r); rows.Add(r); return r; }
        Row(r => { r[3] = 2; r[35] = 2; });                    // tie across lanes: 3
        Row(r => { r[35] = 2; r[36] = 2; });                   // tie within and across: 35
        Row(r => { r[1] = float.NaN; r[7] = 1; });             // NaN skipped: 7
        Row(r => { r[0] = float.NaN; r[7] = 1; });             // NaN at 0: 0
        Row(r => Array.Fill(r, float.NegativeInfinity));       // all -inf: 0
        Row(r => { Array.Fill(r, float.NaN); r[0] = -1; });    // only index 0 is a number: 0
        Row(r => { r[39] = float.PositiveInfinity; r[38] = float.NaN; });   // +inf at the end: 39
        float[] x = rows.SelectMany(r => r).ToArray();
        var expected = ReferenceArgmax(x, rows.Count, classes);
        Assert.Equal([3L, 35, 7, 0, 0, 0, 39], expected);
        Assert.Equal(expected, RunArgmax(x, rows.Count, classes));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(31)]
    [InlineData(33)]
    [InlineData(1001)]
    [InlineData(5000)]
    public void Count_correct_matches_the_reference(int n)
    {
        long[] labels = Enumerable.Range(0, n).Select(i => (long)(Philox.Word(5, 37, (ulong)i) % 8) - 1).ToArray();          // -1 .. 6
        long[] predictions = Enumerable.Range(0, n).Select(i => (long)(Philox.Word(5, 38, (ulong)i) % 3 == 0 ? labels[i] : 7)).ToArray();
        var memory = new EmulatedMemory();
        ulong pp = memory.Upload<long>(predictions), pl = memory.Upload<long>(labels), pc = memory.Allocate(8), pn = memory.Allocate(8);
        Launch(memory, "count_correct_i64", n, pp, pl, pc, pn, (uint)n);

        var (correct, labelled) = (Tensor.Zeros(Shape.Scalar, DType.Int64, Device.CpuReference), Tensor.Zeros(Shape.Scalar, DType.Int64, Device.CpuReference));
        R.CountCorrect(Tensor.FromArray(predictions, new Shape(n), Device.CpuReference), Tensor.FromArray(labels, new Shape(n), Device.CpuReference), correct, labelled);
        Assert.Equal(labelled.ToArray<long>()[0], memory.Read<long>(pn, 1)[0]);
        Assert.Equal(correct.ToArray<long>()[0], memory.Read<long>(pc, 1)[0]);
        Assert.True(n < 10 || correct.ToArray<long>()[0] > 0);   // the data exercises both outcomes
    }

    /// <summary>The augmented batch is bit-identical to the CPU's: same Philox words, same crop, flip and division.</summary>
    [Theory]
    [InlineData(1, 1, 48, 48, 0L)]
    [InlineData(7, 1, 48, 48, 1021L)]       // positions cross Philox blocks (1021 .. 1027)
    [InlineData(5, 3, 9, 13, 3L)]           // colour, odd and non-square sizes
    [InlineData(3, 1, 2, 3, 0L)]            // smaller than the padding: every shift clamps
    public void Image_batch_matches_the_reference_bit_for_bit(int n, int c, int h, int w, long firstPosition)
    {
        var shape = new Shape(n, c, h, w);
        byte[] pixels = Enumerable.Range(0, (int)shape.ElementCount).Select(i => (byte)Philox.Word(9, 39, (ulong)i)).ToArray();
        var augmentation = new ImageAugmentation(Seed: 0xABCDEF0123456789, Stream: (2UL << 40) + 3, firstPosition);
        foreach (var augment in new ImageAugmentation?[] { null, augmentation })
        {
            var memory = new EmulatedMemory();
            ulong pp = memory.Upload<byte>(pixels), px = memory.Allocate(shape.ElementCount * 4);
            var a = augment ?? default;
            Launch(memory, "image_batch_u8", n, pp, px, (uint)n, (uint)c, (uint)h, (uint)w, a.Seed, a.Stream, (ulong)a.FirstPosition, augment is null ? 0u : 1u);
            var expected = Tensor.Empty(shape, DType.Float32, Device.CpuReference);
            R.ImageBatch(Tensor.FromArray(pixels, shape, Device.CpuReference), expected, augment);
            Assert.Equal(expected.ToArray<float>(), memory.Read<float>(px, (int)shape.ElementCount));
        }
        // the augmentation really moves pixels (not an identity that would pass trivially)
        if (h * w > 6)
            Assert.Contains(Enumerable.Range(0, n), i => augmentation.For(i) != ImageAugmentation.Choice.None);
    }
}
