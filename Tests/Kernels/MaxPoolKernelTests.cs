using FerEngine.Backends.Cpu;
using FerEngine.Kernels;
using FerEngine.Kernels.Emulator;
using static FerEngine.Tests.Kernels.KernelHarness;

namespace FerEngine.Tests.Kernels;

/// <summary>
/// MaxPool.ptx against ReferenceLoops&lt;float&gt;.MaxPool2x2Forward/Backward: exact (no arithmetic),
/// compared bit for bit (which NaN wins, the sign of a zero). Even W takes the 8-byte (.v2) path,
/// odd W the 4-byte one; odd H / W leave a row / column that no window covers (ignored by the
/// forward, zeroed by the backward); H or W of 1 leaves no window at all. dx starts as NaN, so every
/// element the backward does not write shows.
/// </summary>
public class MaxPoolKernelTests
{
    private static int[] Bits(float[] values) => Array.ConvertAll(values, BitConverter.SingleToInt32Bits);

    /// <summary>Runs forward then backward (the backward on the kernel's own argmax) and compares both with the reference.</summary>
    private static void RunAndCompare(int planes, int height, int width, float[] x, float[] dy, LaunchGrid? grid = null)
    {
        int inputs = planes * height * width, outputs = planes * (height / 2) * (width / 2);
        float[] y = new float[outputs], dx = new float[inputs];
        int[] argmax = new int[outputs];
        ReferenceLoops<float>.MaxPool2x2Forward(planes, height, width, x, y, argmax);
        ReferenceLoops<float>.MaxPool2x2Backward(planes, height, width, dy, argmax, dx);

        var memory = new EmulatedMemory();
        ulong Upload<T>(T[] values) where T : unmanaged =>   // (an empty array still gets an address: no window, no output)
            values.Length > 0 ? memory.Upload<T>(values) : memory.Allocate(4);
        ulong px = Upload(x), py = Upload(Enumerable.Repeat(float.NaN, outputs).ToArray()), pa = Upload(Enumerable.Repeat(-1, outputs).ToArray());
        ulong pdy = Upload(dy), pdx = Upload(Enumerable.Repeat(float.NaN, inputs).ToArray());
        object[] forward = [px, py, pa, (uint)outputs, (uint)height, (uint)width], backward = [pdy, pa, pdx, (uint)inputs, (uint)height, (uint)width];
        if (grid is { } g)
        {
            PtxInterpreter.Launch(KernelCatalog.Emulated("maxpool2x2_forward_f32"), g, memory, forward);
            PtxInterpreter.Launch(KernelCatalog.Emulated("maxpool2x2_backward_f32"), g, memory, backward);
        }
        else
        {
            Launch(memory, "maxpool2x2_forward_f32", outputs, forward);
            Launch(memory, "maxpool2x2_backward_f32", inputs, backward);
        }

        Assert.Equal(Bits(y), Bits(memory.Read<float>(py, outputs)));
        Assert.Equal(argmax, memory.Read<int>(pa, outputs));
        Assert.Equal(Bits(dx), Bits(memory.Read<float>(pdx, inputs)));
    }

    [Theory]
    [InlineData(1, 2, 2)]
    [InlineData(1, 3, 3)]
    [InlineData(5, 2, 2)]
    [InlineData(3, 7, 5)]
    [InlineData(31, 4, 9)]
    [InlineData(7, 5, 8)]
    [InlineData(2, 10, 6)]
    [InlineData(6, 48, 48)]
    [InlineData(3, 1, 6)]      // H = 1: no window, dx all zeros
    [InlineData(2, 5, 1)]      // W = 1: no window
    public void Forward_and_backward_match_the_reference(int planes, int height, int width)
    {
        int inputs = planes * height * width, outputs = planes * (height / 2) * (width / 2);
        float[] x = RandomFloats(inputs, 31);
        for (int i = 0; i < inputs; i += 7) x[i] = x[(i + 1) % inputs];   // ties: the first maximum wins
        if (inputs > 10) x[10] = float.NaN;                                // NaN propagates
        RunAndCompare(planes, height, width, x, RandomFloats(outputs, 32));
    }

    /// <summary>
    /// Grids smaller than the work, so threads take several windows and the (plane, oy, ox) steps
    /// carry: a stride of several planes and rows, a stride shorter than one row (Wo = 40 > 32
    /// threads), one window per plane (Ho = Wo = 1), odd sizes, and the all-zero backward.
    /// </summary>
    [Theory]
    [InlineData(7, 10, 14, 3, 32)]     // 245 windows, stride 96 = 2 planes + 3 rows + 5 columns
    [InlineData(13, 7, 5, 1, 32)]      // Ho = 3, Wo = 2: stride 32 = 5 planes + 1 row; odd H and W
    [InlineData(2, 4, 80, 1, 32)]      // Wo = 40: the stride is 32 columns, carries into the next row
    [InlineData(40, 3, 3, 1, 32)]      // one window per plane: the stride is 32 planes
    [InlineData(9, 9, 11, 2, 32)]      // odd H and W, stride 64 = 3 planes + 4 columns
    [InlineData(31, 4, 9, 3, 64)]
    [InlineData(5, 1, 8, 1, 32)]       // no window: 40 zeros from 32 threads
    public void Threads_take_several_windows_when_the_grid_is_small(int planes, int height, int width, int blocks, int threads)
    {
        int inputs = planes * height * width, outputs = planes * (height / 2) * (width / 2);
        Assert.True(blocks * threads < (outputs > 0 ? outputs : inputs), "the grid must be smaller than the work");
        float[] x = RandomFloats(inputs, 33);
        for (int i = 3; i < inputs; i += 13) x[i] = float.NaN;
        RunAndCompare(planes, height, width, x, RandomFloats(outputs, 34), LaunchGrid.Linear(blocks, threads));
    }

    /// <summary>
    /// One window per case in a row of windows: NaN in every subset of the four positions (with
    /// distinct payloads, so the first NaN must be the one kept), ties between numbers, +0 / -0 ties
    /// (the first wins, its sign kept), infinities. The row / column that no window covers (odd
    /// H / W) holds NaN, which the forward must ignore and the backward must overwrite with 0.
    /// </summary>
    [Theory]
    [InlineData(2, 0)]   // W even: 8-byte loads and stores
    [InlineData(3, 1)]   // odd H and W: 4-byte accesses, uncovered row and column
    public void Nans_ties_and_signed_zeros_pick_the_references_winner(int height, int extraColumns)
    {
        float Nan(uint payload) => BitConverter.UInt32BitsToSingle(0x7FC00000u | payload);
        var cases = new List<float[]>();
        for (int mask = 0; mask < 16; mask++)
        {
            float[] w = [3f, -1f, 4f, 1f];
            for (int k = 0; k < 4; k++) if ((mask >> k & 1) != 0) w[k] = k == 2 ? -Nan((uint)k + 1) : Nan((uint)k + 1);
            cases.Add(w);
        }
        cases.AddRange([
            [2f, 2f, 2f, 2f], [1f, 5f, 5f, 0f], [0f, 0f, 7f, 7f], [-0f, 0f, 0f, -0f], [0f, -0f, -0f, 0f],
            [float.NegativeInfinity, float.NegativeInfinity, float.NegativeInfinity, float.NegativeInfinity],
            [float.PositiveInfinity, Nan(9), 1f, 2f], [Nan(9), float.PositiveInfinity, 1f, 2f], [-5f, -3f, -4f, -3f],
        ]);
        int windows = cases.Count, width = 2 * windows + extraColumns;
        float[] x = Enumerable.Repeat(Nan(77), height * width).ToArray();
        for (int k = 0; k < windows; k++)
        {
            x[2 * k] = cases[k][0];
            x[2 * k + 1] = cases[k][1];
            x[width + 2 * k] = cases[k][2];
            x[width + 2 * k + 1] = cases[k][3];
        }
        float[] dy = RandomFloats(windows, 35);
        dy[0] = -0f;
        dy[1] = Nan(5);
        RunAndCompare(1, height, width, x, dy);
    }
}
