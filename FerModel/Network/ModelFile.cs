using System.Text.Json;
using FerEngine.Checkpoint;
using FerEngine.Model.Data;

namespace FerEngine.Model.Network;

/// <summary>
/// model.safetensors: the network's parameters and buffers with PyTorch's names and layouts,
/// and in __metadata__ what is needed to rebuild it: architecture, configuration (JSON) and the
/// class names of every head. A PyTorch user loads it with safetensors.torch.load_file into
/// Benchmarks/Peers/fernet.py's FerNet.
/// </summary>
public static class ModelFile
{
    public const string ArchitectureKey = "architecture", ConfigKey = "config", LabelsKey = "labels", FormatKey = "format";

    /// <summary>The tasks the training data had labels for ("emotion,gender"); the other heads never learned anything.</summary>
    public const string TrainedTasksKey = "trained_tasks";

    /// <summary>The seed that drew the validation split where the data has none (`fer eval` draws the same).</summary>
    public const string SplitSeedKey = "split_seed";

    /// <summary>The model file a fine-tuned run started from (`fer train --init`).</summary>
    public const string InitKey = "init";

    /// <summary>The seed a model file says its validation split was drawn with: 0 for a file that does not say.</summary>
    public static ulong SplitSeed(string path) =>
        SafetensorsFile.ReadMetadata(path).TryGetValue(SplitSeedKey, out var text) && ulong.TryParse(text, out ulong seed) ? seed : 0;

    public static string TrainedTasksValue(IEnumerable<FaceTask> tasks) => string.Join(',', tasks.Select(t => t.ToString().ToLowerInvariant()));

    /// <summary>The tasks a model file says it was trained on: all four for a file that does not say.</summary>
    public static IReadOnlyList<FaceTask> TrainedTasks(string path)
    {
        if (!SafetensorsFile.ReadMetadata(path).TryGetValue(TrainedTasksKey, out var names)) return Enum.GetValues<FaceTask>();
        return Enum.GetValues<FaceTask>().Where(t => names.Split(',').Contains(t.ToString().ToLowerInvariant())).ToArray();
    }

    public static void Save(string path, FerNet model, IReadOnlyDictionary<string, string>? extraMetadata = null)
    {
        var metadata = new Dictionary<string, string>
        {
            [FormatKey] = "ferengine-model",
            [ArchitectureKey] = FerNetConfig.Architecture,
            [ConfigKey] = model.Config.ToJson(),
            [LabelsKey] = JsonSerializer.Serialize(Enum.GetValues<FaceTask>().ToDictionary(t => t.ToString().ToLowerInvariant(), Labels.ClassNames)),
        };
        foreach (var (key, value) in extraMetadata ?? new Dictionary<string, string>()) metadata[key] = value;
        SafetensorsFile.Save(path, model.StateDict(), metadata);
    }

    /// <summary>Rebuilds the network described by the file and loads its weights (float32).</summary>
    public static FerNet Load(string path, Device device)
    {
        var content = SafetensorsFile.Load(path, device);
        var model = new FerNet(Config(path, content.Metadata), device);
        content.RequireNames(model.StateDict().Select(p => (p.Name, p.Tensor.Shape)));
        RequireFinite(path, content.Tensors);
        model.LoadStateDict(content.Tensors.Where(t => !t.Key.StartsWith("__")).ToDictionary(t => t.Key, t => t.Value));
        return model;
    }

    /// <summary>The network a model file describes (width, channels, image size), read from its header alone.</summary>
    public static FerNetConfig ReadConfig(string path) => Config(path, SafetensorsFile.ReadMetadata(path));

    private static FerNetConfig Config(string path, IReadOnlyDictionary<string, string> metadata)
    {
        if (!metadata.TryGetValue(ConfigKey, out var configJson) || metadata.GetValueOrDefault(ArchitectureKey) != FerNetConfig.Architecture)
            throw new InvalidDataException(
                $"{path}: not a FerEngine model file (its __metadata__ lacks \"{ArchitectureKey}\": \"{FerNetConfig.Architecture}\" and \"{ConfigKey}\"). Pass the model.safetensors that `fer train` wrote.");
        try
        {
            var config = FerNetConfig.FromJson(configJson);
            config.Validate();
            return config;
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or ArgumentException)
        {
            throw new InvalidDataException($"{path}: its \"{ConfigKey}\" metadata does not describe a network ({e.Message}). Pass the model.safetensors that `fer train` wrote.");
        }
    }

    /// <summary>Refuses weights with a NaN or an infinity: nothing computed from them means anything.</summary>
    public static void RequireFinite(string path, IReadOnlyDictionary<string, Tensor> tensors)
    {
        foreach (var (name, tensor) in tensors)
            if (tensor.DType == DType.Float32 && !tensor.ToArray<float>().All(float.IsFinite))
                throw new InvalidDataException($"{path}: tensor {name} holds NaN or infinite values (were the weights saved after training diverged?). Use another model file or run.");
    }
}
