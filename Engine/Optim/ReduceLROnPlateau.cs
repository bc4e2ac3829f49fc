namespace FerEngine.Optim;

/// <summary>
/// Keras's ReduceLROnPlateau, which the paper's reference code uses (monitoring the validation
/// emotion accuracy, so higher is better): an epoch improves when its metric beats the best by more
/// than <see cref="MinDelta"/> (Keras's default 1e-4); after <see cref="Patience"/> epochs in a row
/// without improvement the learning rate is multiplied by <see cref="Factor"/>, never going below
/// <see cref="MinLearningRate"/>, and the count starts again. (PyTorch's scheduler of the same name
/// waits one epoch longer: it cuts after more than Patience bad epochs.)
/// </summary>
public sealed class ReduceLROnPlateau(Optimizer optimizer, double factor = 0.1, int patience = 10,
    double minLearningRate = 0.0, double minDelta = 1e-4)
{
    public double Factor { get; } = factor;
    public int Patience { get; } = patience;
    public double MinLearningRate { get; } = minLearningRate;
    public double MinDelta { get; } = minDelta;
    public double Best { get; set; } = double.NegativeInfinity;
    public int BadEpochs { get; set; }

    /// <summary>Call once per epoch with the validation metric. Returns true if the rate was reduced.</summary>
    public bool Step(double metric)
    {
        if (metric > Best + MinDelta) // with Best = -infinity the first metric always improves
        {
            Best = metric;
            BadEpochs = 0;
            return false;
        }
        if (++BadEpochs < Patience) return false;
        BadEpochs = 0;
        if (optimizer.LearningRate <= MinLearningRate) return false;   // already at the minimum
        optimizer.LearningRate = Math.Max(optimizer.LearningRate * Factor, MinLearningRate);
        return true;
    }
}
