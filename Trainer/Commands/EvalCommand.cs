using System.CommandLine;
using System.Text.Json;
using FerEngine.Model.Data;
using FerEngine.Model.Evaluation;
using FerEngine.Model.Network;

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
            var net = CommonOptions.LoadModel(parse.GetValue(model)!, parse.GetValue(device)!);
            var trained = CommonOptions.TrainedTasks(parse.GetValue(model)!, "eval", leftOut: "scored");
            if (parse.GetValue(data) is not { Length: > 0 })
                Console.Error.WriteLine("fer eval: no --data given; evaluating on the built-in synthetic faces.");
            var dataset = CommonOptions.LoadData(parse.GetValue(data), parse.GetValue(format), net.Config, parse.GetValue(skipBad), ModelFile.SplitSeed(parse.GetValue(model)!));   // the run's validation split
            if (dataset.Report.Skipped.Count > 0 || dataset.Report.UnknownClasses.Count > 0)
                Console.Error.WriteLine(dataset.Report);
            var (name, samples) = ChooseSplit(dataset, parse.GetValue(split)!);
            var device0 = net.Fc.Weight.Device;
            var result = Evaluator.Evaluate(net, samples.Count, parse.GetValue(batch),
                (start, count) => BatchBuilder.Build(dataset, samples, Enumerable.Range(start, count).ToArray(), device0));
            if (parse.GetValue(json)) output.WriteLine(ToJson(name, samples.Count, result, trained));
            else Print(output, name, samples.Count, result, trained);
            if (trained.All(task => result[task].Total == 0))
                throw new InvalidDataException($"eval: nothing was scored: the {name} split has no labels for the tasks the model was trained on ({string.Join(", ", trained).ToLowerInvariant()}). Evaluate on data with those labels.");
            return Program.Success;
        });
        return command;
    }

    private static (string Name, List<FaceSample> Samples) ChooseSplit(FaceDataset dataset, string split)
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
            Console.Error.WriteLine("fer eval: the data has no test split; evaluating on the validation split.");
            chosen = DataSplit.Validation;
        }
        if (dataset[chosen].Count == 0) throw new InvalidDataException($"the {chosen} split is empty.");
        return (chosen.ToString().ToLowerInvariant(), dataset[chosen]);
    }

    internal static string ToJson(string split, int samples, EvaluationResult result, IReadOnlyList<FaceTask> trained)
    {
        var document = new Dictionary<string, object?> { ["split"] = split, ["samples"] = samples };
        var tasks = new Dictionary<string, object?>();
        foreach (var task in Enum.GetValues<FaceTask>())
        {
            var m = result[task];
            string key = task.ToString().ToLowerInvariant();
            if (!trained.Contains(task))
            {
                document[$"{key}_accuracy"] = null;
                tasks[key] = new Dictionary<string, object?> { ["trained"] = false, ["accuracy"] = null, ["labelled"] = m.Total };
                continue;
            }
            double? accuracy = m.Total == 0 ? null : m.Accuracy;
            document[$"{key}_accuracy"] = accuracy;
            var confusion = new long[m.ClassCount][];
            for (int i = 0; i < m.ClassCount; i++)
            {
                confusion[i] = new long[m.ClassCount];
                for (int j = 0; j < m.ClassCount; j++) confusion[i][j] = m.Counts[i, j];
            }
            tasks[key] = new Dictionary<string, object?>
            {
                ["trained"] = true,
                ["accuracy"] = accuracy,
                ["labelled"] = m.Total,
                ["classes"] = m.ClassNames,
                ["per_class"] = m.PerClass().Select(c => new { name = c.Name, precision = c.Precision, recall = c.Recall, f1 = c.F1, support = c.Support }),
                ["confusion"] = confusion,
            };
        }
        document["tasks"] = tasks;
        return JsonSerializer.Serialize(document);
    }

    private static void Print(TextWriter output, string split, int samples, EvaluationResult result, IReadOnlyList<FaceTask> trained)
    {
        output.WriteLine($"{split} split, {samples} images");
        foreach (var task in Enum.GetValues<FaceTask>())
        {
            var m = result[task];
            if (!trained.Contains(task)) { output.WriteLine($"\n{task}: not scored (the model's training data had no {task.ToString().ToLowerInvariant()} labels)"); continue; }
            if (m.Total == 0) { output.WriteLine($"\n{task}: no labels in this split"); continue; }
            output.WriteLine($"\n{task}: accuracy {m.Accuracy:P2} over {m.Total} labelled images");
            output.WriteLine($"  {"class",-18} {"precision",9} {"recall",9} {"f1",9} {"support",8}");
            foreach (var c in m.PerClass())
                output.WriteLine($"  {c.Name,-18} {c.Precision,9:F3} {c.Recall,9:F3} {c.F1,9:F3} {c.Support,8}");
            output.WriteLine("  confusion (rows = true, columns = predicted):");
            for (int i = 0; i < m.ClassCount; i++)
                output.WriteLine($"  {m.ClassNames[i],-18} " + string.Join(" ", Enumerable.Range(0, m.ClassCount).Select(j => $"{m.Counts[i, j],6}")));
        }
    }
}
