using System.Globalization;

namespace FerEngine.Model.Data;

/// <summary>
/// FER2013 as published: one CSV with header `emotion,pixels,Usage`; emotion 0-6 in the canonical
/// order; pixels = 2304 space-separated integers 0-255 (48x48 grey, row-major); Usage = Training,
/// PublicTest (our validation) or PrivateTest (our test). Emotion labels only. The file is streamed.
/// The columns may come in any order (the header says which is which); without a Usage column every
/// row is training data, and the loader holds out a validation split.
/// A malformed row is an error naming file:line, or with skipBad skipped and listed in the report.
/// </summary>
public static class Fer2013CsvReader
{
    public const int Side = 48;

    public static void Read(string path, FaceDataset into, bool skipBad)
    {
        using var reader = new StreamReader(path);
        string? header = reader.ReadLine();
        if (header is not null && header.Any(c => char.IsControl(c) && c != '\t'))
            throw new InvalidDataException($"{path}: not a text file (compressed? unpack it first); FER2013 is a CSV with the header `emotion,pixels,Usage`.");
        var columns = header?.Trim().Split(',').Select(c => c.Trim().Trim('"').ToLowerInvariant()).ToArray() ?? [];
        int emotionColumn = Array.IndexOf(columns, "emotion"), pixelsColumn = Array.IndexOf(columns, "pixels"), usageColumn = Array.IndexOf(columns, "usage");
        if (emotionColumn < 0 || pixelsColumn < 0)
            throw new InvalidDataException($"{path}:1: expected the FER2013 header `emotion,pixels,Usage`, found `{Shortened(header)}`.");

        int lineNumber = 1, read = 0;
        var perSplit = new int[3];
        string? line;
        while ((line = reader.ReadLine()) is not null)
        {
            lineNumber++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            try
            {
                var (sample, split) = ParseRow(line, columns, emotionColumn, pixelsColumn, usageColumn, path, lineNumber, into);
                into[split].Add(sample);
                perSplit[(int)split]++;
                read++;
            }
            catch (InvalidDataException e)
            {
                if (!skipBad) throw new InvalidDataException($"{e.Message} Fix the row, or pass --skip-bad to skip and count malformed rows.", e);
                string where = $"{path}:{lineNumber}";
                into.Report.Skipped.Add((where, e.Message.StartsWith(where + ": ") ? e.Message[(where.Length + 2)..] : e.Message));   // the location once
            }
        }
        into.Report.Sources.Add($"fer2013 {path}: {read} rows ({perSplit[0]} Training, {perSplit[1]} PublicTest, {perSplit[2]} PrivateTest)");
    }

    /// <summary>A line as an error message quotes it: at most 80 characters (a row of pixels has thousands).</summary>
    private static string? Shortened(string? line) => line is { Length: > 80 } ? line[..80] + " ..." : line;

    private static (FaceSample, DataSplit) ParseRow(string line, string[] columns, int emotionColumn, int pixelsColumn, int usageColumn, string path, int lineNumber, FaceDataset into)
    {
        string Where() => $"{path}:{lineNumber}";
        var fields = line.Split(',').Select(f => f.Trim().Trim('"')).ToArray();   // a field may be quoted
        if (fields.Length != columns.Length)   // a missing or an extra comma: the values may be in the wrong columns
            throw new InvalidDataException($"{Where()}: {fields.Length} column(s), expected {columns.Length} ({string.Join(',', columns)}, as the header says).");
        if (!int.TryParse(fields[emotionColumn].Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out int emotion) || emotion is < 0 or > 6)
            throw new InvalidDataException($"{Where()}: emotion `{fields[emotionColumn]}` is not an integer 0-6.");
        var values = fields[pixelsColumn].Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);   // spaces, or tabs
        if (values.Length != Side * Side)
            throw new InvalidDataException($"{Where()}: {values.Length} pixel values, expected {Side * Side} (48x48).");
        var grey = new byte[Side * Side];
        for (int i = 0; i < grey.Length; i++)
            if (!byte.TryParse(values[i], NumberStyles.Integer, CultureInfo.InvariantCulture, out grey[i]))
                throw new InvalidDataException($"{Where()}: pixel {i + 1} is `{values[i]}`, not an integer 0-255.");
        var split = DataSplit.Train;
        if (usageColumn >= 0)
            split = fields[usageColumn].ToLowerInvariant() switch
            {
                "training" => DataSplit.Train,
                "publictest" => DataSplit.Validation,
                "privatetest" => DataSplit.Test,
                _ => throw new InvalidDataException($"{Where()}: Usage `{fields[usageColumn]}` is not Training, PublicTest or PrivateTest."),
            };
        var pixels = ImageConversion.FromGrey(grey, Side, Side, into.Channels, into.Height, into.Width);
        return (new FaceSample(pixels, new FaceLabels(Emotion: emotion), Where()), split);
    }
}
