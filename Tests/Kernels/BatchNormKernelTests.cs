using FerEngine.Backends.Cpu;
using FerEngine.Kernels.Emulator;
using static FerEngine.Tests.Kernels.KernelHarness;

namespace FerEngine.Tests.Kernels;

/// <summary>
/// BatchNorm.ptx against ReferenceLoops&lt;float&gt; (which accumulates in double): float32 block
/// reductions, so tolerances are 1e-5 absolute + 1e-4 relative (statistics over up to ~10^4 values).
/// </summary>
public class BatchNormKernelTests
{
    public static TheoryData<int, int, int> Shapes => new()
    {
        { 1, 1, 2 }, { 2, 3, 1 }, { 4, 31, 1 }, { 3, 5, 33 }, { 8, 4, 13 * 13 }, { 2, 2, 48 * 48 },
    };

    [Theory, MemberData(nameof(Shapes))]
    public void Training_forward_matches_the_reference(int batch, int channels, int spatial)
    {
        int n = batch * channels * spatial;
        float[] x = RandomFloats(n, 41, -2, 5), gamma = RandomFloats(channels, 42, 0.5f, 1.5f), beta = RandomFloats(channels, 43, -1, 1);
        float[] runningMean = RandomFloats(channels, 44, -0.1f, 0.1f), runningVar = RandomFloats(channels, 45, 0.9f, 1.1f);
        var memory = new EmulatedMemory();
        ulong px = memory.Upload<float>(x), pg = memory.Upload<float>(gamma), pb = memory.Upload<float>(beta);
        ulong prm = memory.Upload<float>(runningMean), prv = memory.Upload<float>(runningVar);
        ulong py = memory.Allocate(n * 4L), psm = memory.Allocate(channels * 4L), psi = memory.Allocate(channels * 4L);
        Launch(memory, "batchnorm_forward_training_f32", channels, px, pg, pb, prm, prv, py, psm, psi,
            (uint)batch, (uint)channels, (uint)spatial, 0.1f, 1e-5f);

        float[] y = new float[n], savedMean = new float[channels], savedInvStd = new float[channels];
        ReferenceLoops<float>.BatchNormForwardTraining(batch, channels, spatial, x, gamma, beta, runningMean, runningVar, 0.1, 1e-5, y, savedMean, savedInvStd);
        AssertClose(y, memory.Read<float>(py, n), 1e-5, 1e-4, "y");
        AssertClose(savedMean, memory.Read<float>(psm, channels), 1e-5, 1e-4, "savedMean");
        AssertClose(savedInvStd, memory.Read<float>(psi, channels), 1e-5, 1e-4, "savedInvStd");
        AssertClose(runningMean, memory.Read<float>(prm, channels), 1e-5, 1e-4, "runningMean");
        AssertClose(runningVar, memory.Read<float>(prv, channels), 1e-5, 1e-4, "runningVar");
    }

    [Theory, MemberData(nameof(Shapes))]
    public void Inference_forward_matches_the_reference(int batch, int channels, int spatial)
    {
        int n = batch * channels * spatial;
        float[] x = RandomFloats(n, 46), gamma = RandomFloats(channels, 47, 0.5f, 1.5f), beta = RandomFloats(channels, 48, -1, 1);
        float[] runningMean = RandomFloats(channels, 49, -0.5f, 0.5f), runningVar = RandomFloats(channels, 50, 0.5f, 2f);
        var memory = new EmulatedMemory();
        ulong py = memory.Allocate(n * 4L);
        Launch(memory, "batchnorm_forward_inference_f32", n, memory.Upload<float>(x), memory.Upload<float>(gamma), memory.Upload<float>(beta),
            memory.Upload<float>(runningMean), memory.Upload<float>(runningVar), py, (uint)n, (uint)channels, (uint)spatial, 1e-5f);
        float[] y = new float[n];
        ReferenceLoops<float>.BatchNormForwardInference(batch, channels, spatial, x, gamma, beta, runningMean, runningVar, 1e-5, y);
        AssertClose(y, memory.Read<float>(py, n), 1e-6, 1e-5, "y");
    }

    [Theory, MemberData(nameof(Shapes))]
    public void Backward_matches_the_reference(int batch, int channels, int spatial)
    {
        int n = batch * channels * spatial;
        float[] x = RandomFloats(n, 51, -2, 5), dy = RandomFloats(n, 52), gamma = RandomFloats(channels, 53, 0.5f, 1.5f);
        float[] mean = RandomFloats(channels, 54, 1, 2), invStd = RandomFloats(channels, 55, 0.3f, 0.6f);
        float[] dgamma = RandomFloats(channels, 56), dbeta = RandomFloats(channels, 57);
        foreach (bool accumulate in new[] { false, true })
        {
            var memory = new EmulatedMemory();
            ulong pdx = memory.Allocate(n * 4L), pdg = memory.Upload<float>(dgamma), pdb = memory.Upload<float>(dbeta);
            Launch(memory, "batchnorm_backward_f32", channels, memory.Upload<float>(x), memory.Upload<float>(dy), memory.Upload<float>(gamma),
                memory.Upload<float>(mean), memory.Upload<float>(invStd), pdx, pdg, pdb, (uint)batch, (uint)channels, (uint)spatial, accumulate ? 1u : 0u);
            float[] dx = new float[n], expectedDgamma = (float[])dgamma.Clone(), expectedDbeta = (float[])dbeta.Clone();
            ReferenceLoops<float>.BatchNormBackward(batch, channels, spatial, x, dy, gamma, mean, invStd, dx, expectedDgamma, expectedDbeta, accumulate);
            AssertClose(dx, memory.Read<float>(pdx, n), 1e-5, 1e-4, $"dx (accumulate {accumulate})");
            AssertClose(expectedDgamma, memory.Read<float>(pdg, channels), 1e-4, 1e-4, $"dgamma (accumulate {accumulate})");
            AssertClose(expectedDbeta, memory.Read<float>(pdb, channels), 1e-4, 1e-4, $"dbeta (accumulate {accumulate})");
        }
    }
}
