using System.CommandLine;
using FerEngine.Model.Data;
using FerEngine.Model.Evaluation;
using FerEngine.Model.Network;
using FerEngine.Trainer.Reporting;

namespace FerEngine.Trainer.Commands;

/// <summary>`fer eval`: per-task accuracy, per-class precision / recall / F1 and confusion matrices on one split.</summary>
public static class EvalCommand
{
    public static Command Create(TextWriter output)
    {
        var model = CommonOptions.Model();
        var data = CommonOptions.Data();
        var format = CommonOptions.Format();
        var split = new Option<string>("--split") { Description = "train | validation | test (default test; validation when the data has no test split).", DefaultValueFactory = _ => "test" };
        var device = CommonOptions.Device();
        var batch = CommonOptions.Batch();
        var skipBad = CommonOptions.SkipBad();
        var json = CommonOptions.Json();
        var command = new Command("eval", "Evaluate a trained model on a dataset split.") { model, data, format, split, device, batch, skipBad, json };
        command.SetAction(parse =>
        {
            var error = parse.InvocationConfiguration.Error;   // stderr, or what Program.Run was given
            var net = CommonOptions.LoadModel(parse.GetValue(model)!, parse.GetValue(device)!, error);
            var trained = CommonOptions.TrainedTasks(parse.GetValue(model)!, "eval", leftOut: "scored", error);
            if (parse.GetValue(data) is not { Length: > 0 })
                error.WriteLine("fer eval: no --data given; evaluating on the built-in synthetic faces.");
            var dataset = CommonOptions.LoadData(parse.GetValue(data), parse.GetValue(format), net.Config, parse.GetValue(skipBad), ModelFile.SplitSeed(parse.GetValue(model)!));   // the run's validation split
            if (dataset.Report.HasNotes)
                error.WriteLine(dataset.Report);
            var (name, samples) = ChooseSplit(dataset, parse.GetValue(split)!, error);
            var device0 = net.Fc.Weight.Device;
            var result = Evaluator.Evaluate(net, samples.Count, parse.GetValue(batch),
                (start, count) => BatchBuilder.Build(dataset, samples, Enumerable.Range(start, count).ToArray(), device0));
            if (parse.GetValue(json)) output.WriteLine(EvaluationReport.Json(name, samples.Count, result, trained));
            else EvaluationReport.Write(output, name, samples.Count, result, trained);
            if (trained.All(task => result[task].Total == 0))
                throw new InvalidDataException($"eval: nothing was scored: the {name} split has no labels for the tasks the model was trained on ({string.Join(", ", trained).ToLowerInvariant()}). Evaluate on data with those labels.");
            return Program.Success;
        });
        return command;
    }

    private static (string Name, List<FaceSample> Samples) ChooseSplit(FaceDataset dataset, string split, TextWriter error)
    {
        var chosen = split.ToLowerInvariant() switch
        {
            "train" => DataSplit.Train,
            "validation" or "val" => DataSplit.Validation,
            "test" => DataSplit.Test,
            _ => throw new Training.UsageException($"--split {split}: choose train, validation or test."),
        };
        if (chosen == DataSplit.Test && dataset.Test.Count == 0)
        {
            error.WriteLine("fer eval: the data has no test split; evaluating on the validation split.");
            chosen = DataSplit.Validation;
        }
        if (dataset[chosen].Count == 0) throw new InvalidDataException($"the {chosen} split is empty.");
        return (chosen.ToString().ToLowerInvariant(), dataset[chosen]);
    }
}
