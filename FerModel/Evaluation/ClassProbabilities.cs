namespace FerEngine.Model.Evaluation;

/// <summary>A head's class probabilities: the softmax of its logits, taken in float64 after subtracting the largest.</summary>
public static class ClassProbabilities
{
    /// <summary>logits [classes] -> probabilities [classes], summing to 1.</summary>
    public static double[] Of(ReadOnlySpan<double> logits)
    {
        double max = double.NegativeInfinity;
        foreach (double v in logits) max = Math.Max(max, v);
        var p = new double[logits.Length];
        double sum = 0;
        for (int k = 0; k < logits.Length; k++) sum += p[k] = Math.Exp(logits[k] - max);
        for (int k = 0; k < logits.Length; k++) p[k] /= sum;
        return p;
    }
}
