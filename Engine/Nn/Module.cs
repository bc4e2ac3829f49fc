namespace FerEngine.Nn;

/// <summary>
/// A layer or a network: named parameters (trainable leaves), named buffers (state saved in
/// checkpoints but not trained, like batch-norm running statistics), child modules, and a
/// training flag. Names follow PyTorch ("conv1.weight", "bn1.running_mean"), so checkpoints load
/// into a PyTorch module with the same attribute names.
/// </summary>
public abstract class Module
{
    private readonly List<(string Name, Tensor Tensor)> _parameters = [];
    private readonly List<(string Name, Tensor Tensor)> _buffers = [];
    private readonly List<(string Name, Module Module)> _children = [];

    /// <summary>True in training mode (batch statistics, dropout on); see <see cref="Train"/> / <see cref="Eval"/>.</summary>
    public bool IsTraining { get; private set; } = true;

    public abstract Tensor Forward(Tensor x);

    public Module Train(bool training = true)
    {
        IsTraining = training;
        foreach (var (_, child) in _children) child.Train(training);
        return this;
    }

    public Module Eval() => Train(false);

    protected Tensor RegisterParameter(string name, Tensor tensor)
    {
        tensor.RequiresGrad = true;
        _parameters.Add((name, tensor));
        return tensor;
    }

    protected Tensor RegisterBuffer(string name, Tensor tensor)
    {
        _buffers.Add((name, tensor));
        return tensor;
    }

    protected T RegisterModule<T>(string name, T module) where T : Module
    {
        _children.Add((name, module));
        return module;
    }

    /// <summary>Trainable tensors, depth first, with dotted names ("conv1.weight").</summary>
    public IEnumerable<(string Name, Tensor Tensor)> NamedParameters() => Collect(m => m._parameters, "");

    /// <summary>Non-trainable state, depth first ("bn1.running_mean").</summary>
    public IEnumerable<(string Name, Tensor Tensor)> NamedBuffers() => Collect(m => m._buffers, "");

    /// <summary>Everything a checkpoint holds: parameters then buffers.</summary>
    public IEnumerable<(string Name, Tensor Tensor)> StateDict() => NamedParameters().Concat(NamedBuffers());

    public IEnumerable<Tensor> Parameters() => NamedParameters().Select(p => p.Tensor);

    public IEnumerable<(string Name, Module Module)> NamedChildren() => _children;

    /// <summary>Every module in the tree, this one first.</summary>
    public IEnumerable<Module> Modules()
    {
        yield return this;
        foreach (var (_, child) in _children)
            foreach (var m in child.Modules()) yield return m;
    }

    private IEnumerable<(string, Tensor)> Collect(Func<Module, List<(string, Tensor)>> select, string prefix)
    {
        foreach (var (name, tensor) in select(this)) yield return (prefix + name, tensor);
        foreach (var (childName, child) in _children)
            foreach (var item in child.Collect(select, prefix + childName + ".")) yield return item;
    }

    /// <summary>
    /// Copies values into this module's tensors by name (shapes must match). Every name of the
    /// module must be present; names the module does not have are an error too.
    /// </summary>
    public void LoadStateDict(IReadOnlyDictionary<string, Tensor> state)
    {
        var own = StateDict().ToList();
        var missing = own.Where(p => !state.ContainsKey(p.Name)).Select(p => p.Name).ToList();
        var unexpected = state.Keys.Except(own.Select(p => p.Name)).ToList();
        var wrongShape = own.Where(p => state.TryGetValue(p.Name, out var t) && t.Shape != p.Tensor.Shape)
            .Select(p => $"{p.Name} (expected {p.Tensor.Shape}, got {state[p.Name].Shape})").ToList();
        if (missing.Count + unexpected.Count + wrongShape.Count > 0)
            throw new ArgumentException("The state does not fit this model:" +
                (missing.Count > 0 ? $" missing {string.Join(", ", missing)};" : "") +
                (unexpected.Count > 0 ? $" unexpected {string.Join(", ", unexpected)};" : "") +
                (wrongShape.Count > 0 ? $" wrong shape {string.Join(", ", wrongShape)};" : ""));
        foreach (var (name, tensor) in own)
        {
            var source = state[name];
            if (source.DType != tensor.DType || source.Device != tensor.Device)
                throw new ArgumentException($"{name}: got {source.DType} on {source.Device}, the model holds {tensor.DType} on {tensor.Device}.");
            tensor.Backend.Copy(source, tensor);
        }
    }

    /// <summary>Clears every parameter's accumulated gradient.</summary>
    public void ZeroGrad()
    {
        foreach (var p in Parameters()) p.Grad = null;
    }
}
