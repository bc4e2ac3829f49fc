using System.Text;

namespace FerEngine.Model.Network;

/// <summary>One row of the summary: a layer, its output shape for one image, parameters, forward FLOPs.</summary>
public sealed record SummaryRow(string Layer, string OutputShape, long Parameters, long Flops);

/// <summary>
/// The network layer by layer, computed from the configuration: output shapes per image,
/// parameter counts and forward FLOPs (a multiply-add counts as 2). A training step costs about
/// 3x the forward FLOPs (forward, backward-data, backward-filter).
/// </summary>
public static class ModelSummary
{
    public static IReadOnlyList<SummaryRow> Rows(FerNetConfig c)
    {
        var rows = new List<SummaryRow>();
        int h = c.Height, w = c.ImageWidth;
        (string Name, int In, int Out, int K, bool Pool)[] convs =
        [
            ("conv1", c.Channels, c.Block1, 5, false), ("conv2", c.Block1, c.Block1, 5, true),
            ("conv3", c.Block1, c.Block2, 3, false), ("conv4", c.Block2, c.Block2, 3, true),
            ("conv5", c.Block2, c.Block3, 3, false), ("conv6", c.Block3, c.Block3, 3, true),
        ];
        foreach (var (name, inC, outC, k, pool) in convs)
        {
            long macs = (long)inC * k * k * outC * h * w;
            rows.Add(new($"{name} {k}x{k} + ELU + bn", $"[{outC}, {h}, {w}]", (long)outC * inC * k * k + outC + 2 * outC, 2 * macs));
            if (pool)
            {
                h /= 2; w /= 2;
                rows.Add(new("max-pool 2x2 + dropout", $"[{outC}, {h}, {w}]", 0, 0));
            }
        }
        rows.Add(new("fc + ELU + bn_fc + dropout", $"[{c.Hidden}]", (long)c.FlatFeatures * c.Hidden + c.Hidden + 2 * c.Hidden, 2L * c.FlatFeatures * c.Hidden));
        string[] heads = ["head_emotion", "head_gender", "head_race", "head_age"];
        for (int i = 0; i < 4; i++)
            rows.Add(new(heads[i], $"[{FerNet.ClassCounts[i]}]", (long)c.Hidden * FerNet.ClassCounts[i] + FerNet.ClassCounts[i], 2L * c.Hidden * FerNet.ClassCounts[i]));
        return rows;
    }

    public static long TotalParameters(FerNetConfig c) => Rows(c).Sum(r => r.Parameters);
    public static long ForwardFlopsPerImage(FerNetConfig c) => Rows(c).Sum(r => r.Flops);

    public static string Format(FerNetConfig c)
    {
        var text = new StringBuilder();
        text.AppendLine($"{FerNetConfig.Architecture}: {c.Channels}x{c.Height}x{c.ImageWidth} input, width {c.Width}");
        text.AppendLine($"{"layer",-30} {"output (per image)",-18} {"parameters",12} {"MFLOP",10}");
        foreach (var r in Rows(c))
            text.AppendLine($"{r.Layer,-30} {r.OutputShape,-18} {r.Parameters,12:N0} {r.Flops / 1e6,10:F1}");
        text.AppendLine($"{"total",-30} {"",-18} {TotalParameters(c),12:N0} {ForwardFlopsPerImage(c) / 1e6,10:F1}");
        return text.ToString();
    }
}
