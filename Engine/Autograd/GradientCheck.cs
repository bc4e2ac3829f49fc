namespace FerEngine.Autograd;

/// <summary>
/// Finite-difference check of an op's autograd rule, in float64 on the reference backend.
/// For a function f of some inputs, the scalar L = sum(f(inputs) * r) with a fixed random r is
/// differentiated twice: by <see cref="Autograd.Backward"/> and by central differences
/// (L(x + h) - L(x - h)) / 2h for every element of every input. The result is the norm-wise
/// relative error ||analytic - numeric|| / max(||analytic||, ||numeric||) per input.
/// </summary>
public static class GradientCheck
{
    public const double Step = 1e-5;
    /// <summary>The largest relative error a correct rule shows in float64 (the test suite and `fer gradcheck` use it).</summary>
    public const double Tolerance = 1e-6;

    public sealed record InputError(int Input, Shape Shape, double MaxAbsError, double RelativeError);

    /// <summary>Runs the check; inputs must be float64 leaves (their values are perturbed and restored).</summary>
    public static IReadOnlyList<InputError> Run(Func<Tensor[], Tensor> function, Tensor[] inputs, ulong seed = 1234)
    {
        foreach (var input in inputs)
            if (input.DType != DType.Float64)
                throw new ArgumentException($"Gradient checks run in float64; input {input.Shape} is {input.DType}.");

        var probeOutput = function(inputs);
        var weights = Tensor.Normal(probeOutput.Shape, 0, 1, seed, 0, DType.Float64, probeOutput.Device);
        double Loss()
        {
            using var _ = Autograd.NoGrad();
            var output = function(inputs).ToArray<double>();
            var r = weights.ToArray<double>();
            double sum = 0;
            for (int i = 0; i < output.Length; i++) sum += output[i] * r[i];
            return sum;
        }

        // Analytic gradients.
        foreach (var input in inputs) { input.RequiresGrad = true; input.Grad = null; }
        var loss = Ops.Functional.Sum(Ops.Functional.Multiply(function(inputs), weights));
        loss.Backward();

        var errors = new List<InputError>();
        for (int k = 0; k < inputs.Length; k++)
        {
            var input = inputs[k];
            double[] analytic = input.Grad?.ToArray<double>() ?? new double[input.ElementCount];
            var values = input.AsSpan<double>();
            var numeric = new double[values.Length];
            for (int i = 0; i < values.Length; i++)
            {
                double original = values[i];
                values[i] = original + Step;
                double plus = Loss();
                values[i] = original - Step;
                double minus = Loss();
                values[i] = original;
                numeric[i] = (plus - minus) / (2 * Step);
            }
            double difference = 0, normA = 0, normN = 0, maxAbs = 0;
            for (int i = 0; i < numeric.Length; i++)
            {
                double d = analytic[i] - numeric[i];
                difference += d * d;
                normA += analytic[i] * analytic[i];
                normN += numeric[i] * numeric[i];
                maxAbs = Math.Max(maxAbs, Math.Abs(d));
            }
            double scale = Math.Sqrt(Math.Max(normA, normN));
            errors.Add(new InputError(k, input.Shape, maxAbs, scale == 0 ? Math.Sqrt(difference) : Math.Sqrt(difference) / scale));
        }
        return errors;
    }
}
