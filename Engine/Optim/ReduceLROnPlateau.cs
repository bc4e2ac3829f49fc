namespace FerEngine.Optim;

/// <summary>
/// PyTorch's ReduceLROnPlateau in mode "max" (the metric is an accuracy) with its default
/// relative threshold 1e-4: after more than <see cref="Patience"/> epochs without improvement the
/// learning rate is multiplied by <see cref="Factor"/>, never going below <see cref="MinLearningRate"/>.
/// </summary>
public sealed class ReduceLROnPlateau(Optimizer optimizer, double factor = 0.1, int patience = 10,
    double minLearningRate = 0.0, double threshold = 1e-4)
{
    public double Factor { get; } = factor;
    public int Patience { get; } = patience;
    public double MinLearningRate { get; } = minLearningRate;
    public double Threshold { get; } = threshold;
    public double Best { get; set; } = double.NegativeInfinity;
    public int BadEpochs { get; set; }

    /// <summary>Call once per epoch with the validation metric. Returns true if the rate was reduced.</summary>
    public bool Step(double metric)
    {
        if (metric > Best * (1 + Threshold)) // with Best = -infinity the first metric always improves
        {
            Best = metric;
            BadEpochs = 0;
            return false;
        }
        if (++BadEpochs <= Patience) return false;
        BadEpochs = 0;
        double reduced = Math.Max(optimizer.LearningRate * Factor, MinLearningRate);
        if (optimizer.LearningRate - reduced <= 1e-8) return false; // PyTorch's eps: too small a change is skipped
        optimizer.LearningRate = reduced;
        return true;
    }
}
