using FerEngine.Ops;

namespace FerEngine.Autograd;

/// <summary>
/// The gradient-check catalogue: for every op in <see cref="OpNames.All"/>, functions and input
/// shapes to check it on (batch 1 and 3, odd sizes that are not multiples of 8). The test suite
/// and `fer gradcheck` run the same cases.
/// </summary>
public static class GradientCheckCases
{
    public sealed record Case(string Op, string Description, Func<Tensor[], Tensor> Function, Func<Tensor[]> MakeInputs);

    private static Device Reference => Device.CpuReference;

    private static Tensor Random(ulong stream, params int[] dims) =>
        Tensor.Normal(new Shape(dims), 0, 1, seed: 42, stream, DType.Float64, Reference);

    /// <summary>Values kept at least 0.1 away from 0 (ReLU's kink): |N(0,1)| + 0.1 with random sign.</summary>
    private static Tensor AwayFromZero(ulong stream, params int[] dims)
    {
        var values = Random(stream, dims).ToArray<double>();
        for (int i = 0; i < values.Length; i++) values[i] = Math.Sign(values[i]) * (Math.Abs(values[i]) + 0.1);
        return Tensor.FromArray(values, new Shape(dims), Reference);
    }

    private static Tensor Labels(params long[] labels) => Tensor.FromArray(labels, new Shape(labels.Length), Reference);

    public static IEnumerable<Case> All()
    {
        foreach (int n in new[] { 1, 3 })
        {
            yield return new(OpNames.Add, $"[{n},5,7] + [{n},5,7]", t => Functional.Add(t[0], t[1]), () => [Random(1, n, 5, 7), Random(2, n, 5, 7)]);
            yield return new(OpNames.Add, $"x + x (a value used twice), [{n},9]", t => Functional.Add(t[0], t[0]), () => [Random(3, n, 9)]);
            yield return new(OpNames.Multiply, $"[{n},5,7] * [{n},5,7]", t => Functional.Multiply(t[0], t[1]), () => [Random(4, n, 5, 7), Random(5, n, 5, 7)]);
            yield return new(OpNames.Multiply, $"x * x (a value used twice), [{n},9]", t => Functional.Multiply(t[0], t[0]), () => [Random(6, n, 9)]);
            yield return new(OpNames.Scale, $"-2.5 * [{n},11]", t => Functional.Scale(t[0], -2.5), () => [Random(7, n, 11)]);
            yield return new(OpNames.Sum, $"sum [{n},3,5]", t => Functional.Sum(t[0]), () => [Random(8, n, 3, 5)]);
            yield return new(OpNames.Mean, $"mean [{n},3,5]", t => Functional.Mean(t[0]), () => [Random(9, n, 3, 5)]);
            yield return new(OpNames.Reshape, $"[{n},3,5] -> [{n},15], then * itself", t => { var r = t[0].Reshape(n, 15); return Functional.Multiply(r, r); }, () => [Random(10, n, 3, 5)]);
            yield return new(OpNames.Linear, $"[{n},13] x [7,13]^T + [7]", t => Functional.Linear(t[0], t[1], t[2]), () => [Random(11, n, 13), Random(12, 7, 13), Random(13, 7)]);
            yield return new(OpNames.Linear, $"no bias, [{n},5] x [3,5]^T", t => Functional.Linear(t[0], t[1], null), () => [Random(14, n, 5), Random(15, 3, 5)]);
            yield return new(OpNames.Conv2d, $"5x5 pad 2, [{n},3,7,9] w[5,3,5,5]", t => Functional.Conv2d(t[0], t[1], t[2], 2), () => [Random(16, n, 3, 7, 9), Random(17, 5, 3, 5, 5), Random(18, 5)]);
            yield return new(OpNames.Conv2d, $"3x3 pad 1, [{n},2,5,7] w[3,2,3,3]", t => Functional.Conv2d(t[0], t[1], t[2], 1), () => [Random(19, n, 2, 5, 7), Random(20, 3, 2, 3, 3), Random(21, 3)]);
            yield return new(OpNames.Conv2d, $"3x3 pad 0, no bias, [{n},2,5,6] w[3,2,3,3]", t => Functional.Conv2d(t[0], t[1], null, 0), () => [Random(22, n, 2, 5, 6), Random(23, 3, 2, 3, 3)]);
            yield return new(OpNames.Elu, $"elu [{n},5,7]", t => Functional.Elu(t[0]), () => [AwayFromZero(24, n, 5, 7)]);
            yield return new(OpNames.Relu, $"relu [{n},5,7]", t => Functional.Relu(t[0]), () => [AwayFromZero(25, n, 5, 7)]);
            yield return new(OpNames.MaxPool2x2, $"max-pool [{n},3,7,5] (odd sizes: last row/column dropped)", t => Functional.MaxPool2x2(t[0]), () => [Random(26, n, 3, 7, 5)]);
            yield return new(OpNames.Dropout, $"p 0.4, [{n},5,7]", t => Functional.Dropout(t[0], 0.4, training: true, seed: 3, stream: 9), () => [Random(27, n, 5, 7)]);
            yield return new(OpNames.SoftmaxCrossEntropy, $"[{n},7], all labelled", t => Functional.SoftmaxCrossEntropy(t[0], Labels([.. Enumerable.Range(0, n).Select(i => (long)(i * 3 % 7))])), () => [Random(28, n, 7)]);
            yield return new(OpNames.JointSoftmaxCrossEntropy, $"four tasks [{n},7], [{n},3], [{n},3], [{n},5], weights 2, 0.1, 1.5, 4, all labelled",
                t => Functional.JointSoftmaxCrossEntropy(t, [.. new[] { 7, 3, 3, 5 }.Select(k => Labels([.. Enumerable.Range(0, n).Select(i => (long)((i * 2 + 1) % k))]))], [2, 0.1, 1.5, 4]).Total,
                () => [Random(52, n, 7), Random(53, n, 3), Random(54, n, 3), Random(55, n, 5)]);
        }
        // Batch norm needs more than one value per channel; batch 1 is checked with a spatial input.
        yield return new(OpNames.BatchNorm, "2-D [3,5] (BatchNorm1d)", t => BatchNormTrain(t), () => [Random(29, 3, 5), Random(30, 5), Random(31, 5)]);
        yield return new(OpNames.BatchNorm, "4-D [1,3,5,7] (BatchNorm2d)", t => BatchNormTrain(t), () => [Random(32, 1, 3, 5, 7), Random(33, 3), Random(34, 3)]);
        yield return new(OpNames.BatchNorm, "4-D [3,2,3,5] (BatchNorm2d)", t => BatchNormTrain(t), () => [Random(35, 3, 2, 3, 5), Random(36, 2), Random(37, 2)]);
        // ELU then batch norm as one op: inputs away from ELU's kink at 0, where its derivative jumps.
        yield return new(OpNames.EluBatchNorm, "2-D [3,5] (ELU, BatchNorm1d)", t => BatchNormTrain(t, elu: true), () => [AwayFromZero(40, 3, 5), Random(41, 5), Random(42, 5)]);
        yield return new(OpNames.EluBatchNorm, "4-D [3,2,3,5] (ELU, BatchNorm2d)", t => BatchNormTrain(t, elu: true), () => [AwayFromZero(43, 3, 2, 3, 5), Random(44, 2), Random(45, 2)]);
        // ... of x + bias, as the network uses it: biases under 0.05, so x + bias stays 0.05 away from the kink.
        yield return new(OpNames.EluBatchNorm, "2-D [3,5] + bias (ELU, BatchNorm1d)", t => BatchNormTrain(t, elu: true),
            () => [AwayFromZero(46, 3, 5), Random(47, 5), Random(48, 5), Small(0.03, -0.04, 0.01, 0.045, -0.02)]);
        yield return new(OpNames.EluBatchNorm, "4-D [3,2,3,5] + bias (ELU, BatchNorm2d)", t => BatchNormTrain(t, elu: true),
            () => [AwayFromZero(49, 3, 2, 3, 5), Random(50, 2), Random(51, 2), Small(-0.035, 0.02)]);
        yield return new(OpNames.SoftmaxCrossEntropy, "[5,3] with labels missing (-1)", t => Functional.SoftmaxCrossEntropy(t[0], Labels(2, -1, 0, -1, 1)), () => [Random(38, 5, 3)]);
        yield return new(OpNames.SoftmaxCrossEntropy, "[3,4] with no label at all (loss 0, gradient 0)", t => Functional.SoftmaxCrossEntropy(t[0], Labels(-1, -1, -1)), () => [Random(39, 3, 4)]);
        yield return new(OpNames.JointSoftmaxCrossEntropy, "two tasks [4,3], [4,2], one without any label (it adds 0, gets no gradient)",
            t => Functional.JointSoftmaxCrossEntropy(t, [Labels(2, -1, 0, 1), Labels(-1, -1, -1, -1)], [0.7, 3]).Total, () => [Random(56, 4, 3), Random(57, 4, 2)]);
    }

    private static Tensor Small(params double[] values) => Tensor.FromArray(values, new Shape(values.Length), Reference);

    /// <summary>t = [x, gamma, beta] or, for ELU with a bias, [x, gamma, beta, bias].</summary>
    private static Tensor BatchNormTrain(Tensor[] t, bool elu = false)
    {
        int c = t[0].Shape[1];
        var runningMean = Tensor.Zeros(new Shape(c), DType.Float64, Reference);
        var runningVar = Tensor.Ones(new Shape(c), DType.Float64, Reference);
        return elu ? Functional.EluBatchNorm(t[0], t.Length > 3 ? t[3] : null, t[1], t[2], runningMean, runningVar, training: true, momentum: 0.01, eps: 1e-3)
            : Functional.BatchNorm(t[0], t[1], t[2], runningMean, runningVar, training: true, momentum: 0.01, eps: 1e-3);
    }
}
