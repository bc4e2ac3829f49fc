using FerEngine.Model.Network;
using Microsoft.ML.OnnxRuntime;
using static FerEngine.Tests.Trainer.FerCli;

namespace FerEngine.Tests.Trainer;

/// <summary>`fer export`: the ONNX file carries the model file's description and refuses to overwrite the model.</summary>
[Collection(CpuThreadsCollection.Name)]
public sealed class ExportCommandTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("fer-export-").FullName;
    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Fact]
    public void Export_writes_an_onnx_file_with_the_models_description()
    {
        string model = Path.Combine(_folder, "model.safetensors"), onnx = Path.Combine(_folder, "model.onnx");
        ModelFile.Save(model, new FerNet(new FerNetConfig(Width: 0.125, Channels: 3), Device.Cpu), new Dictionary<string, string> { [ModelFile.TrainedTasksKey] = "emotion,age" });

        var exported = Fer("export", "--model", model, "--out", onnx);
        Assert.True(exported.Exit == 0, exported.Error);
        Assert.Contains("input  \"image\" [N, 3, 48, 48] float32: pixels / 255, R, G, B", exported.Output);
        Assert.Empty(Directory.GetFiles(_folder, ".*"));   // no temporary left beside it

        var overModel = Fer("export", "--model", model, "--out", model);
        Assert.Equal(2, overModel.Exit);
        Assert.Contains("is the --model file", overModel.Error);
        Assert.Equal(2, Fer("export", "--model", model, "--out", _folder).Exit);                                  // a folder
        Assert.Equal(2, Fer("export", "--model", Path.Combine(_folder, "none.safetensors"), "--out", onnx).Exit);   // no such model

        SessionOptions options;   // what ONNX Runtime reads from the file
        try { options = new SessionOptions(); }
        catch (Exception e) when (e is DllNotFoundException or TypeInitializationException)
        {
            Assert.Skip($"ONNX Runtime's native library does not load here ({e.GetType().Name}); the GPU bundle leaves it out.");
            return;
        }
        using (options)
        using (var session = new InferenceSession(onnx, options))
        {
            var metadata = session.ModelMetadata.CustomMetadataMap;
            Assert.Equal("emotion,age", metadata[ModelFile.TrainedTasksKey]);
            Assert.Contains("\"emotion\":[\"angry\"", metadata[ModelFile.LabelsKey]);
            Assert.Equal(new FerNetConfig(Width: 0.125, Channels: 3), FerNetConfig.FromJson(metadata[ModelFile.ConfigKey]));
            Assert.Equal(["image"], session.InputMetadata.Keys);
            Assert.Equal([-1, 3, 48, 48], session.InputMetadata["image"].Dimensions);
            Assert.Equal(["emotion", "gender", "race", "age"], session.OutputMetadata.Keys);
        }
    }
}
