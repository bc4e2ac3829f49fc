using FerEngine.Backends.Cpu;
using FerEngine.Kernels.Emulator;
using static FerEngine.Tests.Kernels.KernelHarness;

namespace FerEngine.Tests.Kernels;

/// <summary>MaxPool.ptx against ReferenceLoops&lt;float&gt;.MaxPool2x2Forward/Backward: exact (no arithmetic).</summary>
public class MaxPoolKernelTests
{
    [Theory]
    [InlineData(1, 2, 2)]
    [InlineData(1, 3, 3)]
    [InlineData(3, 7, 5)]
    [InlineData(31, 4, 9)]
    [InlineData(6, 48, 48)]
    public void Forward_and_backward_match_the_reference(int planes, int height, int width)
    {
        int inputs = planes * height * width, outputs = planes * (height / 2) * (width / 2);
        float[] x = RandomFloats(inputs, 31);
        for (int i = 0; i < inputs; i += 7) x[i] = x[(i + 1) % inputs];   // ties: the first maximum wins
        if (inputs > 10) x[10] = float.NaN;                                // NaN propagates
        float[] dy = RandomFloats(outputs, 32);

        float[] y = new float[outputs], dx = new float[inputs];
        int[] argmax = new int[outputs];
        ReferenceLoops<float>.MaxPool2x2Forward(planes, height, width, x, y, argmax);
        ReferenceLoops<float>.MaxPool2x2Backward(planes, height, width, dy, argmax, dx);

        var memory = new EmulatedMemory();
        ulong px = memory.Upload<float>(x), py = memory.Allocate(outputs * 4L), pa = memory.Allocate(outputs * 4L);
        ulong pdy = memory.Upload<float>(dy), pdx = memory.Upload<float>(Enumerable.Repeat(float.NaN, inputs).ToArray());
        Launch(memory, "maxpool2x2_forward_f32", outputs, px, py, pa, (uint)outputs, (uint)height, (uint)width);
        Launch(memory, "maxpool2x2_backward_f32", inputs, pdy, pa, pdx, (uint)inputs, (uint)height, (uint)width);

        Assert.Equal(y, memory.Read<float>(py, outputs));
        Assert.Equal(argmax, memory.Read<int>(pa, outputs));
        Assert.Equal(dx, memory.Read<float>(pdx, inputs));
    }
}
