namespace FerEngine.Native.Cuda;

/// <summary>A CUDA, cuBLAS or cuDNN call failed: names the call and the library's name for the error.</summary>
public sealed class CudaException(string call, string status, string? advice = null)
    : Exception($"{call} failed: {status}.{(advice is null ? "" : " " + advice)}")
{
    public string Call { get; } = call;
    public string Status { get; } = status;
}
