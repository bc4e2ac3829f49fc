using FerEngine.Kernels.Emulator;
using static FerEngine.Tests.Kernels.KernelHarness;

namespace FerEngine.Tests.Kernels;

/// <summary>
/// Elementwise.ptx in the emulator against the CPU reference backend (float32). Sizes are odd and
/// not multiples of 4 or of the block size, so the float4 loops and the scalar tails both run.
/// The arithmetic kernels use explicit .rn and must match bit for bit; elu's exp uses
/// ex2.approx (tolerance 1e-6 absolute + 1e-5 relative).
/// </summary>
public class ElementwiseKernelTests
{
    private static readonly Device Reference = Device.CpuReference;
    public static TheoryData<int> Sizes => [1, 3, 31, 33, 1001, 4099];

    private static Tensor T(float[] values) => Tensor.FromArray(values, new Shape(values.Length), Reference);

    [Theory, MemberData(nameof(Sizes))]
    public void Fill_and_copy_match_the_reference(int n)
    {
        var memory = new EmulatedMemory();
        var x = RandomFloats(n, 1);
        ulong dx = memory.Upload<float>(x), dy = memory.Allocate(n * 4L), dz = memory.Allocate(n * 4L);
        Launch(memory, "fill_f32", n, dy, (uint)n, 2.5f);
        Launch(memory, "copy_f32", n, dx, dz, (uint)n);
        var expectedFill = Tensor.Zeros(new Shape(n), DType.Float32, Reference);
        Reference.Backend.Fill(expectedFill, 2.5);
        Assert.Equal(expectedFill.ToArray<float>(), memory.Read<float>(dy, n));
        Assert.Equal(x, memory.Read<float>(dz, n));
    }

    [Theory, MemberData(nameof(Sizes))]
    public void Add_scale_and_axpy_match_the_reference_bit_for_bit(int n)
    {
        var memory = new EmulatedMemory();
        float[] a = RandomFloats(n, 2), b = RandomFloats(n, 3);
        ulong da = memory.Upload<float>(a), db = memory.Upload<float>(b), dy = memory.Allocate(n * 4L), ds = memory.Allocate(n * 4L);
        Launch(memory, "add_f32", n, da, db, dy, (uint)n);
        Launch(memory, "scale_f32", n, da, ds, (uint)n, -0.37f);
        Launch(memory, "axpy_f32", n, da, db, (uint)n, 1.7f);           // b += 1.7 a, in place

        Tensor ta = T(a), tb = T(b), sum = T(new float[n]), scaled = T(new float[n]);
        Reference.Backend.Add(ta, tb, sum);
        Reference.Backend.Scale(ta, -0.37, scaled);
        Reference.Backend.Axpy(1.7, ta, tb);
        Assert.Equal(sum.ToArray<float>(), memory.Read<float>(dy, n));
        Assert.Equal(scaled.ToArray<float>(), memory.Read<float>(ds, n));
        Assert.Equal(tb.ToArray<float>(), memory.Read<float>(db, n));
    }

    [Theory]
    [InlineData(1, 1, 1, 1)]
    [InlineData(1, 31, 1, 1)]
    [InlineData(1, 3, 11, 1)]
    [InlineData(2, 7, 9, 8)]
    [InlineData(3, 5, 13, 7)]
    public void Bias_elu_forward_matches_add_bias_then_elu(int batch, int channels, int height, int width)
    {
        var shape = new Shape(batch, channels, height, width);
        int n = (int)shape.ElementCount;
        var memory = new EmulatedMemory();
        float[] x = RandomFloats(n, 4, -4, 4), bias = RandomFloats(channels, 5, -1, 1);
        ulong dx = memory.Upload<float>(x), dbias = memory.Upload<float>(bias), dy = memory.Allocate(n * 4L);
        Launch(memory, "bias_elu_forward_f32", n, dx, dbias, dy, (uint)n, (uint)channels, (uint)(height * width), 1.0f);

        var expected = Tensor.FromArray(x, shape, Reference);
        Reference.Backend.AddBias(expected, T(bias));
        Reference.Backend.EluForward(expected, expected, 1.0);
        AssertClose(expected.ToArray<float>(), memory.Read<float>(dy, n), 1e-6, 1e-5, "bias_elu_forward_f32");
    }

    [Theory, MemberData(nameof(Sizes))]
    public void Elu_backward_matches_the_reference_bit_for_bit(int n)
    {
        var memory = new EmulatedMemory();
        float[] y = RandomFloats(n, 6, -0.9f, 2), dy = RandomFloats(n, 7);
        ulong py = memory.Upload<float>(y), pdy = memory.Upload<float>(dy), pdx = memory.Allocate(n * 4L);
        Launch(memory, "elu_backward_f32", n, py, pdy, pdx, (uint)n, 0.8f);
        var expected = T(new float[n]);
        Reference.Backend.EluBackward(T(y), T(dy), expected, 0.8);
        Assert.Equal(expected.ToArray<float>(), memory.Read<float>(pdx, n));
    }

    /// <summary>The float4 path at paper-net size (32 x 64 x 48 x 48): elu backward, bit for bit.</summary>
    [Fact]
    public void Elu_backward_at_paper_net_size_matches_the_reference()
    {
        int n = 32 * 64 * 48 * 48;
        var memory = new EmulatedMemory();
        float[] y = RandomFloats(n, 10, -0.9f, 2), dy = RandomFloats(n, 11);
        ulong py = memory.Upload<float>(y), pdy = memory.Upload<float>(dy), pdx = memory.Allocate(n * 4L);
        Launch(memory, "elu_backward_f32", n, py, pdy, pdx, (uint)n, 1.0f);
        var expected = T(new float[n]);
        Reference.Backend.EluBackward(T(y), T(dy), expected, 1.0);
        Assert.Equal(expected.ToArray<float>(), memory.Read<float>(pdx, n));
    }

    /// <summary>A paper-net activation: 32 images x 64 channels x 48 x 48 (4.7 M elements).</summary>
    [Fact]
    public void Bias_elu_forward_at_paper_net_size_matches_the_reference()
    {
        var shape = new Shape(32, 64, 48, 48);
        int n = (int)shape.ElementCount;
        var memory = new EmulatedMemory();
        float[] x = RandomFloats(n, 8, -4, 4), bias = RandomFloats(64, 9, -1, 1);
        ulong dx = memory.Upload<float>(x), dbias = memory.Upload<float>(bias), dy = memory.Allocate(n * 4L);
        Launch(memory, "bias_elu_forward_f32", n, dx, dbias, dy, (uint)n, 64u, 48u * 48u, 1.0f);
        var expected = Tensor.FromArray(x, shape, Reference);
        Reference.Backend.AddBias(expected, T(bias));
        Reference.Backend.EluForward(expected, expected, 1.0);
        AssertClose(expected.ToArray<float>(), memory.Read<float>(dy, n), 1e-6, 1e-5, "bias_elu_forward_f32");
    }
}
