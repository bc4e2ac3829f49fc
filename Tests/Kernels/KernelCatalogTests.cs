using FerEngine.Kernels;

namespace FerEngine.Tests.Kernels;

/// <summary>The catalogue and the .ptx files agree: same kernels, same parameters in the same order.</summary>
public class KernelCatalogTests
{
    [Fact]
    public void Every_catalogue_kernel_exists_in_its_file_with_the_listed_parameters()
    {
        foreach (var info in KernelCatalog.All)
        {
            var kernel = KernelCatalog.Emulated(info.Name);
            Assert.Equal(info.Parameters.Select(p => $"{info.Name}_{p.Name}:{p.Type}"),
                kernel.Parameters.Select(p => $"{p.Name}:{p.Type}"));
        }
    }

    [Fact]
    public void Every_entry_of_every_ptx_file_is_in_the_catalogue()
    {
        Assert.NotEmpty(KernelCatalog.Files);
        foreach (var file in KernelCatalog.Files)
            foreach (var name in KernelCatalog.Module(file).Kernels.Keys)
                Assert.Equal(file, KernelCatalog.Get(name).File);
    }

    [Theory]
    [InlineData(1L)]
    [InlineData(1001L)]
    [InlineData(100_000L)]
    [InlineData(32L * 64 * 48 * 48)]
    public void Launch_shapes_cover_every_element(long n)
    {
        foreach (var info in KernelCatalog.All.Where(k => k.File == "Elementwise.ptx"))
        {
            var grid = info.LaunchFor(n);
            Assert.Equal(info.BlockSize, grid.Block.X);
            Assert.InRange(grid.Grid.X, 1, KernelCatalog.MaxGridBlocks);
            // A thread takes one element or one float4, so the grid has a thread for every (group of four)
            // elements, or is at its limit and the kernel strides over the rest.
            long threads = (long)grid.Grid.X * grid.Block.X;
            Assert.True(threads * 4 >= n || grid.Grid.X == KernelCatalog.MaxGridBlocks, $"{info.Name}: {grid.Grid.X} blocks of {grid.Block.X} for {n} elements");
        }
    }
}
