using FerEngine.Model.Training;

namespace FerEngine.Trainer.Training;

/// <summary>Mean loss so far in the epoch, total and per task (a task's mean over the batches where it had labels).</summary>
public sealed class RunningLosses
{
    private double _total, _batches;
    private readonly double[] _sum = new double[4], _count = new double[4];

    public void Reset()
    {
        (_total, _batches) = (0, 0);
        Array.Clear(_sum);
        Array.Clear(_count);
    }

    /// <summary>A task's loss is exactly 0 when the batch had no label for it; such batches do not count.</summary>
    public void Add(StepLosses loss)
    {
        _total += loss.Total;
        _batches++;
        double[] perTask = [loss.Emotion, loss.Gender, loss.Race, loss.Age];
        for (int t = 0; t < 4; t++)
            if (perTask[t] != 0) { _sum[t] += perTask[t]; _count[t]++; }
    }

    /// <summary>The sums behind the means, [total, emotion, gender, race, age], and their batch counts in the same order (saved with an interrupted epoch).</summary>
    public (double[] Sums, double[] Counts) Save() => ([_total, .. _sum], [_batches, .. _count]);

    /// <summary>Continues from what <see cref="Save"/> returned.</summary>
    public void Restore(double[] sums, double[] counts)
    {
        (_total, _batches) = (sums[0], counts[0]);
        sums.AsSpan(1).CopyTo(_sum);
        counts.AsSpan(1).CopyTo(_count);
    }

    public double Total => _batches == 0 ? double.NaN : _total / _batches;
    public double Mean(int task) => _count[task] == 0 ? double.NaN : _sum[task] / _count[task];

    public override string ToString()
    {
        string[] names = ["emotion", "gender", "race", "age"];
        var tasks = Enumerable.Range(0, 4).Where(t => _count[t] > 0).Select(t => $"{names[t]} {_sum[t] / _count[t]:F3}");
        return $"loss {_total / Math.Max(_batches, 1):F4} ({string.Join(", ", tasks)})";
    }
}
