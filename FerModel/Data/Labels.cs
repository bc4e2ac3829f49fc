using FerEngine.Model.Network;

namespace FerEngine.Model.Data;

/// <summary>The canonical label spaces of the four tasks (the project's specification, ../shared/MODEL_AND_DATA.md beside the repository); -1 means "no label".</summary>
public static class Labels
{
    public const int Missing = -1;
    public static readonly string[] Emotion = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"];
    public static readonly string[] Gender = ["male", "female", "unsure"];
    public static readonly string[] Race = ["caucasian", "african-american", "asian"];
    public static readonly string[] Age = ["0-3", "4-19", "20-39", "40-69", "70+"];

    public static IReadOnlyList<string> ClassNames(FaceTask task) => task switch
    {
        FaceTask.Emotion => Emotion,
        FaceTask.Gender => Gender,
        FaceTask.Race => Race,
        _ => Age,
    };

    /// <summary>Years -> age group: 0-3, 4-19, 20-39, 40-69, 70+.</summary>
    public static int AgeGroup(int years) => years switch
    {
        < 0 => throw new ArgumentOutOfRangeException(nameof(years), $"age {years} is negative"),
        <= 3 => 0,
        <= 19 => 1,
        <= 39 => 2,
        <= 69 => 3,
        _ => 4,
    };
}

/// <summary>One face's labels, -1 where the dataset does not say.</summary>
public readonly record struct FaceLabels(int Emotion = Labels.Missing, int Gender = Labels.Missing, int Race = Labels.Missing, int Age = Labels.Missing)
{
    public int this[FaceTask task] => task switch
    {
        FaceTask.Emotion => Emotion,
        FaceTask.Gender => Gender,
        FaceTask.Race => Race,
        _ => Age,
    };

    public bool HasAny => Emotion >= 0 || Gender >= 0 || Race >= 0 || Age >= 0;
}
