using FerEngine.Model.Evaluation;
using FerEngine.Trainer.Reporting;
using FerEngine.Trainer.Training;
using StbImageSharp;

namespace FerEngine.Tests.Trainer;

public class PlotsTests
{
    private static ImageResult Decode(byte[] png) => ImageResult.FromMemory(png, ColorComponents.RedGreenBlue);

    private static bool HasManyColours(ImageResult image) =>
        Enumerable.Range(0, image.Width * image.Height).Select(i => (image.Data[3 * i], image.Data[3 * i + 1], image.Data[3 * i + 2])).Distinct().Take(20).Count() >= 20;

    [Fact]
    public void Curves_and_confusion_matrix_render_as_non_empty_pngs()
    {
        var epochs = Enumerable.Range(1, 5).Select(e => new EpochMetrics(e, 3e-4, 1, 100, 3.0 / e, 1.0 / e, 0.5 / e, 0.7 / e, 0.2 / e,
            0.2 * e / 1.1, double.NaN, 0.1 * e, 0.15 * e)).ToList();
        var matrix = new ConfusionMatrix(["angry", "happy", "sad"]);
        matrix.Add(0, 0); matrix.Add(1, 1); matrix.Add(1, 2); matrix.Add(2, 2);
        foreach (var png in new[] { Plots.LossCurves(epochs), Plots.AccuracyCurves(epochs), Plots.Confusion(matrix, "emotion") })
        {
            var image = Decode(png);
            Assert.Equal(Plots.Width, image.Width);
            Assert.Equal(Plots.Height, image.Height);
            Assert.True(HasManyColours(image), "the plot should not be a blank image");
        }
    }

    [Fact]
    public void Metrics_csv_round_trips_including_undefined_values()
    {
        var rows = new[] { new EpochMetrics(1, 3e-4, 2.5, 88.1, 3.1, 1.2, 0.4, 0.9, 0.33, 0.42, double.NaN, 0.5, 0.6) };
        var back = EpochMetrics.FromCsv(EpochMetrics.ToCsv(rows));
        Assert.Equal(rows[0].Values(), back[0].Values());
        Assert.StartsWith("epoch,lr,", EpochMetrics.ToCsv(rows));
    }
}
