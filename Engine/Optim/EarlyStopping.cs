using FerEngine.Nn;

namespace FerEngine.Optim;

/// <summary>
/// Stops training after <see cref="Patience"/> epochs without a better validation metric (higher
/// is better) and keeps a copy of the best weights (parameters and buffers) to restore.
/// </summary>
public sealed class EarlyStopping(int patience = 10)
{
    private Dictionary<string, Tensor>? _bestState;

    public int Patience { get; } = patience;
    public double Best { get; private set; } = double.NegativeInfinity;
    public int BestEpoch { get; private set; } = -1;
    public int EpochsWithoutImprovement { get; private set; }
    public bool ShouldStop => EpochsWithoutImprovement >= Patience;

    /// <summary>Records the epoch's metric; returns true when it is a new best (and snapshots the model).</summary>
    public bool Observe(int epoch, double metric, Module model)
    {
        if (metric > Best)
        {
            Best = metric;
            BestEpoch = epoch;
            EpochsWithoutImprovement = 0;
            _bestState = model.StateDict().ToDictionary(p => p.Name, p => p.Tensor.Clone());
            return true;
        }
        EpochsWithoutImprovement++;
        return false;
    }

    /// <summary>Copies the best weights back into the model (no-op if nothing was observed).</summary>
    public void RestoreBest(Module model)
    {
        if (_bestState is not null) model.LoadStateDict(_bestState);
    }

    /// <summary>Restores the counters from a saved training state (the weights come from the checkpoint).</summary>
    public void Restore(double best, int bestEpoch, int epochsWithoutImprovement, IReadOnlyDictionary<string, Tensor>? bestState)
    {
        Best = best;
        BestEpoch = bestEpoch;
        EpochsWithoutImprovement = epochsWithoutImprovement;
        _bestState = bestState?.ToDictionary(kv => kv.Key, kv => kv.Value.Clone());
    }
}
