namespace FerEngine.Native.Cuda;

/// <summary>
/// cuBLAS (ManagedCuda's CudaBlas): one handle on the context's stream, SGEMM on row-major
/// matrices, and the math mode (strict float32 or TF32 tensor cores). Signatures and enum values
/// from cublas_api.h (CUDA 12.6): cublasCreate_v2, cublasDestroy_v2, cublasSetStream_v2,
/// cublasSetMathMode, cublasSgemm_v2; CUBLAS_OP_N = 0, CUBLAS_OP_T = 1; CUBLAS_DEFAULT_MATH = 0
/// (float32 SGEMM without TF32, as PyTorch's allow_tf32=False; CUBLAS_PEDANTIC_MATH = 2 is a slower
/// debugging mode), CUBLAS_TF32_TENSOR_OP_MATH = 3. Scalars are passed by host pointer
/// (CUBLAS_POINTER_MODE_HOST, the default). cuBLAS gets a fixed workspace of its own
/// (cublasSetWorkspace_v2(handle, void*, size_t)) so that it never allocates while a CUDA graph is
/// being captured; 32 MiB is what NVIDIA recommends for Hopper.
/// </summary>
public sealed unsafe class CudaBlas : IDisposable
{
    private const int OpN = 0, OpT = 1;
    private const int DefaultMath = 0, Tf32TensorOpMath = 3;
    private const long WorkspaceBytes = 32L << 20;

    private readonly delegate* unmanaged<IntPtr*, int> _create;
    private readonly delegate* unmanaged<IntPtr, int> _destroy;
    private readonly delegate* unmanaged<IntPtr, IntPtr, int> _setStream;
    private readonly delegate* unmanaged<IntPtr, int, int> _setMathMode;
    private readonly delegate* unmanaged<IntPtr, ulong, nuint, int> _setWorkspace;
    private readonly CudaContext _context;
    private readonly ulong _workspace;
    private readonly delegate* unmanaged<IntPtr, int, int, int, int, int, float*, ulong, int, ulong, int, float*, ulong, int, int> _sgemm;
    private IntPtr _handle;

    public CudaBlas(CudaContext context, bool tf32)
    {
        IntPtr library = LibraryResolver.Load(NativeLibrarySpec.Cublas);
        IntPtr F(string name) => Exports.Get(library, NativeLibrarySpec.Cublas, name);
        _create = (delegate* unmanaged<IntPtr*, int>)F("cublasCreate_v2");
        _destroy = (delegate* unmanaged<IntPtr, int>)F("cublasDestroy_v2");
        _setStream = (delegate* unmanaged<IntPtr, IntPtr, int>)F("cublasSetStream_v2");
        _setMathMode = (delegate* unmanaged<IntPtr, int, int>)F("cublasSetMathMode");
        _setWorkspace = (delegate* unmanaged<IntPtr, ulong, nuint, int>)F("cublasSetWorkspace_v2");
        _sgemm = (delegate* unmanaged<IntPtr, int, int, int, int, int, float*, ulong, int, ulong, int, float*, ulong, int, int>)F("cublasSgemm_v2");
        IntPtr handle;
        Check(_create(&handle), "cublasCreate");
        _handle = handle;
        Check(_setStream(_handle, context.Stream), "cublasSetStream");
        Check(_setMathMode(_handle, tf32 ? Tf32TensorOpMath : DefaultMath), "cublasSetMathMode");
        _context = context;
        try
        {
            _workspace = context.Allocate(WorkspaceBytes);
        }
        catch (CudaException e) when (e.Status == "CUDA_ERROR_OUT_OF_MEMORY")
        {
            _destroy(_handle);
            _handle = IntPtr.Zero;
            throw new CudaException(e.Call, e.Status, $"That is cuBLAS's {WorkspaceBytes >> 20} MiB workspace, made before any training: " +
                "other processes hold the GPU's memory (nvidia-smi lists them). Free it, or use another GPU.");
        }
        Check(_setWorkspace(_handle, _workspace, (nuint)WorkspaceBytes), "cublasSetWorkspace");
    }

    /// <summary>The column-major cublasSgemm arguments that compute the row-major C[M,N] = op(A) op(B).</summary>
    /// <remarks>
    /// A row-major matrix is the column-major storage of its transpose, so row-major C = op(A) op(B)
    /// is column-major C^T = op(B)^T op(A)^T: call cuBLAS with the operands swapped, m = N, n = M,
    /// and each operand's leading dimension its row-major row length (K or N for B, K or M for A).
    /// </remarks>
    public static (int OpFirst, int OpSecond, int M, int N, int K, int LeadingFirst, int LeadingSecond, int LeadingC)
        RowMajorArguments(bool transposeA, bool transposeB, int m, int n, int k) =>
        (transposeB ? OpT : OpN, transposeA ? OpT : OpN, n, m, k, transposeB ? k : n, transposeA ? m : k, n);

    /// <summary>Row-major C[M,N] = alpha op(A) op(B) + beta C; op(A) is [M,K], op(B) is [K,N].</summary>
    public void Sgemm(bool transposeA, bool transposeB, int m, int n, int k, float alpha, ulong a, ulong b, float beta, ulong c)
    {
        var g = RowMajorArguments(transposeA, transposeB, m, n, k);
        Check(_sgemm(_handle, g.OpFirst, g.OpSecond, g.M, g.N, g.K, &alpha, b, g.LeadingFirst, a, g.LeadingSecond, &beta, c, g.LeadingC),
            $"cublasSgemm(M {m}, N {n}, K {k})");
    }

    /// <summary>cublasStatus_t names (cublas_api.h).</summary>
    public static string StatusName(int status) => status switch
    {
        0 => "CUBLAS_STATUS_SUCCESS",
        1 => "CUBLAS_STATUS_NOT_INITIALIZED",
        3 => "CUBLAS_STATUS_ALLOC_FAILED",
        7 => "CUBLAS_STATUS_INVALID_VALUE",
        8 => "CUBLAS_STATUS_ARCH_MISMATCH",
        11 => "CUBLAS_STATUS_MAPPING_ERROR",
        13 => "CUBLAS_STATUS_EXECUTION_FAILED",
        14 => "CUBLAS_STATUS_INTERNAL_ERROR",
        15 => "CUBLAS_STATUS_NOT_SUPPORTED",
        16 => "CUBLAS_STATUS_LICENSE_ERROR",
        _ => $"cublasStatus_t {status}",
    };

    private static void Check(int status, string call)
    {
        if (status != 0) throw new CudaException(call, StatusName(status));
    }

    public void Dispose()
    {
        if (_handle == IntPtr.Zero) return;
        _context.EnsureCurrent();   // Dispose may run on another thread than the last call
        _destroy(_handle);
        _handle = IntPtr.Zero;
        _context.Free(_workspace);
    }
}
