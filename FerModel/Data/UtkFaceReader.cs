namespace FerEngine.Model.Data;

/// <summary>
/// UTKFace as published: a folder of [age]_[gender]_[race]_[datetime].jpg (also
/// .jpg.chip.jpg); gender 0 male, 1 female; race 0 white -> caucasian, 1 black ->
/// african-american, 2 asian -> asian, 3 indian and 4 others -> unlabelled; age -> the five
/// groups. No emotion labels. Malformed names are skipped and counted, never a crash.
/// </summary>
public static class UtkFaceReader
{
    public static bool TryParse(string fileName, out FaceLabels labels)
    {
        labels = default;
        var fields = fileName.Split('_');
        if (fields.Length < 4) return false;
        static bool Digits(string field, out int value) =>   // digits only: no sign, no spaces
            int.TryParse(field, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out value);
        if (!Digits(fields[0], out int age) || age > 116) return false;   // UTKFace's published ages are 0-116
        if (!Digits(fields[1], out int gender) || gender > 1) return false;
        if (!Digits(fields[2], out int race) || race > 4) return false;
        if (fields[3].Length == 0 || !char.IsDigit(fields[3][0])) return false;
        labels = new FaceLabels(Labels.Missing, gender, race <= 2 ? race : Labels.Missing, Labels.AgeGroup(age));
        return true;
    }

    public static void Read(string folder, FaceDataset into)
    {
        int read = 0, malformed = 0;
        var named = new List<(string File, FaceLabels Labels)>();
        foreach (var file in ImageFiles.In(folder, recursive: false, into.Report.NotImages))
        {
            if (TryParse(Path.GetFileName(file), out var labels)) named.Add((file, labels));
            else
            {
                malformed++;
                into.Report.Skipped.Add((file, "not an [age]_[gender]_[race]_[datetime].jpg name"));
            }
        }
        var images = ImageFolderReader.TryLoadAll(named.Select(f => f.File).ToList(), into);
        for (int i = 0; i < named.Count; i++)
        {
            if (images[i] is not { } pixels) continue;
            into.Train.Add(new FaceSample(pixels, named[i].Labels, named[i].File));
            read++;
        }
        into.Report.Sources.Add($"utkface {folder}: {read} images, {malformed} malformed names skipped");
    }
}
