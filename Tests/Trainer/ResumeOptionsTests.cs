using FerEngine.Trainer.Training;

namespace FerEngine.Tests.Trainer;

/// <summary>How `fer train --resume` merges this command line with the options the run was started with.</summary>
public sealed class ResumeOptionsTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("fer-resume-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private static TrainOptions Merge(TrainOptions saved, TrainOptions given, params string[] givenNames) =>
        ResumeOptions.Merge(saved, given, givenNames.ToHashSet(), warn: _ => { });

    [Fact]
    public void Naming_the_format_the_run_detected_is_no_change_and_another_format_is_refused()
    {
        string csv = Path.Combine(_folder, "fer2013.csv");   // detected from its name: the content is not read
        File.WriteAllText(csv, "emotion,pixels,Usage\n");
        var saved = new TrainOptions { Data = [csv] };

        var resumed = Merge(saved, new TrainOptions { Format = "FER2013" }, "--format");
        Assert.Null(resumed.Format);   // still detected, as the run was
        Assert.Equal([csv], resumed.Data);

        var refused = Assert.Throws<UsageException>(() => Merge(saved, new TrainOptions { Format = "rafdb" }, "--format"));
        Assert.Contains("--format rafdb (the run has its format detected from the path)", refused.Message);
    }

    [Fact]
    public void A_named_format_is_checked_against_the_moved_data_when_data_is_given_too()
    {
        string before = Path.Combine(_folder, "before.csv"), moved = Path.Combine(_folder, "faces");
        File.WriteAllText(before, "emotion,pixels,Usage\n");
        Directory.CreateDirectory(Path.Combine(moved, "happy"));   // an image folder now, not a FER2013 .csv
        var saved = new TrainOptions { Data = [before] };
        var refused = Assert.Throws<UsageException>(() => Merge(saved, new TrainOptions { Data = [moved], Format = "fer2013" }, "--data", "--format"));
        Assert.Contains("--format fer2013", refused.Message);
        Assert.Equal([moved], Merge(saved, new TrainOptions { Data = [moved], Format = "folder" }, "--data", "--format").Data);
    }
}
