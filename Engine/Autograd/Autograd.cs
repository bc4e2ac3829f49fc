using FerEngine.Ops;

namespace FerEngine.Autograd;

/// <summary>
/// Reverse-mode automatic differentiation, micrograd style: ops record a <see cref="Node"/> on
/// their output; <see cref="Backward"/> orders the graph topologically once and walks it in
/// reverse, summing the gradients that reach a tensor from every use (so a value used twice is
/// handled). Leaves that require grad receive the sum in <see cref="Tensor.Grad"/> (accumulated
/// across backward calls, like PyTorch; optimisers clear it).
/// </summary>
public static class Autograd
{
    [ThreadStatic] private static int _noGradDepth;

    /// <summary>False inside a <see cref="NoGrad"/> scope: ops then record nothing.</summary>
    public static bool IsGradEnabled => _noGradDepth == 0;

    /// <summary>using (Autograd.NoGrad()) { ... }: evaluation without recording a graph.</summary>
    public static IDisposable NoGrad() => new NoGradScope();

    private sealed class NoGradScope : IDisposable
    {
        private bool _disposed;
        public NoGradScope() => _noGradDepth++;
        public void Dispose()
        {
            if (_disposed) return;
            _disposed = true;
            _noGradDepth--;
        }
    }

    /// <summary>
    /// Attaches a node to <paramref name="output"/> if grad is enabled and some input takes part
    /// in differentiation. Returns <paramref name="output"/>.
    /// </summary>
    internal static Tensor Record(string opName, Tensor output, Tensor[] inputs, Func<Tensor, Tensor?[]> backward)
    {
        if (!OpNames.All.Contains(opName))
            throw new InvalidOperationException($"Op '{opName}' is not listed in OpNames.All; add it there and give it a gradient check.");
        if (!IsGradEnabled || !inputs.Any(NeedsGradient)) return output;
        output.GradFn = new Node(opName, inputs, backward);
        output.RequiresGrad = true;
        return output;
    }

    /// <summary>Does a gradient have to flow into this tensor?</summary>
    internal static bool NeedsGradient(Tensor t) => t.RequiresGrad || t.GradFn is not null;

    /// <summary>dL/dx for every leaf x (with RequiresGrad) that the scalar <paramref name="root"/> depends on.</summary>
    public static void Backward(Tensor root)
    {
        if (root.ElementCount != 1)
            throw new InvalidOperationException(
                $"backward() needs a scalar (one-element) tensor such as a loss; got shape {root.Shape}. Reduce it first (Sum or Mean).");
        if (!NeedsGradient(root))
            throw new InvalidOperationException(
                "backward(): this tensor does not depend on anything that requires grad (was it computed inside Autograd.NoGrad(), or from detached inputs?).");

        var order = TopologicalOrder(root);
        var gradients = new Dictionary<Tensor, Tensor>(ReferenceEqualityComparer.Instance)
        {
            [root] = Tensor.Ones(root.Shape, root.DType, root.Device),
        };
        var heldByLeaves = new HashSet<Storage>(ReferenceEqualityComparer.Instance);

        for (int i = order.Count - 1; i >= 0; i--)
        {
            var tensor = order[i];
            if (!gradients.Remove(tensor, out var gradient)) continue; // nothing flowed here
            if (tensor.GradFn is null)
            {
                AccumulateIntoLeaf(tensor, gradient, heldByLeaves);
                continue;
            }
            var node = tensor.GradFn;
            var inputGradients = node.BackwardRule(gradient);
            for (int k = 0; k < node.Inputs.Count; k++)
            {
                var input = node.Inputs[k];
                var inputGradient = inputGradients[k];
                if (inputGradient is null || !NeedsGradient(input)) continue;
                if (inputGradient.Shape != input.Shape)
                    throw new InvalidOperationException(
                        $"Backward of '{node.OpName}' returned a gradient of shape {inputGradient.Shape} for input {k} of shape {input.Shape}.");
                // A new tensor, not an add into sum: a rule may hand one tensor to several inputs (add's [dy, dy],
                // reshape's views), and adding into it would change another input's gradient too.
                gradients[input] = gradients.TryGetValue(input, out var sum) ? Functional.AddNoGrad(sum, inputGradient) : inputGradient;
            }
        }
    }

    /// <summary>
    /// The first gradient of a leaf becomes its Grad as it is (no copy: nothing writes into a gradient
    /// once made), unless another leaf already holds that memory. Rules may hand one tensor to two
    /// inputs (add does), or views of one tensor (reshape, the joint loss's slices of one dlogits), and
    /// the leaves' gradients must not alias, since a later backward adds into them.
    /// </summary>
    private static void AccumulateIntoLeaf(Tensor leaf, Tensor gradient, HashSet<Storage> heldByLeaves)
    {
        if (!leaf.RequiresGrad) return;
        if (leaf.Grad is not null) leaf.Backend.Axpy(1.0, gradient, leaf.Grad);
        else leaf.Grad = heldByLeaves.Add(gradient.Storage) ? gradient : gradient.Clone();
    }

    /// <summary>Every tensor reachable from root through GradFn inputs, each after all of its inputs.</summary>
    private static List<Tensor> TopologicalOrder(Tensor root)
    {
        var order = new List<Tensor>();
        var visited = new HashSet<Tensor>(ReferenceEqualityComparer.Instance);
        // Iterative depth-first search: deep graphs must not overflow the stack. Each entry remembers the
        // next input to visit; a tensor goes into the order only once all its inputs are done (post-order).
        var stack = new Stack<(Tensor Tensor, int NextInput)>();
        visited.Add(root);
        stack.Push((root, 0));
        while (stack.Count > 0)
        {
            var (tensor, next) = stack.Pop();
            var inputs = tensor.GradFn?.Inputs;
            if (inputs is not null && next < inputs.Count)
            {
                stack.Push((tensor, next + 1));
                var input = inputs[next];
                if (NeedsGradient(input) && visited.Add(input)) stack.Push((input, 0));
            }
            else order.Add(tensor);
        }
        return order;
    }
}
