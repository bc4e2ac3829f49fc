using System.Runtime.InteropServices;
using FerEngine.Backends.Cpu;

namespace FerEngine.Native.Cuda;

/// <summary>
/// cudnnConvolution{Fwd,BwdData,BwdFilter}AlgoPerf_t (cudnn_cnn.h, cuDNN 9): the three structs share
/// this layout: algo, status, time, (4 bytes of padding), memory, determinism, mathType, reserved[3];
/// 48 bytes (checked by a test).
/// </summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct ConvolutionAlgorithmPerformance
{
    public int Algorithm;
    public int Status;
    public float Time;
    public nuint Memory;
    public int Determinism;
    public int MathType;
    public fixed int Reserved[3];
}

/// <summary>
/// cuDNN 9's legacy convolution API and the few tensor operations we use (ManagedCuda's
/// CudaDNNContext), on the context's stream. Declarations and enum values from cudnn_graph.h,
/// cudnn_ops.h and cudnn_cnn.h (cuDNN 9): CUDNN_STATUS_SUCCESS = 0, CUDNN_TENSOR_NCHW = 0,
/// CUDNN_DATA_FLOAT = 0, CUDNN_CROSS_CORRELATION = 1, CUDNN_DEFAULT_MATH = 0, CUDNN_TENSOR_OP_MATH
/// = 1, CUDNN_FMA_MATH = 3, CUDNN_NOT_PROPAGATE_NAN = 0, CUDNN_PROPAGATE_NAN = 1, CUDNN_OP_TENSOR_MUL
/// = 1, CUDNN_ACTIVATION_RELU = 1. Each convolution shape gets its descriptors and algorithms once
/// (<see cref="ConvolutionPlan"/>); workspaces come from one device buffer that grows when needed.
/// </summary>
public sealed unsafe class CudaDnn : IDisposable
{
    internal const int NchwFormat = 0, FloatType = 0, CrossCorrelation = 1;
    internal const int TensorOpMath = 1, FmaMath = 3, NotPropagateNan = 0, PropagateNan = 1;
    internal const int Deterministic = 1;   // cudnnDeterminism_t: CUDNN_NON_DETERMINISTIC = 0, CUDNN_DETERMINISTIC = 1
    private const int OpTensorMul = 1, ActivationRelu = 1;

    private readonly CudaContext _context;
    private readonly bool _tf32;
    private IntPtr _handle;
    private readonly Dictionary<ConvShape, ConvolutionPlan> _plans = [];
    private ulong _workspace;
    private long _workspaceBytes;
    private readonly List<ulong> _retiredWorkspaces = [];
    private int _capturesAtWorkspace;   // the context's CapturesBegun when _workspace was allocated

    // cudnn_graph.h
    internal readonly delegate* unmanaged<IntPtr*, int> cudnnCreate;
    internal readonly delegate* unmanaged<IntPtr, int> cudnnDestroy;
    internal readonly delegate* unmanaged<IntPtr, IntPtr, int> cudnnSetStream;
    internal readonly delegate* unmanaged<int, byte*> cudnnGetErrorString;
    // cudnn_ops.h
    internal readonly delegate* unmanaged<IntPtr*, int> cudnnCreateTensorDescriptor;
    internal readonly delegate* unmanaged<IntPtr, int, int, int, int, int, int, int> cudnnSetTensor4dDescriptor;   // (desc, format, type, n, c, h, w)
    internal readonly delegate* unmanaged<IntPtr*, int> cudnnCreateFilterDescriptor;
    internal readonly delegate* unmanaged<IntPtr, int, int, int, int, int, int, int> cudnnSetFilter4dDescriptor;   // (desc, type, format, k, c, h, w)
    internal readonly delegate* unmanaged<IntPtr, float*, IntPtr, ulong, float*, IntPtr, ulong, int> cudnnAddTensor;  // (h, alpha, aDesc, A, beta, cDesc, C)
    internal readonly delegate* unmanaged<IntPtr*, int> cudnnCreateOpTensorDescriptor;
    internal readonly delegate* unmanaged<IntPtr, int, int, int, int> cudnnSetOpTensorDescriptor;                  // (desc, op, compType, nanOpt)
    internal readonly delegate* unmanaged<IntPtr, IntPtr, float*, IntPtr, ulong, float*, IntPtr, ulong, float*, IntPtr, ulong, int> cudnnOpTensor;
    internal readonly delegate* unmanaged<IntPtr*, int> cudnnCreateActivationDescriptor;
    internal readonly delegate* unmanaged<IntPtr, int, int, double, int> cudnnSetActivationDescriptor;             // (desc, mode, nanOpt, coef)
    internal readonly delegate* unmanaged<IntPtr, IntPtr, float*, IntPtr, ulong, float*, IntPtr, ulong, int> cudnnActivationForward;
    internal readonly delegate* unmanaged<IntPtr, IntPtr, float*, IntPtr, ulong, IntPtr, ulong, IntPtr, ulong, float*, IntPtr, ulong, int> cudnnActivationBackward;
    // cudnn_cnn.h
    internal readonly delegate* unmanaged<IntPtr*, int> cudnnCreateConvolutionDescriptor;
    internal readonly delegate* unmanaged<IntPtr, int, int, int, int, int, int, int, int, int> cudnnSetConvolution2dDescriptor;  // (desc, padH, padW, u, v, dilH, dilW, mode, type)
    internal readonly delegate* unmanaged<IntPtr, int, int> cudnnSetConvolutionMathType;
    internal readonly delegate* unmanaged<IntPtr, IntPtr, IntPtr, IntPtr, IntPtr, int, int*, ConvolutionAlgorithmPerformance*, int> cudnnGetConvolutionForwardAlgorithm_v7;        // (h, x, w, conv, y, ...)
    internal readonly delegate* unmanaged<IntPtr, IntPtr, IntPtr, IntPtr, IntPtr, int, int*, ConvolutionAlgorithmPerformance*, int> cudnnGetConvolutionBackwardDataAlgorithm_v7;   // (h, w, dy, conv, dx, ...)
    internal readonly delegate* unmanaged<IntPtr, IntPtr, IntPtr, IntPtr, IntPtr, int, int*, ConvolutionAlgorithmPerformance*, int> cudnnGetConvolutionBackwardFilterAlgorithm_v7; // (h, x, dy, conv, dw, ...)
    internal readonly delegate* unmanaged<IntPtr, float*, IntPtr, ulong, IntPtr, ulong, IntPtr, int, ulong, nuint, float*, IntPtr, ulong, int> cudnnConvolutionForward;         // (h, alpha, xD, x, wD, w, conv, algo, ws, wsBytes, beta, yD, y)
    internal readonly delegate* unmanaged<IntPtr, float*, IntPtr, ulong, IntPtr, ulong, IntPtr, int, ulong, nuint, float*, IntPtr, ulong, int> cudnnConvolutionBackwardData;    // (h, alpha, wD, w, dyD, dy, conv, algo, ws, wsBytes, beta, dxD, dx)
    internal readonly delegate* unmanaged<IntPtr, float*, IntPtr, ulong, IntPtr, ulong, IntPtr, int, ulong, nuint, float*, IntPtr, ulong, int> cudnnConvolutionBackwardFilter;  // (h, alpha, xD, x, dyD, dy, conv, algo, ws, wsBytes, beta, dwD, dw)
    internal readonly delegate* unmanaged<IntPtr, float*, IntPtr, ulong, float*, IntPtr, ulong, int> cudnnConvolutionBackwardBias;  // (h, alpha, dyD, dy, beta, dbD, db)

    public CudaDnn(CudaContext context, bool tf32)
    {
        _context = context;
        _tf32 = tf32;
        IntPtr library = LibraryResolver.Load(NativeLibrarySpec.Cudnn);
        IntPtr F(string name) => Exports.Get(library, NativeLibrarySpec.Cudnn, name);
        cudnnCreate = (delegate* unmanaged<IntPtr*, int>)F("cudnnCreate");
        cudnnDestroy = (delegate* unmanaged<IntPtr, int>)F("cudnnDestroy");
        cudnnSetStream = (delegate* unmanaged<IntPtr, IntPtr, int>)F("cudnnSetStream");
        cudnnGetErrorString = (delegate* unmanaged<int, byte*>)F("cudnnGetErrorString");
        cudnnCreateTensorDescriptor = (delegate* unmanaged<IntPtr*, int>)F("cudnnCreateTensorDescriptor");
        cudnnSetTensor4dDescriptor = (delegate* unmanaged<IntPtr, int, int, int, int, int, int, int>)F("cudnnSetTensor4dDescriptor");
        cudnnCreateFilterDescriptor = (delegate* unmanaged<IntPtr*, int>)F("cudnnCreateFilterDescriptor");
        cudnnSetFilter4dDescriptor = (delegate* unmanaged<IntPtr, int, int, int, int, int, int, int>)F("cudnnSetFilter4dDescriptor");
        cudnnAddTensor = (delegate* unmanaged<IntPtr, float*, IntPtr, ulong, float*, IntPtr, ulong, int>)F("cudnnAddTensor");
        cudnnCreateOpTensorDescriptor = (delegate* unmanaged<IntPtr*, int>)F("cudnnCreateOpTensorDescriptor");
        cudnnSetOpTensorDescriptor = (delegate* unmanaged<IntPtr, int, int, int, int>)F("cudnnSetOpTensorDescriptor");
        cudnnOpTensor = (delegate* unmanaged<IntPtr, IntPtr, float*, IntPtr, ulong, float*, IntPtr, ulong, float*, IntPtr, ulong, int>)F("cudnnOpTensor");
        cudnnCreateActivationDescriptor = (delegate* unmanaged<IntPtr*, int>)F("cudnnCreateActivationDescriptor");
        cudnnSetActivationDescriptor = (delegate* unmanaged<IntPtr, int, int, double, int>)F("cudnnSetActivationDescriptor");
        cudnnActivationForward = (delegate* unmanaged<IntPtr, IntPtr, float*, IntPtr, ulong, float*, IntPtr, ulong, int>)F("cudnnActivationForward");
        cudnnActivationBackward = (delegate* unmanaged<IntPtr, IntPtr, float*, IntPtr, ulong, IntPtr, ulong, IntPtr, ulong, float*, IntPtr, ulong, int>)F("cudnnActivationBackward");
        cudnnCreateConvolutionDescriptor = (delegate* unmanaged<IntPtr*, int>)F("cudnnCreateConvolutionDescriptor");
        cudnnSetConvolution2dDescriptor = (delegate* unmanaged<IntPtr, int, int, int, int, int, int, int, int, int>)F("cudnnSetConvolution2dDescriptor");
        cudnnSetConvolutionMathType = (delegate* unmanaged<IntPtr, int, int>)F("cudnnSetConvolutionMathType");
        cudnnGetConvolutionForwardAlgorithm_v7 = (delegate* unmanaged<IntPtr, IntPtr, IntPtr, IntPtr, IntPtr, int, int*, ConvolutionAlgorithmPerformance*, int>)F("cudnnGetConvolutionForwardAlgorithm_v7");
        cudnnGetConvolutionBackwardDataAlgorithm_v7 = (delegate* unmanaged<IntPtr, IntPtr, IntPtr, IntPtr, IntPtr, int, int*, ConvolutionAlgorithmPerformance*, int>)F("cudnnGetConvolutionBackwardDataAlgorithm_v7");
        cudnnGetConvolutionBackwardFilterAlgorithm_v7 = (delegate* unmanaged<IntPtr, IntPtr, IntPtr, IntPtr, IntPtr, int, int*, ConvolutionAlgorithmPerformance*, int>)F("cudnnGetConvolutionBackwardFilterAlgorithm_v7");
        cudnnConvolutionForward = (delegate* unmanaged<IntPtr, float*, IntPtr, ulong, IntPtr, ulong, IntPtr, int, ulong, nuint, float*, IntPtr, ulong, int>)F("cudnnConvolutionForward");
        cudnnConvolutionBackwardData = (delegate* unmanaged<IntPtr, float*, IntPtr, ulong, IntPtr, ulong, IntPtr, int, ulong, nuint, float*, IntPtr, ulong, int>)F("cudnnConvolutionBackwardData");
        cudnnConvolutionBackwardFilter = (delegate* unmanaged<IntPtr, float*, IntPtr, ulong, IntPtr, ulong, IntPtr, int, ulong, nuint, float*, IntPtr, ulong, int>)F("cudnnConvolutionBackwardFilter");
        cudnnConvolutionBackwardBias = (delegate* unmanaged<IntPtr, float*, IntPtr, ulong, float*, IntPtr, ulong, int>)F("cudnnConvolutionBackwardBias");

        IntPtr handle;
        Check(cudnnCreate(&handle), "cudnnCreate");
        _handle = handle;
        Check(cudnnSetStream(_handle, context.Stream), "cudnnSetStream");
    }

    internal IntPtr Handle => _handle;
    internal bool Tf32 => _tf32;

    internal bool IsCapturing => _context.IsCapturing;

    /// <summary>Waits for the stream; an earlier kernel's failure (which every later call would report too) throws here, named.</summary>
    internal void Synchronize() => _context.Synchronize();

    internal void Check(int status, string call)
    {
        if (status != 0) throw new CudaException(call, StatusName(status));
    }

    /// <summary>cuDNN's name for a cudnnStatus_t (cudnnGetErrorString).</summary>
    internal string StatusName(int status)
    {
        byte* text = cudnnGetErrorString(status);
        return text == null ? $"cudnnStatus_t {status}" : Marshal.PtrToStringAnsi((IntPtr)text)!;
    }

    /// <summary>A 4-D NCHW float tensor descriptor (created once per use site and cached by the caller).</summary>
    internal IntPtr TensorDescriptor(int n, int c, int h, int w)
    {
        IntPtr d;
        Check(cudnnCreateTensorDescriptor(&d), "cudnnCreateTensorDescriptor");
        Check(cudnnSetTensor4dDescriptor(d, NchwFormat, FloatType, n, c, h, w), $"cudnnSetTensor4dDescriptor({n}, {c}, {h}, {w})");
        return d;
    }

    /// <summary>
    /// Device scratch memory of at least <paramref name="bytes"/> (one buffer, grown when a plan needs
    /// more). The outgrown buffer goes before the new one is allocated, so that a GPU close to full
    /// still fits it, and a failed allocation (out of memory: <see cref="ConvolutionPlan"/> then tries the
    /// next algorithm in its list) leaves none rather than a buffer freed twice at the end. It is
    /// freed at once unless a CUDA graph was captured while it was current: that graph may still use its
    /// address, so it is kept until the end.
    /// </summary>
    internal (ulong Address, nuint Bytes) Workspace(long bytes)
    {
        if (bytes > _workspaceBytes)
        {
            if (_workspace != 0)
            {
                if (_context.CapturesBegun != _capturesAtWorkspace) _retiredWorkspaces.Add(_workspace);
                else _context.Free(_workspace);
                (_workspace, _workspaceBytes) = (0, 0);
            }
            _workspace = _context.Allocate(bytes);
            _workspaceBytes = bytes;
            _capturesAtWorkspace = _context.CapturesBegun;
        }
        return (_workspace, (nuint)_workspaceBytes);
    }

    /// <summary>Outgrown workspaces kept for a captured graph (freed at the end).</summary>
    internal int RetiredWorkspaces => _retiredWorkspaces.Count;

    private ConvolutionPlan Plan(ConvShape shape)
    {
        if (!_plans.TryGetValue(shape, out var plan)) _plans[shape] = plan = new ConvolutionPlan(this, shape);
        return plan;
    }

    public void ConvolutionForward(ConvShape s, ulong x, ulong w, ulong y) => Plan(s).Forward(x, w, y);
    public void ConvolutionBackwardData(ConvShape s, ulong dy, ulong w, ulong dx) => Plan(s).BackwardData(dy, w, dx);
    public void ConvolutionBackwardFilter(ConvShape s, ulong x, ulong dy, ulong dw, bool accumulate) => Plan(s).BackwardFilter(x, dy, dw, accumulate);

    // ---- bias, elementwise multiply, ReLU (descriptors cached per shape) ----------------------------

    private readonly Dictionary<(int, int, int, int), IntPtr> _tensors = [];
    private IntPtr Cached(int n, int c, int h, int w)
    {
        if (!_tensors.TryGetValue((n, c, h, w), out var d)) _tensors[(n, c, h, w)] = d = TensorDescriptor(n, c, h, w);
        return d;
    }

    /// <summary>y[n, c, s] += bias[c] (cudnnAddTensor with a [1, C, 1, 1] bias).</summary>
    public void AddBias(int n, int c, int spatial, ulong y, ulong bias)
    {
        float one = 1f;
        Check(cudnnAddTensor(_handle, &one, Cached(1, c, 1, 1), bias, &one, Cached(n, c, spatial, 1), y), "cudnnAddTensor");
    }

    /// <summary>dbias[c] (+)= sum over n, s of dy (cudnnConvolutionBackwardBias).</summary>
    public void BiasBackward(int n, int c, int spatial, ulong dy, ulong dbias, bool accumulate)
    {
        float one = 1f, beta = accumulate ? 1f : 0f;
        Check(cudnnConvolutionBackwardBias(_handle, &one, Cached(n, c, spatial, 1), dy, &beta, Cached(1, c, 1, 1), dbias), "cudnnConvolutionBackwardBias");
    }

    private IntPtr _multiply, _relu;

    /// <summary>y = a * b elementwise (cudnnOpTensor MUL over a [1, count, 1, 1] view).</summary>
    public void Multiply(long count, ulong a, ulong b, ulong y)
    {
        if (_multiply == IntPtr.Zero)
        {
            IntPtr d;
            Check(cudnnCreateOpTensorDescriptor(&d), "cudnnCreateOpTensorDescriptor");
            Check(cudnnSetOpTensorDescriptor(d, OpTensorMul, FloatType, PropagateNan), "cudnnSetOpTensorDescriptor");
            _multiply = d;
        }
        float one = 1f, zero = 0f;
        var t = Cached(1, checked((int)count), 1, 1);
        Check(cudnnOpTensor(_handle, _multiply, &one, t, a, &one, t, b, &zero, t, y), "cudnnOpTensor(MUL)");
    }

    private IntPtr Relu()
    {
        if (_relu != IntPtr.Zero) return _relu;
        IntPtr d;
        Check(cudnnCreateActivationDescriptor(&d), "cudnnCreateActivationDescriptor");
        Check(cudnnSetActivationDescriptor(d, ActivationRelu, PropagateNan, 0.0), "cudnnSetActivationDescriptor(RELU)");
        return _relu = d;
    }

    public void ReluForward(long count, ulong x, ulong y)
    {
        float one = 1f, zero = 0f;
        var t = Cached(1, checked((int)count), 1, 1);
        Check(cudnnActivationForward(_handle, Relu(), &one, t, x, &zero, t, y), "cudnnActivationForward(RELU)");
    }

    /// <summary>dx = y > 0 ? dy : 0. cuDNN's ReLU backward reads x as well; y stands in for it (same sign pattern).</summary>
    public void ReluBackward(long count, ulong y, ulong dy, ulong dx)
    {
        float one = 1f, zero = 0f;
        var t = Cached(1, checked((int)count), 1, 1);
        Check(cudnnActivationBackward(_handle, Relu(), &one, t, y, t, dy, t, y, &zero, t, dx), "cudnnActivationBackward(RELU)");
    }

    public void Dispose()
    {
        if (_handle == IntPtr.Zero) return;
        _context.EnsureCurrent();   // Dispose may run on another thread than the last call
        cudnnDestroy(_handle);
        _handle = IntPtr.Zero;
        _context.Synchronize();
        foreach (ulong workspace in _retiredWorkspaces.Append(_workspace).Where(w => w != 0)) _context.Free(workspace);
    }
}
