using System.Runtime.InteropServices;
using FerEngine.Backends.Cpu;
using FerEngine.Kernels;
using FerEngine.Native;
using FerEngine.Native.Cuda;

namespace FerEngine.Tests.Native;

/// <summary>The parts of the GPU bindings that can be checked without a GPU: argument mapping, marshalling, struct layout, messages.</summary>
public class CudaBindingTests
{
    /// <summary>Column-major SGEMM exactly as BLAS defines it: C = alpha op(A) op(B) + beta C, leading dimensions in elements.</summary>
    private static void ColumnMajorSgemm(int opA, int opB, int m, int n, int k, float alpha, float[] a, int lda, float[] b, int ldb, float beta, float[] c, int ldc)
    {
        for (int j = 0; j < n; j++)
            for (int i = 0; i < m; i++)
            {
                double sum = 0;
                for (int p = 0; p < k; p++)
                    sum += (double)(opA == 0 ? a[i + p * lda] : a[p + i * lda]) * (opB == 0 ? b[p + j * ldb] : b[j + p * ldb]);
                c[i + j * ldc] = (float)(alpha * sum + beta * c[i + j * ldc]);
            }
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(false, true)]
    [InlineData(true, false)]
    [InlineData(true, true)]
    public void Row_major_gemm_maps_onto_column_major_cublas_arguments(bool transposeA, bool transposeB)
    {
        const int m = 5, n = 3, k = 4;
        float[] a = KernelsFloats(m * k, 1), b = KernelsFloats(k * n, 2), c = KernelsFloats(m * n, 3);
        var expected = (float[])c.Clone();
        ReferenceLoops<float>.Gemm(transposeA, transposeB, m, n, k, 0.5, a, b, 2.0, expected);

        var g = CudaBlas.RowMajorArguments(transposeA, transposeB, m, n, k);
        var actual = (float[])c.Clone();
        ColumnMajorSgemm(g.OpFirst, g.OpSecond, g.M, g.N, g.K, 0.5f, b, g.LeadingFirst, a, g.LeadingSecond, 2.0f, actual, g.LeadingC);   // first operand = B
        for (int i = 0; i < expected.Length; i++) Assert.Equal(expected[i], actual[i], 5);
    }

    private static float[] KernelsFloats(int count, ulong stream) => FerEngine.Tests.Kernels.KernelHarness.RandomFloats(count, stream);

    [Fact]
    public void Launch_arguments_are_packed_by_the_catalogues_types()
    {
        var axpy = KernelCatalog.Get("axpy_f32");   // (x .u64, y .u64, n .u32, alpha .f32)
        byte[] packed = KernelArguments.Pack(axpy, [0x1122334455667788UL, 42UL, 7u, -0.5f]).Values;
        Assert.Equal(4 * KernelArguments.SlotBytes, packed.Length);
        Assert.Equal(0x1122334455667788UL, BitConverter.ToUInt64(packed, 0));
        Assert.Equal(42UL, BitConverter.ToUInt64(packed, 8));
        Assert.Equal(7u, BitConverter.ToUInt32(packed, 16));
        Assert.Equal(-0.5f, BitConverter.ToSingle(packed, 24));

        var wrongType = Assert.Throws<ArgumentException>(() => KernelArguments.Pack(axpy, [1UL, 2UL, 7, -0.5f]));   // int, not uint
        Assert.Contains("axpy_f32: parameter 2 (n) is .u32", wrongType.Message);
        Assert.Contains("takes 4 arguments", Assert.Throws<ArgumentException>(() => KernelArguments.Pack(axpy, [1UL])).Message);

        // A table passed by value (.b8 [2560]) takes its whole length; the next value starts after it.
        var table = new AdamTable([new AdamTableEntry(0x10, 0x20, 0x30, 0x40, 5)]);
        var adam = KernelArguments.Pack(KernelCatalog.Get("adam_f32"), [table.Parameter, 1u, 0.9f, 0.999f, 0.1f, 0.001f, 1e-8f, 0f, 0x50UL]);
        Assert.Equal([0, AdamTable.Bytes, AdamTable.Bytes + 8], adam.Offsets[..3]);
        Assert.Equal(table.Parameter, adam.Values[..AdamTable.Bytes]);
        Assert.Equal(0x50UL, BitConverter.ToUInt64(adam.Values, adam.Offsets[8]));
        var shortTable = Assert.Throws<ArgumentException>(() =>
            KernelArguments.Pack(KernelCatalog.Get("adam_f32"), [new byte[40], 1u, 0.9f, 0.999f, 0.1f, 0.001f, 1e-8f, 0f, 0x50UL]));
        Assert.Contains("is 2560 bytes, but the launcher passed 40", shortTable.Message);
    }

    [Fact]
    public void The_emulated_gpu_refuses_the_arguments_the_real_one_would()
    {
        // Every emulated launch is packed by the real device's rules first (so every CUDA backend test
        // also checks its launches' argument types): an int where the .ptx says .u32 is refused.
        var gpu = new FerEngine.Backends.Cuda.EmulatedGpu();
        ulong y = gpu.Allocate(16);
        gpu.Launch("fill_f32", 4, y, 4u, 2f);
        var wrong = Assert.Throws<ArgumentException>(() => gpu.Launch("fill_f32", 4, y, 4, 2f));
        Assert.Contains("fill_f32: parameter 1", wrong.Message);
    }

    [Fact]
    public void The_cudnn_algorithm_result_struct_has_the_headers_layout()
    {
        Assert.Equal(48, Marshal.SizeOf<ConvolutionAlgorithmPerformance>());
        Assert.Equal(16, (int)Marshal.OffsetOf<ConvolutionAlgorithmPerformance>(nameof(ConvolutionAlgorithmPerformance.Memory)));
        Assert.Equal(24, (int)Marshal.OffsetOf<ConvolutionAlgorithmPerformance>(nameof(ConvolutionAlgorithmPerformance.Determinism)));
    }

    [Fact]
    public void Failures_name_the_call_and_the_status()
    {
        Assert.Equal("CUBLAS_STATUS_NOT_SUPPORTED", CudaBlas.StatusName(15));
        Assert.Equal("cublasStatus_t 99", CudaBlas.StatusName(99));
        var e = new CudaException("cuMemAlloc(1,024 bytes)", "CUDA_ERROR_OUT_OF_MEMORY", "Use a smaller --batch.");
        Assert.Equal("cuMemAlloc(1,024 bytes) failed: CUDA_ERROR_OUT_OF_MEMORY. Use a smaller --batch.", e.Message);

        IntPtr libc = NativeLibrary.Load("libc.so.6");
        var missing = Assert.Throws<CudaUnavailableException>(() => Exports.Get(libc, new NativeLibrarySpec("libc", ["libc.so.6"]), "cuNoSuchFunction"));
        Assert.Contains("does not export cuNoSuchFunction", missing.Message);
        Assert.Contains(LibraryResolver.OverrideVariable, missing.Message);
        // The driver matches the kernel module: its advice is to update it, not to point at other folders.
        var driver = Assert.Throws<CudaUnavailableException>(() => Exports.Get(libc, NativeLibrarySpec.Driver, "cuNoSuchFunction"));
        Assert.Contains("Update the NVIDIA driver", driver.Message);
        Assert.DoesNotContain(LibraryResolver.OverrideVariable, driver.Message);
    }
}
