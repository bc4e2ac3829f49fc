using System.Runtime.Intrinsics;

namespace FerEngine.Backends.Cpu.Fast;

/// <summary>
/// Adam (with L2 weight decay) on float32, 16 parameters at a time, in one pass over p, g, m and v.
/// Each element goes through the same float operations in the same order as
/// <see cref="ReferenceLoops{T}.AdamUpdate"/> (and the adam_f32 kernel), so the result is the same
/// bit for bit:
///   g' = wd p + g;  m = (1 - b1) g' + b1 m;  v = b2 v + (1 - b2) g' g'
///   p += stepScalars[0] m / (sqrt(v) / stepScalars[1] + eps)
/// with stepScalars = { -lr / (1 - b1^t), sqrt(1 - b2^t) } (<see cref="AdamHyperparameters.StepScalars"/>).
/// </summary>
public static class FastAdam
{
    public static void Update(Memory<float> p, ReadOnlyMemory<float> grad, Memory<float> m, Memory<float> v, AdamHyperparameters h, ReadOnlySpan<float> stepScalars)
    {
        float beta1 = (float)h.Beta1, beta2 = (float)h.Beta2, weightDecay = (float)h.WeightDecay, eps = (float)h.Epsilon;
        float oneMinusBeta1 = (float)(1 - h.Beta1), oneMinusBeta2 = (float)(1 - h.Beta2);
        float negativeStepSize = stepScalars[0], biasCorrection2Sqrt = stepScalars[1];
        bool decay = h.WeightDecay != 0;
        Parallel1D.For(p.Length, (first, count) =>
        {
            var parameter = p.Span.Slice(first, count);
            var gradient = grad.Span.Slice(first, count);
            var mean = m.Span.Slice(first, count);
            var variance = v.Span.Slice(first, count);
            int i = 0;
            if (Vector512.IsHardwareAccelerated)
                for (; i <= count - 16; i += 16)
                {
                    var pi = Vector512.Create<float>(parameter.Slice(i, 16));
                    var g = Vector512.Create<float>(gradient.Slice(i, 16));
                    if (decay) g = Vector512.FusedMultiplyAdd(Vector512.Create(weightDecay), pi, g);
                    var mi = Vector512.FusedMultiplyAdd(Vector512.Create(oneMinusBeta1), g, Vector512.Create<float>(mean.Slice(i, 16)) * Vector512.Create(beta1));
                    var vi = Vector512.Create<float>(variance.Slice(i, 16)) * Vector512.Create(beta2) + Vector512.Create(oneMinusBeta2) * g * g;
                    var denominator = Vector512.Sqrt(vi) / Vector512.Create(biasCorrection2Sqrt) + Vector512.Create(eps);
                    mi.CopyTo(mean.Slice(i, 16));
                    vi.CopyTo(variance.Slice(i, 16));
                    (pi + Vector512.Create(negativeStepSize) * mi / denominator).CopyTo(parameter.Slice(i, 16));
                }
            for (; i < count; i++)
            {
                float g = decay ? MathF.FusedMultiplyAdd(weightDecay, parameter[i], gradient[i]) : gradient[i];
                mean[i] = MathF.FusedMultiplyAdd(oneMinusBeta1, g, mean[i] * beta1);
                variance[i] = variance[i] * beta2 + oneMinusBeta2 * g * g;
                float denominator = MathF.Sqrt(variance[i]) / biasCorrection2Sqrt + eps;
                parameter[i] = parameter[i] + negativeStepSize * mean[i] / denominator;
            }
        });
    }
}
