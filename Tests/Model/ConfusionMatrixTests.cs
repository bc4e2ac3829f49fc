using FerEngine.Model.Evaluation;

namespace FerEngine.Tests.Model;

public class ConfusionMatrixTests
{
    [Fact]
    public void Precision_recall_and_f1_follow_their_definitions()
    {
        var m = new ConfusionMatrix(["a", "b", "c"]);
        // truth a: predicted a, a, b; truth b: predicted b; truth c: predicted a; one unlabelled sample.
        m.Add(0, 0); m.Add(0, 0); m.Add(0, 1); m.Add(1, 1); m.Add(2, 0); m.Add(-1, 2);
        Assert.Equal(5, m.Total);
        Assert.Equal(3.0 / 5, m.Accuracy, 12);
        var a = m.PerClass()[0];
        Assert.Equal(2.0 / 3, a.Precision, 12);   // predicted a: 3 times, 2 right
        Assert.Equal(2.0 / 3, a.Recall, 12);      // true a: 3 samples, 2 found
        Assert.Equal(2.0 / 3, a.F1, 12);
        var c = m.PerClass()[2];
        Assert.Equal(0, c.Precision);             // never predicted: 0, not NaN
        Assert.Equal(0, c.F1);
        Assert.Equal(1, c.Support);
        Assert.Equal((2.0 / 3 + 1 + 0) / 3, m.MeanClassAccuracy, 12);   // recalls of a, b, c
        Assert.Equal((2.0 / 3 + 2.0 / 3 + 0) / 3, m.MacroF1, 12);        // b: precision 1/2, recall 1
    }

    [Fact]
    public void Empty_matrix_has_undefined_accuracy_and_rejects_bad_classes()
    {
        var m = new ConfusionMatrix(["x", "y"]);
        Assert.True(double.IsNaN(m.Accuracy));
        Assert.True(double.IsNaN(m.MeanClassAccuracy));
        Assert.True(double.IsNaN(m.MacroF1));
        Assert.Throws<ArgumentOutOfRangeException>(() => m.Add(2, 0));
    }

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
        Assert.Equal(0.5, m.MeanClassAccuracy, 12);    // over a only: b has no true samples
        Assert.Equal(1.0 / 3, m.MacroF1, 12);          // over a (2/3) and b (0): b was predicted
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
