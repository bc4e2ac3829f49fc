namespace FerEngine.Model.Evaluation;

/// <summary>Per-class precision, recall and F1 (0 where undefined), and how many true samples the class has.</summary>
public sealed record ClassMetrics(string Name, double Precision, double Recall, double F1, long Support);

/// <summary>
/// Counts of (true class, predicted class) for one task; rows are the truth, columns the
/// prediction. Samples without a label (-1) are not counted.
/// </summary>
public sealed class ConfusionMatrix
{
    public ConfusionMatrix(IReadOnlyList<string> classNames)
    {
        ClassNames = classNames;
        Counts = new long[classNames.Count, classNames.Count];
    }

    public IReadOnlyList<string> ClassNames { get; }
    public long[,] Counts { get; }
    public int ClassCount => ClassNames.Count;

    public long Total
    {
        get
        {
            long total = 0;
            foreach (long c in Counts) total += c;
            return total;
        }
    }

    public void Add(long truth, long predicted)
    {
        if (truth < 0) return;
        if (truth >= ClassCount || predicted < 0 || predicted >= ClassCount)
            throw new ArgumentOutOfRangeException(nameof(truth), $"class {truth} / prediction {predicted} outside 0..{ClassCount - 1}.");
        Counts[truth, predicted]++;
    }

    /// <summary>Correct / labelled; NaN when nothing was labelled.</summary>
    public double Accuracy
    {
        get
        {
            long correct = 0;
            for (int k = 0; k < ClassCount; k++) correct += Counts[k, k];
            return Total == 0 ? double.NaN : (double)correct / Total;
        }
    }

    /// <summary>
    /// Recall averaged over the classes that have labelled samples (scikit-learn's balanced_accuracy_score;
    /// RAF-DB papers' "average accuracy"): on imbalanced data such as FER2013, whose disgust class is 1.5 % of
    /// the images, it shows what plain accuracy hides. NaN when nothing was labelled.
    /// </summary>
    public double MeanClassAccuracy
    {
        get
        {
            var present = PerClass().Where(c => c.Support > 0).ToList();
            return present.Count == 0 ? double.NaN : present.Average(c => c.Recall);
        }
    }

    /// <summary>F1 averaged over the classes that occur as a label or a prediction (scikit-learn's f1_score with average="macro"). NaN when nothing was labelled.</summary>
    public double MacroF1
    {
        get
        {
            var occurring = PerClass().Where((c, k) => c.Support > 0 || Enumerable.Range(0, ClassCount).Any(j => Counts[j, k] > 0)).ToList();
            return occurring.Count == 0 ? double.NaN : occurring.Average(c => c.F1);
        }
    }

    public IReadOnlyList<ClassMetrics> PerClass()
    {
        var result = new List<ClassMetrics>();
        for (int k = 0; k < ClassCount; k++)
        {
            long truePositive = Counts[k, k], predicted = 0, actual = 0;
            for (int j = 0; j < ClassCount; j++)
            {
                predicted += Counts[j, k];
                actual += Counts[k, j];
            }
            double precision = predicted == 0 ? 0 : (double)truePositive / predicted;
            double recall = actual == 0 ? 0 : (double)truePositive / actual;
            double f1 = precision + recall == 0 ? 0 : 2 * precision * recall / (precision + recall);
            result.Add(new(ClassNames[k], precision, recall, f1, actual));
        }
        return result;
    }
}
