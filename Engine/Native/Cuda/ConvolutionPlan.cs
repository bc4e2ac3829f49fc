using FerEngine.Backends.Cpu;

namespace FerEngine.Native.Cuda;

/// <summary>
/// Everything cuDNN needs for one convolution shape, made once: the x / y tensor descriptors, the
/// filter descriptor, and for each direction a convolution descriptor (stride 1, zero padding,
/// cross-correlation, float32) with an algorithm chosen by cuDNN's heuristics (cudnnGet*Algorithm_v7
/// asked with math type FMA for strict float32, tensor ops for TF32: the first result whose status
/// is success, and in strict float32 whose math type is FMA) and its workspace size. An algorithm
/// goes with the math type it was offered with, so each direction's descriptor is then set to that
/// math type (as PyTorch does): one descriptor per direction, so no call changes another's.
/// </summary>
internal sealed unsafe class ConvolutionPlan
{
    private const int Candidates = 8;   // CUDNN_CONVOLUTION_FWD_ALGO_COUNT, the most cuDNN 9 returns for any direction

    private readonly CudaDnn _dnn;
    private readonly IntPtr _x, _y, _w;
    private readonly (IntPtr Convolution, int Algorithm, long Workspace) _forward, _backwardData, _backwardFilter;
    private readonly string _name;

    public ConvolutionPlan(CudaDnn dnn, ConvShape s)
    {
        _dnn = dnn;
        _name = $"[{s.N},{s.Cin},{s.H},{s.W}] * [{s.Cout},{s.Cin},{s.K},{s.K}] pad {s.Padding}";
        _x = dnn.TensorDescriptor(s.N, s.Cin, s.H, s.W);
        _y = dnn.TensorDescriptor(s.N, s.Cout, s.Ho, s.Wo);
        IntPtr w;
        dnn.Check(dnn.cudnnCreateFilterDescriptor(&w), "cudnnCreateFilterDescriptor");
        dnn.Check(dnn.cudnnSetFilter4dDescriptor(w, CudaDnn.FloatType, CudaDnn.NchwFormat, s.Cout, s.Cin, s.K, s.K), "cudnnSetFilter4dDescriptor");
        _w = w;

        var results = stackalloc ConvolutionAlgorithmPerformance[Candidates];
        int returned;
        IntPtr forward = Convolution(s), backwardData = Convolution(s), backwardFilter = Convolution(s);
        dnn.Check(dnn.cudnnGetConvolutionForwardAlgorithm_v7(dnn.Handle, _x, _w, forward, _y, Candidates, &returned, results), "cudnnGetConvolutionForwardAlgorithm_v7");
        _forward = Choose(forward, results, returned, "forward");
        dnn.Check(dnn.cudnnGetConvolutionBackwardDataAlgorithm_v7(dnn.Handle, _w, _y, backwardData, _x, Candidates, &returned, results), "cudnnGetConvolutionBackwardDataAlgorithm_v7");
        _backwardData = Choose(backwardData, results, returned, "backward data");
        dnn.Check(dnn.cudnnGetConvolutionBackwardFilterAlgorithm_v7(dnn.Handle, _x, _y, backwardFilter, _w, Candidates, &returned, results), "cudnnGetConvolutionBackwardFilterAlgorithm_v7");
        _backwardFilter = Choose(backwardFilter, results, returned, "backward filter");
    }

    /// <summary>A convolution descriptor for <paramref name="s"/> with the math type the heuristics are asked with.</summary>
    private IntPtr Convolution(ConvShape s)
    {
        IntPtr convolution;
        _dnn.Check(_dnn.cudnnCreateConvolutionDescriptor(&convolution), "cudnnCreateConvolutionDescriptor");
        _dnn.Check(_dnn.cudnnSetConvolution2dDescriptor(convolution, s.Padding, s.Padding, 1, 1, 1, 1, CudaDnn.CrossCorrelation, CudaDnn.FloatType),
            "cudnnSetConvolution2dDescriptor");
        _dnn.Check(_dnn.cudnnSetConvolutionMathType(convolution, _dnn.Tf32 ? CudaDnn.TensorOpMath : CudaDnn.FmaMath), "cudnnSetConvolutionMathType");
        return convolution;
    }

    /// <summary>The first usable algorithm; <paramref name="convolution"/> is set to the math type it was offered with.</summary>
    private (IntPtr, int, long) Choose(IntPtr convolution, ConvolutionAlgorithmPerformance* results, int returned, string direction)
    {
        var (algorithm, mathType, workspace) = First(results, returned, direction);
        _dnn.Check(_dnn.cudnnSetConvolutionMathType(convolution, mathType), "cudnnSetConvolutionMathType");
        return (convolution, algorithm, workspace);
    }

    private (int Algorithm, int MathType, long Workspace) First(ConvolutionAlgorithmPerformance* results, int returned, string direction)
    {
        for (int i = 0; i < returned; i++)
            if (results[i].Status == 0 && (_dnn.Tf32 || results[i].MathType == CudaDnn.FmaMath))
                return (results[i].Algorithm, results[i].MathType, (long)results[i].Memory);
        var offered = Enumerable.Range(0, returned).Select(i => $"algo {results[i].Algorithm} (status {results[i].Status}, math {results[i].MathType})");
        throw new CudaException($"cudnnGetConvolution*Algorithm_v7 ({direction}, {_name})",
            $"no usable algorithm{(_dnn.Tf32 ? "" : " with FMA (strict float32) math")}; cuDNN offered {string.Join(", ", offered)}");
    }

    public void Forward(ulong x, ulong w, ulong y)
    {
        float one = 1f, zero = 0f;
        var (workspace, bytes) = _dnn.Workspace(_forward.Workspace);
        _dnn.Check(_dnn.cudnnConvolutionForward(_dnn.Handle, &one, _x, x, _w, w, _forward.Convolution, _forward.Algorithm, workspace, bytes, &zero, _y, y),
            $"cudnnConvolutionForward({_name})");
    }

    public void BackwardData(ulong dy, ulong w, ulong dx)
    {
        float one = 1f, zero = 0f;
        var (workspace, bytes) = _dnn.Workspace(_backwardData.Workspace);
        _dnn.Check(_dnn.cudnnConvolutionBackwardData(_dnn.Handle, &one, _w, w, _y, dy, _backwardData.Convolution, _backwardData.Algorithm, workspace, bytes, &zero, _x, dx),
            $"cudnnConvolutionBackwardData({_name})");
    }

    public void BackwardFilter(ulong x, ulong dy, ulong dw, bool accumulate)
    {
        float one = 1f, beta = accumulate ? 1f : 0f;
        var (workspace, bytes) = _dnn.Workspace(_backwardFilter.Workspace);
        _dnn.Check(_dnn.cudnnConvolutionBackwardFilter(_dnn.Handle, &one, _x, x, _y, dy, _backwardFilter.Convolution, _backwardFilter.Algorithm, workspace, bytes, &beta, _w, dw),
            $"cudnnConvolutionBackwardFilter({_name})");
    }
}
