using FerEngine.Model.Network;

namespace FerEngine.Trainer.Training;

/// <summary>
/// `fer train --init MODEL`: a new run that starts from a trained model's weights instead of random
/// ones, for instance a network trained on FER2013 and UTKFace fine-tuned on RAF-DB. The weights
/// (batch norm's running statistics too) fix the network: its width, channels and image size are the
/// run's, and a command line that asks for another is refused. Everything else starts afresh: Adam's
/// moments, the learning-rate schedule, early stopping and the epoch count.
/// </summary>
public static class FineTuning
{
    /// <summary>The options with the network of <see cref="TrainOptions.Init"/>'s model; a given --width, --channels or --image-size must be that network's.</summary>
    /// <param name="givenNames">the options the command line gave explicitly ("--width", ...)</param>
    public static TrainOptions TakeNetwork(TrainOptions options, IReadOnlySet<string> givenNames)
    {
        if (options.Init is not { } init) return options;
        Commands.CommonOptions.RequireModelFile("--init", init);
        var network = ModelFile.ReadConfig(init);
        var conflicts = new List<string>();
        void Same<T>(string option, T model, T given)
        {
            if (givenNames.Contains(option) && !EqualityComparer<T>.Default.Equals(model, given))
                conflicts.Add($"{option} {given} (the model has {model})");
        }
        Same("--width", network.Width, options.Width);
        Same("--channels", network.Channels, options.Channels);
        Same("--image-size", TrainOptions.FormatImageSize(network.Height, network.ImageWidth), options.ImageSize);
        if (conflicts.Count > 0)
            throw new UsageException($"--init {init} fixes the network, but {string.Join("; ", conflicts)}. Leave those options out to train the model's network, or start without --init.");
        return options with { Width = network.Width, Channels = network.Channels, Height = network.Height, ImageWidth = network.ImageWidth };
    }

    /// <summary>Copies the weights and batch-norm statistics of the model file <paramref name="init"/> into <paramref name="model"/>.</summary>
    public static void LoadWeights(FerNet model, string init)
    {
        var start = ModelFile.Load(init, model.Fc.Weight.Device);
        model.LoadStateDict(start.StateDict().ToDictionary(p => p.Name, p => p.Tensor));
    }
}
