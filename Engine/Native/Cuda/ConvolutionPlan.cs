using FerEngine.Backends.Cpu;

namespace FerEngine.Native.Cuda;

/// <summary>
/// Everything cuDNN needs for one convolution shape, made once: the x / y tensor descriptors, the
/// filter descriptor, and for each direction a convolution descriptor (stride 1, zero padding,
/// cross-correlation, float32) with the algorithms cuDNN's heuristics offer (cudnnGet*Algorithm_v7
/// asked with math type FMA for strict float32, tensor ops for TF32), best first, keeping those whose
/// status is success and, in strict float32, whose math type is FMA. Strict float32 is the checking
/// mode, so there the deterministic ones (no atomics: the same inputs give the same bits) come first.
/// The first is used; if running it fails (cuDNN 9 may offer an engine that then refuses the call), or
/// its workspace does not fit in the GPU's memory, the next one is tried, as PyTorch does (a failure
/// left by an earlier kernel is reported as that, not taken for the algorithm's). An algorithm goes
/// with the math type it was offered with, so each direction's descriptor is set to that math type:
/// one descriptor per direction, so no call changes another's.
/// </summary>
internal sealed unsafe class ConvolutionPlan
{
    private const int Candidates = 8;   // CUDNN_CONVOLUTION_FWD_ALGO_COUNT, the most cuDNN 9 returns for any direction

    private readonly CudaDnn _dnn;
    private readonly IntPtr _x, _y, _w;
    private readonly Direction _forward, _backwardData, _backwardFilter;
    private readonly string _name;

    /// <summary>An algorithm cuDNN offered, the math type it goes with, and the workspace it needs.</summary>
    private sealed record Candidate(int Algorithm, int MathType, long Workspace);

    /// <summary>One direction's descriptor, its usable algorithms (best first) and which one is in use.</summary>
    private sealed class Direction(IntPtr convolution, Candidate[] usable)
    {
        public IntPtr Convolution { get; } = convolution;
        public Candidate[] Usable { get; } = usable;
        public int InUse { get; set; }
        public Candidate Current => Usable[InUse];
    }

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

    /// <summary>The usable algorithms among the heuristics' results; <paramref name="convolution"/> is set to the first one's math type.</summary>
    private Direction Choose(IntPtr convolution, ConvolutionAlgorithmPerformance* results, int returned, string direction)
    {
        var usable = Enumerable.Range(0, returned)
            .Where(i => results[i].Status == 0 && (_dnn.Tf32 || results[i].MathType == CudaDnn.FmaMath))
            .OrderBy(i => !_dnn.Tf32 && results[i].Determinism != CudaDnn.Deterministic)   // a stable sort: the heuristics' order otherwise
            .Select(i => new Candidate(results[i].Algorithm, results[i].MathType, (long)results[i].Memory)).ToArray();
        if (usable.Length == 0)
        {
            var offered = Enumerable.Range(0, returned).Select(i => $"algo {results[i].Algorithm} (status {results[i].Status}, math {results[i].MathType})");
            throw new CudaException($"cudnnGetConvolution*Algorithm_v7 ({direction}, {_name})",
                $"no usable algorithm{(_dnn.Tf32 ? "" : " with FMA (strict float32) math")}; cuDNN offered {string.Join(", ", offered)}");
        }
        _dnn.Check(_dnn.cudnnSetConvolutionMathType(convolution, usable[0].MathType), "cudnnSetConvolutionMathType");
        return new Direction(convolution, usable);
    }

    /// <summary>
    /// Runs <paramref name="call"/> (algorithm, workspace, its bytes) -> cudnnStatus_t with the algorithm in use.
    /// If the call fails, or its workspace cannot be allocated, and a graph is not being captured, moves to
    /// the next usable algorithm and tries again; first, a failed call checks that the stream holds no
    /// earlier kernel's error (that would fail every algorithm, and is thrown as what it is).
    /// </summary>
    private void Run(Direction direction, string call, Func<int, ulong, nuint, int> run)
    {
        while (true)
        {
            int algorithm = direction.Current.Algorithm;
            bool another = direction.InUse + 1 < direction.Usable.Length && !_dnn.IsCapturing;
            int status;
            try
            {
                var (workspace, bytes) = _dnn.Workspace(direction.Current.Workspace);
                status = run(algorithm, workspace, bytes);
            }
            catch (CudaException e) when (e.Status == "CUDA_ERROR_OUT_OF_MEMORY" && another)
            {
                Next(direction, $"{call}({_name}): algo {algorithm}'s workspace of {direction.Current.Workspace:N0} bytes does not fit in GPU memory");
                continue;
            }
            if (status == 0) return;
            if (!another) _dnn.Check(status, $"{call}({_name}, algo {algorithm})");
            _dnn.Synchronize();
            Next(direction, $"{call}({_name}) failed with algo {algorithm} ({_dnn.StatusName(status)})");
        }
    }

    /// <summary>Moves <paramref name="direction"/> to its next usable algorithm, saying why in the log.</summary>
    private void Next(Direction direction, string why)
    {
        direction.InUse++;
        _dnn.Check(_dnn.cudnnSetConvolutionMathType(direction.Convolution, direction.Current.MathType), "cudnnSetConvolutionMathType");
        Console.Error.WriteLine($"cuDNN: {why}; trying algo {direction.Current.Algorithm}");
    }

    public void Forward(ulong x, ulong w, ulong y) => Run(_forward, "cudnnConvolutionForward", (algorithm, workspace, bytes) =>
    {
        float one = 1f, zero = 0f;
        return _dnn.cudnnConvolutionForward(_dnn.Handle, &one, _x, x, _w, w, _forward.Convolution, algorithm, workspace, bytes, &zero, _y, y);
    });

    public void BackwardData(ulong dy, ulong w, ulong dx) => Run(_backwardData, "cudnnConvolutionBackwardData", (algorithm, workspace, bytes) =>
    {
        float one = 1f, zero = 0f;
        return _dnn.cudnnConvolutionBackwardData(_dnn.Handle, &one, _w, w, _y, dy, _backwardData.Convolution, algorithm, workspace, bytes, &zero, _x, dx);
    });

    public void BackwardFilter(ulong x, ulong dy, ulong dw, bool accumulate) => Run(_backwardFilter, "cudnnConvolutionBackwardFilter", (algorithm, workspace, bytes) =>
    {
        float one = 1f, beta = accumulate ? 1f : 0f;
        return _dnn.cudnnConvolutionBackwardFilter(_dnn.Handle, &one, _x, x, _y, dy, _backwardFilter.Convolution, algorithm, workspace, bytes, &beta, _w, dw);
    });
}
