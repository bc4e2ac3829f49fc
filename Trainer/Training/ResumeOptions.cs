using FerEngine.Model.Data;

namespace FerEngine.Trainer.Training;

/// <summary>
/// What `fer train --resume` runs with: the options the run was started with (saved in its state),
/// so that it continues on the same data, network, batches and recipe, with only the options that
/// say how long and on what to run taken from this command line: --epochs (to train further),
/// --device, --threads, --no-graph and --strict-float32. Giving a run-defining option again with
/// another value is a usage error that names both values: a resumed run never silently becomes a
/// different one. The one exception is --data, for data that has moved: it is taken, with a warning
/// that the batches match only if the new path holds the same images. A --format that names the
/// format the run detected from its paths is the run's own.
/// </summary>
public static class ResumeOptions
{
    /// <param name="saved">the options saved when the run started</param>
    /// <param name="given">this command line's options (defaults where not given)</param>
    /// <param name="givenNames">the options this command line gave explicitly ("--width", ...)</param>
    /// <param name="warn">where the --data warning goes</param>
    public static TrainOptions Merge(TrainOptions saved, TrainOptions given, IReadOnlySet<string> givenNames, Action<string> warn)
    {
        var conflicts = new List<string>();
        void Same<T>(string option, T savedValue, T givenValue)
        {
            if (givenNames.Contains(option) && !EqualityComparer<T>.Default.Equals(savedValue, givenValue))
                conflicts.Add($"{option} {givenValue} (the run has {savedValue})");
        }
        bool moved = givenNames.Contains("--data") && Describe(saved.Data) != Describe(given.Data);
        if (moved && (saved.Data.Count == 0 || given.Data.Count != saved.Data.Count))
            conflicts.Add($"--data {Describe(given.Data)} (the run has {Describe(saved.Data)})");
        else if (moved)
            warn($"--resume with --data {Describe(given.Data)} where the run had {Describe(saved.Data)}: the batches continue exactly only if it holds the same images.");
        var data = moved ? given.Data : saved.Data;
        if (givenNames.Contains("--format") && saved.Format?.ToLowerInvariant() != given.Format?.ToLowerInvariant()
            && !(saved.Format is null && saved.Data.Count == 0 && given.Format?.ToLowerInvariant() == "synthetic")
            && !(saved.Format is null && saved.Data.Count > 0 && DetectedAs(data, given.Format?.ToLowerInvariant())))
            conflicts.Add($"--format {given.Format} (the run has {saved.Format ?? (saved.Data.Count == 0 ? "synthetic" : "its format detected from the path")})");
        Same("--width", saved.Width, given.Width);
        Same("--channels", saved.Channels, given.Channels);
        Same("--image-size", saved.ImageSize, given.ImageSize);
        Same("--batch", saved.Batch, given.Batch);
        Same("--lr", saved.LearningRate, given.LearningRate);
        Same("--task-weights", saved.TaskWeights, given.TaskWeights);
        Same("--augment", saved.Augment, given.Augment);
        Same("--seed", saved.Seed, given.Seed);
        Same("--skip-bad", saved.SkipBad, given.SkipBad);
        Same("--synthetic-train", saved.SyntheticTrain ?? TrainOptions.DefaultSyntheticTrain, given.SyntheticTrain ?? TrainOptions.DefaultSyntheticTrain);
        Same("--synthetic-validation", saved.SyntheticValidation ?? TrainOptions.DefaultSyntheticValidation, given.SyntheticValidation ?? TrainOptions.DefaultSyntheticValidation);
        Same("--patience", saved.Patience, given.Patience);
        Same("--init", saved.Init, given.Init);
        if (conflicts.Count > 0)
            throw new UsageException($"--resume continues the run in {given.Out} as it was started, but {string.Join("; ", conflicts)}. " +
                "Leave those options out to resume, or start a new run with another --out.");
        return saved with
        {
            Data = data,
            Epochs = givenNames.Contains("--epochs") ? given.Epochs : saved.Epochs,
            Device = given.Device,
            Threads = given.Threads,
            NoGraph = given.NoGraph,
            StrictFloat32 = given.StrictFloat32,
            Out = given.Out,
        };
    }

    /// <summary>
    /// Whether every path without its own format (FORMAT=PATH) is detected as <paramref name="format"/>: naming
    /// the format the run detected is no change.
    /// </summary>
    private static bool DetectedAs(IReadOnlyList<string> paths, string? format)
    {
        try { return paths.Select(DataSource.Parse).All(source => source.Format is not null || DatasetLoader.Detect(source.Path) == format); }
        catch (Exception e) when (e is IOException or ArgumentException or InvalidDataException or UnauthorizedAccessException) { return false; }
    }

    /// <summary>Dataset paths as one comparable string: full paths (a run may resume from another folder), or "synthetic".</summary>
    private static string Describe(IReadOnlyList<string> data) =>
        data.Count == 0 ? "synthetic" : string.Join(" ", data.Select(text => DataSource.Parse(text).WithFullPath()));
}
