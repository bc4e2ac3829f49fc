using System.Buffers;
using FerEngine.Backends;
using static FerEngine.Tests.Engine.FastCpuTests;

namespace FerEngine.Tests.Engine;

/// <summary>
/// The fast path's rarer branches, which the shapes of <see cref="FastCpuTests"/> and <see cref="WinogradTests"/>
/// do not reach: a wider last GEMM panel, an odd number of whole-vector rows, one value per channel,
/// and the general filter-gradient path on rows wider than the output.
/// </summary>
public class FastCpuEdgeTests
{
    private static IBackend Fast => Device.Cpu.Backend;
    private static IBackend Reference => Device.CpuReference.Backend;

    /// <summary>
    /// A last column panel of 17-31 columns takes the full-width micro-kernel, not the 16-column narrow
    /// one (the other GEMM shapes leave last panels of at most 16): here 24 and 56 = 32 + 24 columns.
    /// </summary>
    [Theory]
    [InlineData(9, 24, 20)]
    [InlineData(17, 56, 300)]   // a second depth slice too
    public void Gemm_with_a_last_column_panel_of_17_to_31_columns(int m, int n, int k)
    {
        foreach (bool ta in new[] { false, true })
            foreach (bool tb in new[] { false, true })
            {
                var a = ta ? Pair(1, k, m) : Pair(1, m, k);
                var b = tb ? Pair(2, n, k) : Pair(2, k, n);
                var c = Pair(3, m, n);
                Fast.Gemm(ta, tb, 0.75, a.Fast, b.Fast, 0.5, c.Fast);
                Reference.Gemm(ta, tb, 0.75, a.Reference, b.Reference, 0.5, c.Reference);
                AssertClose(c.Fast, c.Reference, $"gemm {m}x{n}x{k} transposeA={ta} transposeB={tb}");
                AssertElementsClose(c.Fast, c.Reference, $"gemm {m}x{n}x{k} transposeA={ta} transposeB={tb}");
            }
    }

    /// <summary>
    /// conv1's filter gradient reads dy in place only when its rows are whole vectors and their number
    /// is even; with Ho odd it must copy (the zero row after the last one would otherwise come from the
    /// next channel's plane, or past dy's end). Here Wo = 16 or 32 with Ho odd.
    /// </summary>
    [Theory]
    [InlineData(2, 1, 17, 16, 3, 2)]   // Ho 17, Wo 16
    [InlineData(3, 3, 9, 36, 4, 0)]    // Ho 5, Wo 32, no padding
    public void Few_channel_filter_gradient_with_whole_vector_rows_and_an_odd_number_of_them(int n, int cin, int h, int w, int cout, int padding)
    {
        const int k = 5;
        int ho = h + 2 * padding - k + 1, wo = w + 2 * padding - k + 1;
        var x = Pair(4, n, cin, h, w);
        var dy = Pair(7, n, cout, ho, wo);
        foreach (bool accumulate in new[] { false, true })
        {
            var dw = Pair(8, cout, cin, k, k);
            Fast.ConvolutionBackwardFilter(x.Fast, dy.Fast, dw.Fast, padding, accumulate);
            Reference.ConvolutionBackwardFilter(x.Reference, dy.Reference, dw.Reference, padding, accumulate);
            AssertClose(dw.Fast, dw.Reference, $"few-channel filter gradient accumulate={accumulate}");
            AssertElementsClose(dw.Fast, dw.Reference, $"few-channel filter gradient accumulate={accumulate}");
        }
    }

    /// <summary>
    /// With one value per channel (batch 1 into a 1 x 1 layer) the running variance's unbiased estimate
    /// would divide by count - 1 = 0: it stays finite, as the reference's.
    /// </summary>
    [Fact]
    public void Batch_norm_training_on_a_single_value_per_channel_keeps_the_running_variance_finite()
    {
        const int c = 5;
        var x = Pair(12, 1, c, 1, 1);
        var gamma = Pair(13, c);
        var beta = Pair(14, c);
        var (meanF, meanR) = Empty(c);
        var (varF, varR) = (Tensor.Ones(new Shape(c), DType.Float32, Device.Cpu), Tensor.Ones(new Shape(c), DType.Float64, Device.CpuReference));
        var (saveMeanF, saveMeanR) = Empty(c);
        var (invF, invR) = Empty(c);
        var y = Empty(1, c, 1, 1);
        Fast.BatchNormForwardTraining(x.Fast, gamma.Fast, beta.Fast, meanF, varF, 0.1, 1e-3, y.Fast, saveMeanF, invF);
        Reference.BatchNormForwardTraining(x.Reference, gamma.Reference, beta.Reference, meanR, varR, 0.1, 1e-3, y.Reference, saveMeanR, invR);
        Assert.All(varF.ToArray<float>(), v => Assert.True(float.IsFinite(v), $"running variance {v}"));
        AssertClose(varF, varR, "batch norm running variance, one value per channel");
        AssertClose(meanF, meanR, "batch norm running mean, one value per channel");
        AssertClose(y.Fast, y.Reference, "batch norm forward, one value per channel");
    }

    /// <summary>
    /// The general filter-gradient path (implicit im2col) copies dy's rows onto the padded row width and
    /// clears the positions between them. Only 1x1 kernels reach it in FastCpuTests, where the two widths
    /// are equal; here 5x5 kernels on 4-6 input channels (neither Winograd nor the few-channel path) and
    /// a 3x3 kernel on outputs wider than 32 (too wide for Winograd), with the pool's buffers first
    /// filled with NaN so that an uncleared position shows.
    /// </summary>
    [Theory]
    [InlineData(1, 4, 9, 11, 5, 5, 2)]
    [InlineData(3, 6, 8, 13, 7, 5, 1)]
    [InlineData(2, 2, 6, 40, 3, 3, 1)]
    public void Im2col_filter_gradient_on_rows_wider_than_the_output(int n, int cin, int h, int w, int cout, int k, int padding)
    {
        int ho = h + 2 * padding - k + 1, wo = w + 2 * padding - k + 1;
        var x = Pair(4, n, cin, h, w);
        var dy = Pair(7, n, cout, ho, wo);
        foreach (bool accumulate in new[] { false, true })
        {
            DirtyThePool(cout * ho * (w + 2 * padding));
            var dw = Pair(8, cout, cin, k, k);
            Fast.ConvolutionBackwardFilter(x.Fast, dy.Fast, dw.Fast, padding, accumulate);
            Reference.ConvolutionBackwardFilter(x.Reference, dy.Reference, dw.Reference, padding, accumulate);
            AssertClose(dw.Fast, dw.Reference, $"im2col filter gradient accumulate={accumulate}");
            AssertElementsClose(dw.Fast, dw.Reference, $"im2col filter gradient accumulate={accumulate}");
        }

        // Pooled buffers of about this many floats (every size up to twice it) handed back full of NaN:
        // what the next Rent of those sizes finds on this thread.
        static void DirtyThePool(int floats)
        {
            for (int size = 16; size <= 4 * floats; size *= 2)
            {
                var arrays = Enumerable.Range(0, 4).Select(_ => ArrayPool<float>.Shared.Rent(size)).ToArray();
                foreach (var array in arrays) { array.AsSpan().Fill(float.NaN); ArrayPool<float>.Shared.Return(array); }
            }
        }
    }
}
