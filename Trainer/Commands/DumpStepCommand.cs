using System.CommandLine;
using FerEngine.Checkpoint;
using FerEngine.Model.Data;
using FerEngine.Model.Network;
using FerEngine.Model.Training;
using FerEngine.Optim;

namespace FerEngine.Trainer.Commands;

/// <summary>
/// `fer dump-step`: from the weights in --model, one training step (batch norm in training mode,
/// dropout off, Adam and the joint loss's weights as `fer train` takes them) on the first batch of the training split,
/// unshuffled and not augmented, written as one safetensors file to compare with PyTorch:
/// input, label.&lt;task&gt; (Int64, -1 = missing), loss.&lt;task&gt; and loss.total, grad.&lt;parameter&gt;,
/// param.&lt;tensor&gt; for every checkpoint tensor after the step.
/// </summary>
public static class DumpStepCommand
{
    public static Command Create(TextWriter output)
    {
        var model = CommonOptions.Model();
        var data = CommonOptions.Data();
        var format = CommonOptions.Format();
        var device = CommonOptions.Device();
        var batch = new Option<int>("--batch") { DefaultValueFactory = _ => 32 }.Require(b => b >= 2, "must be at least 2 (batch norm needs two samples).");
        var lr = new Option<double>("--lr") { DefaultValueFactory = _ => 3e-4 }.Require(r => r > 0 && double.IsFinite(r), "must be a positive number.");
        var taskWeights = CommonOptions.TaskWeights();
        var skipBad = CommonOptions.SkipBad();
        var outFile = new Option<string>("--out") { Description = "The .safetensors file to write.", Required = true }
            .Require(o => !string.IsNullOrWhiteSpace(o), "must name a file.");
        var command = new Command("dump-step", "Run one training step and save every tensor to compare with PyTorch.") { model, data, format, device, batch, lr, taskWeights, skipBad, outFile };
        command.SetAction(parse =>
        {
            var error = parse.InvocationConfiguration.Error;   // stderr, or what Program.Run was given
            string outPath = CommonOptions.OutputFile(parse.GetValue(outFile)!, parse.GetValue(model)!, ".safetensors");
            var net = CommonOptions.LoadModel(parse.GetValue(model)!, parse.GetValue(device)!, error);
            net.DropoutDisabled = true;
            var dataset = CommonOptions.LoadData(parse.GetValue(data), parse.GetValue(format), net.Config, parse.GetValue(skipBad), ModelFile.SplitSeed(parse.GetValue(model)!));   // the run's training split
            int count = Math.Min(parse.GetValue(batch), dataset.Train.Count);
            if (count < 2) throw new InvalidDataException($"the data has {dataset.Train.Count} training image(s); dump-step needs two (batch norm).");
            var deviceUsed = net.Fc.Weight.Device;
            var (x, labels) = BatchBuilder.Build(dataset, dataset.Train, Enumerable.Range(0, count).ToArray(), deviceUsed);
            var weights = parse.GetValue(taskWeights)!;
            using var step = new TrainStep(net, new Adam(net.NamedParameters(), parse.GetValue(lr)), weights);
            var loss = step.Run(x, labels, step: 0);

            var tensors = new List<(string, Tensor)> { ("input", x) };
            string[] tasks = ["emotion", "gender", "race", "age"];
            for (int t = 0; t < 4; t++) tensors.Add(($"label.{tasks[t]}", labels[t]));
            for (int t = 0; t < 4; t++) tensors.Add(($"loss.{tasks[t]}", loss[(FaceTask)t]));
            tensors.Add(("loss.total", loss.Total));
            tensors.AddRange(net.NamedParameters().Select(p => ($"grad.{p.Name}", p.Tensor.Grad!)));
            tensors.AddRange(net.StateDict().Select(p => ($"param.{p.Name}", p.Tensor)));
            SafetensorsFile.Save(outPath, tensors, new Dictionary<string, string> { ["config"] = net.Config.ToJson(), ["task_weights"] = weights.ToString() });
            output.WriteLine($"wrote {tensors.Count} tensors ({count} images, total loss {loss.Total.Item():F6}) to {outPath}");
            return Program.Success;
        });
        return command;
    }
}
