using System.Text.Json;

namespace FerEngine.Trainer.Training;

/// <summary>
/// Where a run stands, saved beside last.safetensors so that --resume continues exactly: the
/// position in the data (epoch, batch within it, global step: the shuffle, augmentation and
/// dropout streams are all functions of these and the seed), the optimiser's step and learning
/// rate, the scheduler and early-stopping counters, and the options the run was started with.
/// </summary>
public sealed record TrainingState
{
    public int Epoch { get; init; }                 // epochs fully completed
    public int BatchInEpoch { get; init; }          // batches of the current epoch already trained (Ctrl-C mid-epoch)
    public long GlobalStep { get; init; }
    public double LearningRate { get; init; }
    public int OptimizerStep { get; init; }
    public double SchedulerBest { get; init; } = double.NegativeInfinity;
    public int SchedulerBadEpochs { get; init; }
    public double EarlyStoppingBest { get; init; } = double.NegativeInfinity;
    public int EarlyStoppingBestEpoch { get; init; } = -1;
    public int EarlyStoppingEpochsWithoutImprovement { get; init; }
    // The interrupted epoch so far (RunningLosses.Save, images, seconds), so that after --resume its
    // metrics row covers the whole epoch, not only the batches after the resume.
    public double[]? EpochLossSums { get; init; }
    public double[]? EpochLossCounts { get; init; }
    public int EpochImages { get; init; }
    public double EpochSeconds { get; init; }
    // The data's split sizes when the run started: --resume refuses data of other sizes (null in older states).
    public int? TrainImages { get; init; }
    public int? ValidationImages { get; init; }
    public required TrainOptions Options { get; init; }

    private static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = false,
        NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    public string ToJson() => JsonSerializer.Serialize(this, Json);
    public static TrainingState FromJson(string json) =>
        JsonSerializer.Deserialize<TrainingState>(json, Json) ?? throw new InvalidDataException("empty training state");
}
