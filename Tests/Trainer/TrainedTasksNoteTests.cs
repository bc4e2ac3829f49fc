using FerEngine.Model.Network;
using FerEngine.Trainer.Commands;

namespace FerEngine.Tests.Trainer;

/// <summary>The note about heads a model never trained: printed only when there are some.</summary>
public sealed class TrainedTasksNoteTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("fer-trained-tasks-").FullName;
    public void Dispose() => Directory.Delete(_folder, recursive: true);

    // a model trained on all four tasks (or whose file does not say) gets no "not trained for" note;
    // one trained on emotion only gets one naming the three others.
    [Fact]
    public void Trained_tasks_says_nothing_when_every_head_was_trained()
    {
        string all = Path.Combine(_folder, "all.safetensors"), emotion = Path.Combine(_folder, "emotion.safetensors");
        var net = new FerNet(new FerNetConfig(Width: 0.125), Device.Cpu);
        ModelFile.Save(all, net);
        ModelFile.Save(emotion, net, new Dictionary<string, string> { [ModelFile.TrainedTasksKey] = "emotion" });
        var silence = new StringWriter();
        Assert.Equal(4, CommonOptions.TrainedTasks(all, "predict", "shown", silence).Count);
        Assert.Equal("", silence.ToString());
        var note = new StringWriter();
        Assert.Equal([FaceTask.Emotion], CommonOptions.TrainedTasks(emotion, "predict", "shown", note));
        Assert.Contains("not trained for gender, race, age (no labels, or a loss weight of 0); those heads are not shown.", note.ToString());
    }
}
