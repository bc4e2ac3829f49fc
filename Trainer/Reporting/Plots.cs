using FerEngine.Model.Evaluation;
using FerEngine.Trainer.Training;
using ScottPlot;

namespace FerEngine.Trainer.Reporting;

/// <summary>The run folder's PNGs: loss curves, accuracy curves, and a confusion matrix heat map.</summary>
public static class Plots
{
    public const int Width = 900, Height = 600;

    /// <summary>Training loss per task (and the weighted total) against the epoch.</summary>
    public static byte[] LossCurves(IReadOnlyList<EpochMetrics> epochs) => Curves(epochs, "Training loss", "cross-entropy", yMax: null,
        ("total (weighted)", e => e.TrainLoss), ("emotion", e => e.TrainEmotionLoss), ("gender", e => e.TrainGenderLoss),
        ("race", e => e.TrainRaceLoss), ("age", e => e.TrainAgeLoss));

    /// <summary>Validation accuracy per task against the epoch (tasks without labels are left out).</summary>
    public static byte[] AccuracyCurves(IReadOnlyList<EpochMetrics> epochs) => Curves(epochs, "Validation accuracy", "accuracy", yMax: 1,
        ("emotion", e => e.ValidationEmotionAccuracy), ("gender", e => e.ValidationGenderAccuracy),
        ("race", e => e.ValidationRaceAccuracy), ("age", e => e.ValidationAgeAccuracy));

    /// <summary>One line per series against the epoch; a series that is undefined throughout is left out.</summary>
    private static byte[] Curves(IReadOnlyList<EpochMetrics> epochs, string title, string yLabel, double? yMax,
        params (string Label, Func<EpochMetrics, double> Value)[] series)
    {
        var plot = new Plot();
        double[] x = epochs.Select(e => (double)e.Epoch).ToArray();
        foreach (var (label, value) in series)
        {
            double[] y = epochs.Select(value).ToArray();
            if (y.All(double.IsNaN)) continue;
            plot.Add.Scatter(x, y).LegendText = label;
        }
        plot.Title(title);
        plot.XLabel("epoch");
        plot.YLabel(yLabel);
        if (yMax is double top) plot.Axes.SetLimitsY(0, top);
        plot.ShowLegend();
        return plot.GetImageBytes(Width, Height, ImageFormat.Png);
    }

    /// <summary>Rows = true class, columns = predicted class, colour = row-normalised share, counts written in.</summary>
    public static byte[] Confusion(ConfusionMatrix matrix, string title)
    {
        int k = matrix.ClassCount;
        var share = new double[k, k];
        for (int i = 0; i < k; i++)
        {
            long row = 0;
            for (int j = 0; j < k; j++) row += matrix.Counts[i, j];
            for (int j = 0; j < k; j++) share[i, j] = row == 0 ? 0 : (double)matrix.Counts[i, j] / row;
        }
        var plot = new Plot();
        var heatmap = plot.Add.Heatmap(share);
        heatmap.Colormap = new ScottPlot.Colormaps.Viridis();
        heatmap.FlipVertically = true;
        for (int i = 0; i < k; i++)
            for (int j = 0; j < k; j++)
            {
                var label = plot.Add.Text(matrix.Counts[i, j].ToString(), j, i);
                label.LabelFontColor = share[i, j] > 0.5 ? Colors.Black : Colors.White;
                label.LabelAlignment = Alignment.MiddleCenter;
            }
        double[] ticks = Enumerable.Range(0, k).Select(i => (double)i).ToArray();
        string[] names = matrix.ClassNames.ToArray();
        plot.Axes.Bottom.SetTicks(ticks, names);
        plot.Axes.Left.SetTicks(ticks, names);
        plot.Axes.SetLimits(-0.5, k - 0.5, k - 0.5, -0.5); // first class at the top
        plot.XLabel("predicted");
        plot.YLabel("true");
        plot.Title(title);
        plot.Add.ColorBar(heatmap);
        return plot.GetImageBytes(Width, Height, ImageFormat.Png);
    }
}
