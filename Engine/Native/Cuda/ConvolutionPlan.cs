using FerEngine.Backends.Cpu;

namespace FerEngine.Native.Cuda;

/// <summary>
/// Everything cuDNN needs for one convolution shape, made once: the x / y tensor descriptors, the
/// filter and convolution descriptors (stride 1, zero padding, cross-correlation, float32, with the
/// math type: FMA only for strict float32, tensor ops for TF32), and an algorithm for each direction
/// chosen by cuDNN's heuristics (cudnnGet*Algorithm_v7: the first result whose status is success,
/// and in strict float32 whose math type is FMA), with its workspace size.
/// </summary>
internal sealed unsafe class ConvolutionPlan
{
    private const int Candidates = 8;   // more than cuDNN 9 returns for any direction

    private readonly CudaDnn _dnn;
    private readonly IntPtr _x, _y, _w, _convolution;
    private readonly (int Algorithm, long Workspace) _forward, _backwardData, _backwardFilter;
    private readonly string _name;

    public ConvolutionPlan(CudaDnn dnn, ConvShape s)
    {
        _dnn = dnn;
        _name = $"[{s.N},{s.Cin},{s.H},{s.W}] * [{s.Cout},{s.Cin},{s.K},{s.K}] pad {s.Padding}";
        _x = dnn.TensorDescriptor(s.N, s.Cin, s.H, s.W);
        _y = dnn.TensorDescriptor(s.N, s.Cout, s.Ho, s.Wo);
        IntPtr w, convolution;
        dnn.Check(dnn.cudnnCreateFilterDescriptor(&w), "cudnnCreateFilterDescriptor");
        dnn.Check(dnn.cudnnSetFilter4dDescriptor(w, CudaDnn.FloatType, CudaDnn.NchwFormat, s.Cout, s.Cin, s.K, s.K), "cudnnSetFilter4dDescriptor");
        dnn.Check(dnn.cudnnCreateConvolutionDescriptor(&convolution), "cudnnCreateConvolutionDescriptor");
        dnn.Check(dnn.cudnnSetConvolution2dDescriptor(convolution, s.Padding, s.Padding, 1, 1, 1, 1, CudaDnn.CrossCorrelation, CudaDnn.FloatType),
            "cudnnSetConvolution2dDescriptor");
        dnn.Check(dnn.cudnnSetConvolutionMathType(convolution, dnn.Tf32 ? CudaDnn.TensorOpMath : CudaDnn.FmaMath), "cudnnSetConvolutionMathType");
        (_w, _convolution) = (w, convolution);

        var results = stackalloc ConvolutionAlgorithmPerformance[Candidates];
        int returned;
        dnn.Check(dnn.cudnnGetConvolutionForwardAlgorithm_v7(dnn.Handle, _x, _w, _convolution, _y, Candidates, &returned, results), "cudnnGetConvolutionForwardAlgorithm_v7");
        _forward = First(results, returned, "forward");
        dnn.Check(dnn.cudnnGetConvolutionBackwardDataAlgorithm_v7(dnn.Handle, _w, _y, _convolution, _x, Candidates, &returned, results), "cudnnGetConvolutionBackwardDataAlgorithm_v7");
        _backwardData = First(results, returned, "backward data");
        dnn.Check(dnn.cudnnGetConvolutionBackwardFilterAlgorithm_v7(dnn.Handle, _x, _y, _convolution, _w, Candidates, &returned, results), "cudnnGetConvolutionBackwardFilterAlgorithm_v7");
        _backwardFilter = First(results, returned, "backward filter");
    }

    private (int, long) First(ConvolutionAlgorithmPerformance* results, int returned, string direction)
    {
        for (int i = 0; i < returned; i++)
            if (results[i].Status == 0 && (_dnn.Tf32 || results[i].MathType == CudaDnn.FmaMath))
                return (results[i].Algorithm, (long)results[i].Memory);
        var offered = Enumerable.Range(0, returned).Select(i => $"algo {results[i].Algorithm} (status {results[i].Status}, math {results[i].MathType})");
        throw new CudaException($"cudnnGetConvolution*Algorithm_v7 ({direction}, {_name})",
            $"no usable algorithm{(_dnn.Tf32 ? "" : " with FMA (strict float32) math")}; cuDNN offered {string.Join(", ", offered)}");
    }

    public void Forward(ulong x, ulong w, ulong y)
    {
        float one = 1f, zero = 0f;
        var (workspace, bytes) = _dnn.Workspace(_forward.Workspace);
        _dnn.Check(_dnn.cudnnConvolutionForward(_dnn.Handle, &one, _x, x, _w, w, _convolution, _forward.Algorithm, workspace, bytes, &zero, _y, y),
            $"cudnnConvolutionForward({_name})");
    }

    public void BackwardData(ulong dy, ulong w, ulong dx)
    {
        float one = 1f, zero = 0f;
        var (workspace, bytes) = _dnn.Workspace(_backwardData.Workspace);
        _dnn.Check(_dnn.cudnnConvolutionBackwardData(_dnn.Handle, &one, _w, w, _y, dy, _convolution, _backwardData.Algorithm, workspace, bytes, &zero, _x, dx),
            $"cudnnConvolutionBackwardData({_name})");
    }

    public void BackwardFilter(ulong x, ulong dy, ulong dw, bool accumulate)
    {
        float one = 1f, beta = accumulate ? 1f : 0f;
        var (workspace, bytes) = _dnn.Workspace(_backwardFilter.Workspace);
        _dnn.Check(_dnn.cudnnConvolutionBackwardFilter(_dnn.Handle, &one, _x, x, _y, dy, _convolution, _backwardFilter.Algorithm, workspace, bytes, &beta, _w, dw),
            $"cudnnConvolutionBackwardFilter({_name})");
    }
}
