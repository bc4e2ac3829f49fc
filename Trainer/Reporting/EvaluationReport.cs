using System.Text.Json;
using FerEngine.Model.Data;
using FerEngine.Model.Evaluation;
using FerEngine.Model.Network;

namespace FerEngine.Trainer.Reporting;

/// <summary>
/// One split's evaluation as `fer eval` reports it: per task accuracy, mean class accuracy and macro F1,
/// per-class precision / recall / F1 and the confusion matrix, as text or as JSON (`--json`, and the test.json `fer train` writes).
/// Tasks the model was not trained for are not scored: their accuracy is null.
/// </summary>
public static class EvaluationReport
{
    public static string Json(string split, int samples, EvaluationResult result, IReadOnlyList<FaceTask> trained)
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
                ["mean_class_accuracy"] = m.Total == 0 ? null : m.MeanClassAccuracy,
                ["macro_f1"] = m.Total == 0 ? null : m.MacroF1,
                ["labelled"] = m.Total,
                ["classes"] = m.ClassNames,
                ["per_class"] = m.PerClass().Select(c => new { name = c.Name, precision = c.Precision, recall = c.Recall, f1 = c.F1, support = c.Support }),
                ["confusion"] = confusion,
            };
        }
        document["tasks"] = tasks;
        return JsonSerializer.Serialize(document);
    }

    public static void Write(TextWriter output, string split, int samples, EvaluationResult result, IReadOnlyList<FaceTask> trained)
    {
        output.WriteLine($"{split} split, {samples} images");
        foreach (var task in Enum.GetValues<FaceTask>())
        {
            var m = result[task];
            if (!trained.Contains(task)) { output.WriteLine($"\n{task}: not scored (the model's training data had no {task.ToString().ToLowerInvariant()} labels)"); continue; }
            if (m.Total == 0) { output.WriteLine($"\n{task}: no labels in this split"); continue; }
            output.WriteLine($"\n{task}: accuracy {m.Accuracy:P2} over {m.Total} labelled images; mean class accuracy {m.MeanClassAccuracy:P2}, macro F1 {m.MacroF1:F3}");
            output.WriteLine($"  {"class",-18} {"precision",9} {"recall",9} {"f1",9} {"support",8}");
            foreach (var c in m.PerClass())
                output.WriteLine($"  {c.Name,-18} {c.Precision,9:F3} {c.Recall,9:F3} {c.F1,9:F3} {c.Support,8}");
            output.WriteLine("  confusion (rows = true, columns = predicted):");
            for (int i = 0; i < m.ClassCount; i++)
                output.WriteLine($"  {m.ClassNames[i],-18} " + string.Join(" ", Enumerable.Range(0, m.ClassCount).Select(j => $"{m.Counts[i, j],6}")));
        }
    }
}
