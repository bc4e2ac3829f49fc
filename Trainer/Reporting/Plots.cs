using FerEngine.Model.Evaluation;
using FerEngine.Trainer.Training;
using ScottPlot;

namespace FerEngine.Trainer.Reporting;

/// <summary>The run folder's PNGs: loss curves, accuracy curves, and a confusion matrix heat map.</summary>
public static class Plots
{
    public const int Width = 900, Height = 600;

    /// <summary>Training loss per task (and the weighted total) against the epoch.</summary>
    public static byte[] LossCurves(IReadOnlyList<EpochMetrics> epochs)
    {
        var plot = new Plot();
        double[] x = epochs.Select(e => (double)e.Epoch).ToArray();
        AddLine(plot, x, epochs.Select(e => e.TrainLoss), "total (weighted)");
        AddLine(plot, x, epochs.Select(e => e.TrainEmotionLoss), "emotion");
        AddLine(plot, x, epochs.Select(e => e.TrainGenderLoss), "gender");
        AddLine(plot, x, epochs.Select(e => e.TrainRaceLoss), "race");
        AddLine(plot, x, epochs.Select(e => e.TrainAgeLoss), "age");
        plot.Title("Training loss");
        plot.XLabel("epoch");
        plot.YLabel("cross-entropy");
        plot.ShowLegend();
        return plot.GetImageBytes(Width, Height, ImageFormat.Png);
    }

    /// <summary>Validation accuracy per task against the epoch (tasks without labels are left out).</summary>
    public static byte[] AccuracyCurves(IReadOnlyList<EpochMetrics> epochs)
    {
        var plot = new Plot();
        double[] x = epochs.Select(e => (double)e.Epoch).ToArray();
        AddLine(plot, x, epochs.Select(e => e.ValidationEmotionAccuracy), "emotion");
        AddLine(plot, x, epochs.Select(e => e.ValidationGenderAccuracy), "gender");
        AddLine(plot, x, epochs.Select(e => e.ValidationRaceAccuracy), "race");
        AddLine(plot, x, epochs.Select(e => e.ValidationAgeAccuracy), "age");
        plot.Title("Validation accuracy");
        plot.XLabel("epoch");
        plot.YLabel("accuracy");
        plot.Axes.SetLimitsY(0, 1);
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

    private static void AddLine(Plot plot, double[] x, IEnumerable<double> values, string label)
    {
        double[] y = values.ToArray();
        if (y.All(double.IsNaN)) return;
        var line = plot.Add.Scatter(x, y);
        line.LegendText = label;
    }
}
