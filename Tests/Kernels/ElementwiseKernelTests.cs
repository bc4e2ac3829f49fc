using FerEngine.Kernels.Emulator;
using static FerEngine.Tests.Kernels.KernelHarness;

namespace FerEngine.Tests.Kernels;

/// <summary>
/// Elementwise.ptx in the emulator against the CPU reference backend (float32). Sizes are odd and
/// not multiples of 4 or of the block size, so the float4 loops and the scalar tails both run.
/// The arithmetic kernels use explicit .rn and must match bit for bit. ELU forward computes exp(x)
/// as ex2.approx(x * log2 e): within 1e-6 absolute + 1e-5 relative of the CPU's exp, and bit for bit
/// equal to those operations as the emulator performs them (ex2 as .NET's float.Exp2; a GPU's ex2.approx
/// is within 2 ulp of exp2, so on hardware only the tolerance holds).
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

    /// <summary>What elu_forward_f32 computes, operation for operation, with the emulator's ex2 (float.Exp2).</summary>
    private static float EluAsTheKernel(float x, float alpha) =>
        x > 0 ? x : alpha * (float.Exp2(x * BitConverter.UInt32BitsToSingle(0x3FB8AA3B)) - 1f);

    /// <summary>
    /// Random values in [-4, 4] that start with -0, NaN, a subnormal, the infinities, +0 and exp's
    /// underflow, and (n > 20) end with them in reverse order, so that the n % 4 tail sees -0, NaN
    /// and the subnormal.
    /// </summary>
    private static float[] EluInputs(int n, ulong stream)
    {
        float[] x = RandomFloats(n, stream, -4, 4);
        float[] special = [-0f, float.NaN, -1e-40f, float.NegativeInfinity, float.PositiveInfinity, 0f, -200f, 1e-40f, 80f, -17.5f];
        for (int i = 0; i < special.Length && i < n; i++) x[i] = special[i];
        if (n > 2 * special.Length)
            for (int i = 0; i < special.Length; i++) x[n - 1 - i] = special[i];
        return x;
    }

    private static int[] Bits(float[] values) => Array.ConvertAll(values, BitConverter.SingleToInt32Bits);

    /// <summary>
    /// elu_forward_f32 of x into a y that starts as NaN (an element left unwritten shows), checked
    /// against the reference (1e-6 + 1e-5) and bit for bit against the kernel's own operations.
    /// </summary>
    private static float[] CheckedEluForward(float[] x, float alpha)
    {
        int n = x.Length;
        var memory = new EmulatedMemory();
        ulong px = memory.Upload<float>(x), py = memory.Upload<float>(Enumerable.Repeat(float.NaN, n).ToArray());
        Launch(memory, "elu_forward_f32", n, px, py, (uint)n, alpha);
        float[] y = memory.Read<float>(py, n);

        var expected = T(new float[n]);
        Reference.Backend.EluForward(T(x), null, expected, alpha);
        AssertClose(expected.ToArray<float>(), y, 1e-6, 1e-5, "elu_forward_f32");
        Assert.Equal(Bits(Array.ConvertAll(x, v => EluAsTheKernel(v, alpha))), Bits(y));
        return y;
    }

    [Theory, MemberData(nameof(Sizes))]
    public void Elu_forward_matches_the_reference(int n)
    {
        float[] y = CheckedEluForward(EluInputs(n, 4), 0.7f);
        Assert.Equal(0, BitConverter.SingleToInt32Bits(y[0]));   // elu(-0) = alpha (1 - 1) = +0, as the reference
        if (n >= 2) Assert.True(float.IsNaN(y[1]), "NaN propagates");
        if (n >= 4) Assert.Equal(-0.7f, y[3]);                   // elu(-inf) = -alpha
    }

    /// <summary>Grid-stride: 2 blocks of 32 threads for 1027 vectors and a tail of 3, in place (y = x).</summary>
    [Fact]
    public void Elu_forward_loops_when_the_grid_is_smaller_than_the_data_and_runs_in_place()
    {
        int n = 4111;
        var memory = new EmulatedMemory();
        float[] x = EluInputs(n, 5);
        ulong px = memory.Upload<float>(x);
        PtxInterpreter.Launch(FerEngine.Kernels.KernelCatalog.Emulated("elu_forward_f32"), LaunchGrid.Linear(2, 32), memory, [px, px, (uint)n, 1.0f]);
        Assert.Equal(Bits(Array.ConvertAll(x, v => EluAsTheKernel(v, 1.0f))), Bits(memory.Read<float>(px, n)));
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
    public void Elu_forward_at_paper_net_size_matches_the_reference() => CheckedEluForward(RandomFloats(32 * 64 * 48 * 48, 8, -4, 4), 1.0f);
}
