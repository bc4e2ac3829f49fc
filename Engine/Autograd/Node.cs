namespace FerEngine.Autograd;

/// <summary>
/// One recorded operation in the graph: its name, the tensors it read, and its local backward
/// rule. The rule receives dL/d(output) and returns dL/d(input) for each input, in order
/// (null where an input needs no gradient).
/// </summary>
public sealed class Node
{
    internal Node(string opName, Tensor[] inputs, Func<Tensor, Tensor?[]> backward)
    {
        OpName = opName;
        Inputs = inputs;
        BackwardRule = backward;
    }

    public string OpName { get; }
    public IReadOnlyList<Tensor> Inputs { get; }
    internal Func<Tensor, Tensor?[]> BackwardRule { get; }
}
