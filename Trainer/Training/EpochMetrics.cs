using System.Globalization;
using System.Text;

namespace FerEngine.Trainer.Training;

/// <summary>
/// One epoch's numbers: its seconds (validation and saving included), the images per second of its training steps,
/// mean training losses per task and validation accuracies (NaN = no labels).
/// </summary>
public sealed record EpochMetrics(
    int Epoch, double LearningRate, double Seconds, double ImagesPerSecond,
    double TrainLoss, double TrainEmotionLoss, double TrainGenderLoss, double TrainRaceLoss, double TrainAgeLoss,
    double ValidationEmotionAccuracy, double ValidationGenderAccuracy, double ValidationRaceAccuracy, double ValidationAgeAccuracy)
{
    public static readonly string[] Columns =
    [
        "epoch", "lr", "seconds", "images_per_second",
        "train_loss", "train_loss_emotion", "train_loss_gender", "train_loss_race", "train_loss_age",
        "val_acc_emotion", "val_acc_gender", "val_acc_race", "val_acc_age",
    ];

    public double[] Values() =>
    [
        Epoch, LearningRate, Seconds, ImagesPerSecond, TrainLoss, TrainEmotionLoss, TrainGenderLoss, TrainRaceLoss, TrainAgeLoss,
        ValidationEmotionAccuracy, ValidationGenderAccuracy, ValidationRaceAccuracy, ValidationAgeAccuracy,
    ];

    /// <summary>metrics.csv: a header line then one line per epoch (invariant culture, "nan" for undefined).</summary>
    public static string ToCsv(IEnumerable<EpochMetrics> epochs)
    {
        var text = new StringBuilder(string.Join(',', Columns)).Append('\n');
        foreach (var e in epochs)
            text.Append(string.Join(',', e.Values().Select(v => double.IsNaN(v) ? "nan" : v.ToString("R", CultureInfo.InvariantCulture)))).Append('\n');
        return text.ToString();
    }

    public static List<EpochMetrics> FromCsv(string csv)
    {
        var result = new List<EpochMetrics>();
        foreach (var line in csv.Split('\n', StringSplitOptions.RemoveEmptyEntries).Skip(1))
        {
            var v = line.Split(',').Select(s => s == "nan" ? double.NaN : double.Parse(s, CultureInfo.InvariantCulture)).ToArray();
            if (v.Length != Columns.Length) throw new FormatException($"metrics.csv: a line has {v.Length} values, expected {Columns.Length}.");
            result.Add(new((int)v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10], v[11], v[12]));
        }
        return result;
    }
}
