using System.Diagnostics;
using FerEngine.Model.Training;
using FerEngine.Trainer.Training;
using Spectre.Console;

namespace FerEngine.Trainer.Reporting;

/// <summary>What the training loop tells the person watching it.</summary>
public interface IProgressReporter
{
    void Info(string message);
    void BeginEpoch(int epoch, int epochs, int batches);
    void Step(StepLosses loss, int images);
    void EndEpoch(EpochMetrics metrics, bool improved);
}

/// <summary>
/// Plain log lines, for a stdout that is not a terminal (a terminal gets Spectre.Console's progress bar): one line every
/// few seconds with img/s, ETA and running losses, and one line per epoch with validation accuracy.
/// </summary>
public sealed class ConsoleProgress(TextWriter output, TimeSpan interval) : IProgressReporter
{
    private readonly Stopwatch _clock = new();
    private TimeSpan _lastPrint;
    private int _epoch, _epochs, _batches, _done, _images;
    private readonly RunningLosses _losses = new();

    public static IProgressReporter ForConsole() =>
        Console.IsOutputRedirected ? new ConsoleProgress(Console.Out, TimeSpan.FromSeconds(10)) : new SpectreProgress();

    public void Info(string message) => output.WriteLine(message);

    public void BeginEpoch(int epoch, int epochs, int batches)
    {
        (_epoch, _epochs, _batches, _done, _images) = (epoch, epochs, batches, 0, 0);
        _losses.Reset();
        _clock.Restart();
        _lastPrint = TimeSpan.Zero;
    }

    public void Step(StepLosses loss, int images)
    {
        _done++;
        _images += images;
        _losses.Add(loss);
        if (_clock.Elapsed - _lastPrint < interval && _done < _batches) return;
        _lastPrint = _clock.Elapsed;
        double rate = _images / Math.Max(_clock.Elapsed.TotalSeconds, 1e-9);
        var eta = TimeSpan.FromSeconds((_batches - _done) * _clock.Elapsed.TotalSeconds / _done);
        output.WriteLine($"epoch {_epoch}/{_epochs} batch {_done}/{_batches}  {rate:F1} img/s  ETA {eta:mm\\:ss}  {_losses}");
    }

    public void EndEpoch(EpochMetrics m, bool improved) => output.WriteLine(EpochLine(m, improved));

    internal static string EpochLine(EpochMetrics m, bool improved) =>
        $"epoch {m.Epoch} done in {m.Seconds:F1} s (training {m.ImagesPerSecond:F1} img/s): train loss {m.TrainLoss:F4}; " +
        $"validation accuracy emotion {Pct(m.ValidationEmotionAccuracy)}, gender {Pct(m.ValidationGenderAccuracy)}, " +
        $"race {Pct(m.ValidationRaceAccuracy)}, age {Pct(m.ValidationAgeAccuracy)}; lr {m.LearningRate:G3}{(improved ? "  * best so far, saved" : "")}";

    private static string Pct(double accuracy) => double.IsNaN(accuracy) ? "n/a" : $"{accuracy:P1}";
}

/// <summary>A live Spectre.Console progress bar per epoch (interactive terminals).</summary>
public sealed class SpectreProgress : IProgressReporter
{
    private readonly Stopwatch _clock = new();
    private int _epoch, _epochs, _batches, _done, _images;
    private readonly RunningLosses _losses = new();

    public void Info(string message) => AnsiConsole.MarkupLine(Markup.Escape(message));

    public void BeginEpoch(int epoch, int epochs, int batches)
    {
        (_epoch, _epochs, _batches, _done, _images) = (epoch, epochs, batches, 0, 0);
        _losses.Reset();
        _clock.Restart();
    }

    public void Step(StepLosses loss, int images)
    {
        _done++;
        _images += images;
        _losses.Add(loss);
        double rate = _images / Math.Max(_clock.Elapsed.TotalSeconds, 1e-9);
        int width = 30, filled = width * _done / Math.Max(_batches, 1);
        var eta = TimeSpan.FromSeconds((_batches - _done) * _clock.Elapsed.TotalSeconds / _done);
        // One redrawn line: bar, batch count, img/s, ETA, running loss.
        AnsiConsole.Markup($"\r[green]{new string('#', filled)}[/]{new string('.', width - filled)} epoch {_epoch}/{_epochs} " +
                           $"{_done}/{_batches} {rate,7:F1} img/s ETA {eta:mm\\:ss} {Markup.Escape(_losses.ToString())}   ");
    }

    public void EndEpoch(EpochMetrics m, bool improved)
    {
        AnsiConsole.WriteLine();
        AnsiConsole.MarkupLine(Markup.Escape(ConsoleProgress.EpochLine(m, improved)));
    }
}
