using FerEngine.Ops;

namespace FerEngine.Tests.Engine;

/// <summary>Autograd semantics: reuse, accumulation, no-grad, and the messages of misuse.</summary>
public class AutogradTests
{
    private static Tensor Leaf(params double[] values)
    {
        var t = Tensor.FromArray(values, new Shape(values.Length), Device.CpuReference);
        t.RequiresGrad = true;
        return t;
    }

    [Fact]
    public void A_value_used_twice_receives_the_sum_of_both_gradients()
    {
        var x = Leaf(1, 2, 3);
        // L = sum(x * x + x) -> dL/dx = 2x + 1
        Functional.Sum(Functional.Add(Functional.Multiply(x, x), x)).Backward();
        Assert.Equal([3.0, 5.0, 7.0], x.Grad!.ToArray<double>());
    }

    [Fact]
    public void A_diamond_graph_is_walked_once_per_node()
    {
        var x = Leaf(2);
        var a = Functional.Scale(x, 3);          // 3x
        var b = Functional.Multiply(a, a);       // 9x^2
        var c = Functional.Add(a, b);            // 3x + 9x^2
        Functional.Sum(c).Backward();            // d/dx = 3 + 18x = 39
        Assert.Equal(39.0, x.Grad!.Item());
    }

    [Fact]
    public void Gradients_accumulate_across_backward_calls_until_cleared()
    {
        var x = Leaf(1, 1);
        Functional.Sum(Functional.Scale(x, 2)).Backward();
        Functional.Sum(Functional.Scale(x, 2)).Backward();
        Assert.Equal([4.0, 4.0], x.Grad!.ToArray<double>());
        x.Grad = null;
        Functional.Sum(x).Backward();
        Assert.Equal([1.0, 1.0], x.Grad!.ToArray<double>());
    }

    [Fact]
    public void Two_leaves_fed_the_same_gradient_tensor_do_not_share_storage()
    {
        var a = Leaf(1);
        var b = Leaf(1);
        Functional.Sum(Functional.Add(a, b)).Backward();     // add hands dy to both
        Functional.Sum(Functional.Scale(a, 5)).Backward();   // only a accumulates
        Assert.Equal(6.0, a.Grad!.Item());
        Assert.Equal(1.0, b.Grad!.Item());
    }

    [Fact]
    public void NoGrad_records_nothing_and_backward_then_says_why()
    {
        var x = Leaf(1, 2);
        Tensor y;
        using (FerEngine.Autograd.Autograd.NoGrad()) y = Functional.Sum(Functional.Multiply(x, x));
        Assert.Null(y.GradFn);
        Assert.True(FerEngine.Autograd.Autograd.IsGradEnabled);
        var e = Assert.Throws<InvalidOperationException>(() => y.Backward());
        Assert.Contains("NoGrad", e.Message);
    }

    [Fact]
    public void Detach_stops_the_gradient()
    {
        var x = Leaf(3);
        Functional.Sum(Functional.Multiply(x, x.Detach())).Backward();
        Assert.Equal(3.0, x.Grad!.Item());
    }

    [Fact]
    public void Backward_on_a_non_scalar_names_the_shape()
    {
        var x = Leaf(1, 2, 3);
        var e = Assert.Throws<InvalidOperationException>(() => Functional.Scale(x, 2).Backward());
        Assert.Contains("[3]", e.Message);
        Assert.Contains("scalar", e.Message);
    }

    [Fact]
    public void Mixing_dtypes_names_the_op_and_both_tensors()
    {
        var a = Tensor.Zeros(new Shape(2, 3), DType.Float32, Device.Cpu);
        var b = Tensor.Zeros(new Shape(2, 3), DType.Float64, Device.Cpu);
        var e = Assert.Throws<ArgumentException>(() => Functional.Add(a, b));
        Assert.Contains("add", e.Message);
        Assert.Contains("Float32", e.Message);
        Assert.Contains("Float64", e.Message);
    }

    [Fact]
    public void Mixing_devices_is_refused()
    {
        var a = Tensor.Zeros(new Shape(2), DType.Float32, Device.Cpu);
        var b = Tensor.Zeros(new Shape(2), DType.Float32, Device.CpuReference);
        var e = Assert.Throws<ArgumentException>(() => Functional.Multiply(a, b));
        Assert.Contains("different devices", e.Message);
    }

    [Fact]
    public void Wrong_shapes_name_the_op_and_the_shapes()
    {
        var x = Tensor.Zeros(new Shape(2, 3, 8, 8), DType.Float32, Device.Cpu);
        var w = Tensor.Zeros(new Shape(4, 5, 3, 3), DType.Float32, Device.Cpu);
        var e = Assert.Throws<ArgumentException>(() => Functional.Conv2d(x, w, null, 1));
        Assert.Contains("conv2d", e.Message);
        Assert.Contains("[2, 3, 8, 8]", e.Message);
        Assert.Contains("[4, 5, 3, 3]", e.Message);

        var input = Tensor.Zeros(new Shape(4, 10), DType.Float32, Device.Cpu);
        var weight = Tensor.Zeros(new Shape(7, 9), DType.Float32, Device.Cpu);
        e = Assert.Throws<ArgumentException>(() => Functional.Linear(input, weight, null));
        Assert.Contains("linear", e.Message);
        Assert.Contains("[7, 9]", e.Message);
    }

    [Fact]
    public void Labels_must_be_int64_and_match_the_batch()
    {
        var logits = Tensor.Zeros(new Shape(4, 7), DType.Float32, Device.Cpu);
        var labels = Tensor.Zeros(new Shape(3), DType.Int64, Device.Cpu);
        var e = Assert.Throws<ArgumentException>(() => Functional.SoftmaxCrossEntropy(logits, labels));
        Assert.Contains("[3]", e.Message);
        var labelOutOfRange = Tensor.FromArray(new long[] { 0, 1, 2, 7 }, new Shape(4), Device.Cpu);
        e = Assert.Throws<ArgumentException>(() => Functional.SoftmaxCrossEntropy(logits, labelOutOfRange));
        Assert.Contains("label 7", e.Message);
        var floatLabels = Tensor.Zeros(new Shape(4), DType.Float32, Device.Cpu);   // class indices as floats, a common slip
        e = Assert.Throws<ArgumentException>(() => Functional.SoftmaxCrossEntropy(logits, floatLabels));
        Assert.Contains("Int64", e.Message, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void Reshape_and_flatten_are_views_that_share_storage()
    {
        var x = Tensor.FromArray(Enumerable.Range(0, 24).Select(i => (float)i).ToArray(), new Shape(2, 3, 2, 2), Device.Cpu);
        var flat = x.Flatten();
        Assert.Equal(new Shape(2, 12), flat.Shape);
        Assert.Same(x.Storage, flat.Storage);
        Assert.Equal(new Shape(4, 6), x.Reshape(4, -1).Shape);
        Assert.Throws<ArgumentException>(() => x.Reshape(5, -1));
        Assert.Equal(new float[] { 12, 13, 14 }, x.Slice(1, 1).ToArray<float>()[..3]);
    }

    [Fact]
    public void No_labelled_row_gives_exactly_zero_loss_and_gradient()
    {
        var logits = Tensor.Normal(new Shape(3, 5), 0, 3, 1, 1, DType.Float32, Device.Cpu);
        logits.RequiresGrad = true;
        var labels = Tensor.FromArray(new long[] { -1, -1, -1 }, new Shape(3), Device.Cpu);
        var loss = Functional.SoftmaxCrossEntropy(logits, labels);
        Assert.Equal(0.0, loss.Item());
        loss.Backward();
        Assert.All(logits.Grad!.ToArray<float>(), g => Assert.Equal(0f, g));
    }

    [Fact]
    public void Masked_cross_entropy_is_the_mean_over_labelled_rows_only()
    {
        var logits = Tensor.FromArray(new double[] { 0, 0, 5, 1, 2, 3 }, new Shape(2, 3), Device.CpuReference);
        var both = Functional.SoftmaxCrossEntropy(logits, Tensor.FromArray(new long[] { 0, -1 }, new Shape(2), Device.CpuReference)).Item();
        double expected = Math.Log(2 + Math.Exp(5)); // -log softmax(row 0)[0]
        Assert.Equal(expected, both, 12);
    }
}
