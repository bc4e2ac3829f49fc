using FerEngine.Model.Evaluation;

namespace FerEngine.Tests.Model;

/// <summary>Confusion-matrix metrics where they are undefined, and predictions out of range.</summary>
public class ConfusionMatrixEdgeTests
{
    // a class with no true samples (support 0) has recall 0 and F1 0, not NaN (the doc: "0 where undefined").
    [Fact]
    public void A_class_without_true_samples_has_recall_and_f1_zero()
    {
        var m = new ConfusionMatrix(["a", "b"]);
        m.Add(0, 0); m.Add(0, 1);   // b is predicted once, never true
        var b = m.PerClass()[1];
        Assert.Equal(0, b.Support);
        Assert.Equal(0, b.Precision);
        Assert.Equal(0, b.Recall);
        Assert.Equal(0, b.F1);
    }

    // a prediction outside 0..k-1 is refused with ArgumentOutOfRangeException (naming the ranges), like a bad truth.
    [Fact]
    public void A_negative_prediction_is_refused_as_out_of_range()
    {
        var m = new ConfusionMatrix(["x", "y"]);
        Assert.Throws<ArgumentOutOfRangeException>(() => m.Add(0, -1));
        Assert.Throws<ArgumentOutOfRangeException>(() => m.Add(1, 2));
        Assert.Equal(0, m.Total);
    }
}
