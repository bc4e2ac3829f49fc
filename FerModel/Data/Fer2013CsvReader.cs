using System.Globalization;

namespace FerEngine.Model.Data;

/// <summary>
/// FER2013 as published: one CSV with header `emotion,pixels,Usage`; emotion 0-6 in the canonical
/// order; pixels = 2304 space-separated integers 0-255 (48x48 grey, row-major); Usage = Training,
/// PublicTest (our validation) or PrivateTest (our test). Emotion labels only. The file is streamed.
/// The columns may come in any order (the header says which is which); without a Usage column every
/// row is training data, and the loader holds out a validation split.
/// A malformed row is an error naming file:line, or with skipBad skipped and listed in the report.
/// Rows are parsed in parallel, a block at a time, and kept in file order.
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

        into.RequireRoomFor(RowsAtMost(path), path);   // before a row is decoded

        int lineNumber = 1, read = 0;
        var perSplit = new int[3];
        var block = new List<(string Line, int Number)>(BlockRows);
        var parsed = new (FaceSample Sample, DataSplit Split, InvalidDataException? Error)[BlockRows];
        while (true)
        {
            block.Clear();
            string? line;
            while (block.Count < BlockRows && (line = reader.ReadLine()) is not null)
            {
                lineNumber++;
                if (!string.IsNullOrWhiteSpace(line)) block.Add((line, lineNumber));
            }
            if (block.Count == 0) break;
            // Parsing 2,304 numbers is a row's whole cost: the rows of a block are parsed in parallel, then taken in file order.
            Parallel.For(0, block.Count, i =>
            {
                try
                {
                    var (sample, split) = ParseRow(block[i].Line, columns, emotionColumn, pixelsColumn, usageColumn, path, block[i].Number, into);
                    parsed[i] = (sample, split, null);
                }
                catch (InvalidDataException e) { parsed[i] = (null!, default, e); }
            });
            for (int i = 0; i < block.Count; i++)
            {
                var (sample, split, error) = parsed[i];
                if (error is null)
                {
                    into[split].Add(sample);
                    perSplit[(int)split]++;
                    read++;
                    continue;
                }
                if (!skipBad) throw new InvalidDataException($"{error.Message} Fix the row, or pass --skip-bad to skip and count malformed rows.", error);
                string where = $"{path}:{block[i].Number}";
                into.Report.Skipped.Add((where, error.Message.StartsWith(where + ": ") ? error.Message[(where.Length + 2)..] : error.Message));   // the location once
            }
        }
        into.Report.Sources.Add($"fer2013 {path}: {read} rows ({perSplit[0]} Training, {perSplit[1]} PublicTest, {perSplit[2]} PrivateTest)");
    }

    /// <summary>The lines after the header, counted without decoding them: the rows, or more (blank lines count too).</summary>
    private static long RowsAtMost(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 0);
        var buffer = new byte[1 << 20];
        long lines = 0;
        int read, last = '\n';
        while ((read = stream.Read(buffer)) > 0)
        {
            lines += buffer.AsSpan(0, read).Count((byte)'\n');
            last = buffer[read - 1];
        }
        if (last != '\n') lines++;   // the last line has no newline
        return Math.Max(0, lines - 1);
    }

    /// <summary>Rows read, then parsed in parallel, at a time: about 9 MB of text.</summary>
    private const int BlockRows = 1024;

    /// <summary>
    /// The pixels as the published file writes them, decimal numbers of 1-3 digits between single
    /// spaces or tabs, without a string per number (the general parse made 2,304 of them a row).
    /// False for anything else: a sign, a leading zero past 3 digits, other whitespace, a count other than grey's length.
    /// </summary>
    private static bool TryParsePlainPixels(ReadOnlySpan<char> text, Span<byte> grey)
    {
        int count = 0, i = 0;
        while (true)
        {
            while (i < text.Length && text[i] is (' ' or '\t')) i++;
            if (i == text.Length) return count == grey.Length;
            int value = 0, digits = 0;
            for (; i < text.Length && char.IsAsciiDigit(text[i]); i++, digits++) value = 10 * value + (text[i] - '0');
            if (digits is 0 or > 3 || value > 255 || count == grey.Length) return false;
            if (i < text.Length && text[i] is not (' ' or '\t')) return false;
            grey[count++] = (byte)value;
        }
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
        var grey = new byte[Side * Side];
        if (!TryParsePlainPixels(fields[pixelsColumn], grey))
        {
            // Not 2,304 plain numbers 0-255 between spaces: the general parse, which also says what is wrong.
            var values = fields[pixelsColumn].Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);   // spaces, or tabs
            if (values.Length != Side * Side)
                throw new InvalidDataException($"{Where()}: {values.Length} pixel values, expected {Side * Side} (48x48).");
            for (int i = 0; i < grey.Length; i++)
                if (!byte.TryParse(values[i], NumberStyles.Integer, CultureInfo.InvariantCulture, out grey[i]))
                    throw new InvalidDataException($"{Where()}: pixel {i + 1} is `{values[i]}`, not an integer 0-255.");
        }
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
