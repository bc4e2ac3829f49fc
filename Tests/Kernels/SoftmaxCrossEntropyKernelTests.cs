using FerEngine.Backends.Cpu;
using FerEngine.Kernels.Emulator;
using static FerEngine.Tests.Kernels.KernelHarness;

namespace FerEngine.Tests.Kernels;

/// <summary>
/// SoftmaxCrossEntropy.ptx against ReferenceLoops&lt;float&gt;.SoftmaxCrossEntropy: rows and class
/// counts below, at and above a warp (31, 32, 33, 70 classes), unlabelled rows, and no labelled row.
/// exp/log are ex2/lg2.approx: dlogits within 1e-6 absolute + 1e-5 relative, loss within 1e-5 relative.
/// </summary>
public class SoftmaxCrossEntropyKernelTests
{
    [Theory]
    [InlineData(1, 7, 0)]
    [InlineData(3, 31, 1)]
    [InlineData(33, 7, 5)]
    [InlineData(64, 32, 9)]
    [InlineData(17, 70, 4)]
    [InlineData(1000, 7, 3)]  // a FER batch shape: 7 emotion classes, every third label missing
    [InlineData(5, 3, 5)]     // no labelled row: loss and dlogits exactly 0
    public void Loss_and_gradient_match_the_reference(int rows, int classes, int missingEvery)
    {
        float[] logits = RandomFloats(rows * classes, 11, -6, 6);
        var labels = new long[rows];
        for (int r = 0; r < rows; r++)
            labels[r] = missingEvery > 0 && (missingEvery == rows || r % missingEvery == missingEvery - 1) ? -1 : (r * 7 + 3) % classes;
        if (missingEvery == rows) Array.Fill(labels, -1L);

        var expectedGradient = new float[rows * classes];
        double expectedLoss = ReferenceLoops<float>.SoftmaxCrossEntropy(rows, classes, logits, labels, expectedGradient);

        var memory = new EmulatedMemory();
        ulong pLogits = memory.Upload<float>(logits), pLabels = memory.Upload<long>(labels);
        ulong pRowLoss = memory.Allocate(rows * 4L), pGradient = memory.Allocate(rows * classes * 4L), pLoss = memory.Allocate(4);
        memory.Write<float>(pGradient, Enumerable.Repeat(float.NaN, rows * classes).ToArray());   // every element must be written
        Launch(memory, "softmax_cross_entropy_f32", rows, pLogits, pLabels, pRowLoss, pGradient, (uint)rows, (uint)classes);
        Launch(memory, "softmax_cross_entropy_mean_f32", rows, pRowLoss, pLabels, pLoss, (uint)rows);

        AssertClose(expectedGradient, memory.Read<float>(pGradient, rows * classes), 1e-6, 1e-5, "dlogits");
        float loss = memory.Read<float>(pLoss, 1)[0];
        if (labels.All(l => l < 0)) Assert.Equal(0f, loss);
        else Assert.InRange(Math.Abs(loss - expectedLoss), 0, 1e-5 * Math.Abs(expectedLoss) + 1e-6);
    }
}
