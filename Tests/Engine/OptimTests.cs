using FerEngine.Nn;
using FerEngine.Optim;

namespace FerEngine.Tests.Engine;

public class OptimTests
{
    private static Tensor Parameter(params double[] values)
    {
        var p = Tensor.FromArray(values, new Shape(values.Length), Device.CpuReference);
        p.RequiresGrad = true;
        return p;
    }

    [Fact]
    public void Adam_follows_the_bias_corrected_update_over_several_steps()
    {
        var p = Parameter(1.0, -2.0);
        var adam = new Adam([("p", p)], learningRate: 0.1, weightDecay: 0.01);
        double[] value = [1.0, -2.0], m = [0, 0], v = [0, 0];
        double[] grad = [0.5, -3.0];
        for (int t = 1; t <= 3; t++)
        {
            p.Grad = Tensor.FromArray(grad, new Shape(2), Device.CpuReference);
            adam.Step();
            for (int i = 0; i < 2; i++)
            {
                double g = grad[i] + 0.01 * value[i];
                m[i] = 0.9 * m[i] + 0.1 * g;
                v[i] = 0.999 * v[i] + 0.001 * g * g;
                double mHat = m[i] / (1 - Math.Pow(0.9, t)), vHat = v[i] / (1 - Math.Pow(0.999, t));
                value[i] -= 0.1 * mHat / (Math.Sqrt(vHat) + 1e-8);
            }
            var actual = p.ToArray<double>();
            for (int i = 0; i < 2; i++) Assert.Equal(value[i], actual[i], 12);
        }
        Assert.Equal(3, adam.StepCount);
        Assert.Equal(2, adam.State.Count);
    }

    [Fact]
    public void Sgd_momentum_starts_from_the_first_gradient()
    {
        var p = Parameter(1.0);
        var sgd = new Sgd([("p", p)], learningRate: 0.1, momentum: 0.9);
        p.Grad = Tensor.FromArray(new[] { 1.0 }, new Shape(1), Device.CpuReference);
        sgd.Step();                 // buf = 1, p = 0.9
        sgd.Step();                 // buf = 0.9 + 1 = 1.9, p = 0.71
        Assert.Equal(0.71, p.Item(), 12);
    }

    [Fact]
    public void Parameters_without_a_gradient_are_left_alone()
    {
        var p = Parameter(4.0);
        new Adam([("p", p)]).Step();
        Assert.Equal(4.0, p.Item());
    }

    [Fact]
    public void ReduceLROnPlateau_reduces_after_patience_epochs_without_improvement_but_not_below_the_minimum()
    {
        // Keras's semantics, as the reference code: improvement means beating the best by more than 1e-4.
        var optimizer = new Sgd([("p", Parameter(0))], learningRate: 1e-5);
        var scheduler = new ReduceLROnPlateau(optimizer, factor: 0.2, patience: 3, minLearningRate: 1e-6);
        Assert.False(scheduler.Step(0.5));       // best
        Assert.False(scheduler.Step(0.50005));   // bad 1: not 1e-4 better
        Assert.False(scheduler.Step(0.4));       // bad 2
        Assert.True(scheduler.Step(0.45));       // bad 3 = patience: 1e-5 -> 2e-6
        Assert.Equal(2e-6, optimizer.LearningRate, 15);
        Assert.False(scheduler.Step(0.6));       // improvement resets
        for (int i = 0; i < 3; i++) scheduler.Step(0.1);
        Assert.Equal(1e-6, optimizer.LearningRate, 15); // clamped at the minimum
        for (int i = 0; i < 6; i++) Assert.False(scheduler.Step(0.1));
    }

    [Fact]
    public void EarlyStopping_keeps_and_restores_the_best_weights()
    {
        var model = new Linear(new ParameterFactory(Device.CpuReference, DType.Float64, seed: 3), 2, 1);
        var stopper = new EarlyStopping(patience: 2);
        Assert.True(stopper.Observe(0, 0.7, model));
        var best = model.Weight.ToArray<double>();
        model.Weight.Backend.Fill(model.Weight, 9);
        Assert.False(stopper.Observe(1, 0.6, model));
        Assert.False(stopper.ShouldStop);
        Assert.False(stopper.Observe(2, 0.7, model)); // equal is not better
        Assert.True(stopper.ShouldStop);
        stopper.RestoreBest(model);
        Assert.Equal(best, model.Weight.ToArray<double>());
        Assert.Equal(0, stopper.BestEpoch);
    }

    [Fact]
    public void The_plateau_count_starts_again_after_a_cut()
    {
        var optimizer = new Sgd([("p", Parameter(0))], learningRate: 1.0);
        var scheduler = new ReduceLROnPlateau(optimizer, factor: 0.5, patience: 2);
        scheduler.Step(0.5);
        scheduler.Step(0.4);
        Assert.True(scheduler.Step(0.4));    // the second bad epoch cuts
        Assert.Equal(0, scheduler.BadEpochs);
        Assert.False(scheduler.Step(0.4));   // one bad epoch since the cut: no second cut yet
        Assert.Equal(0.5, optimizer.LearningRate);
    }

    [Fact]
    public void Early_stopping_counts_again_from_an_improvement()
    {
        var model = new Linear(new ParameterFactory(Device.CpuReference, DType.Float64, seed: 3), 2, 1);
        var stopper = new EarlyStopping(patience: 2);
        stopper.Observe(0, 0.5, model);
        stopper.Observe(1, 0.4, model);
        Assert.True(stopper.Observe(2, 0.6, model));
        Assert.Equal(0, stopper.EpochsWithoutImprovement);
        stopper.Observe(3, 0.5, model);
        Assert.False(stopper.ShouldStop);   // one epoch without improvement since the best, not two
    }

    [Fact]
    public void Adam_leaves_a_parameter_with_zero_gradients_unchanged_on_the_fast_path_and_its_tail()
    {
        // m and v stay 0: the update is 0 / (0 + eps) = 0; without eps it would be NaN. 17 = one AVX-512 vector + a tail of one.
        var p = Tensor.Full(new Shape(17), 0.25, DType.Float32, Device.Cpu);
        p.RequiresGrad = true;
        p.Grad = Tensor.Zeros(new Shape(17), DType.Float32, Device.Cpu);
        var adam = new Adam([("p", p)]);
        adam.Step();
        adam.Step();
        Assert.All(p.ToArray<float>(), value => Assert.Equal(0.25f, value));
    }

    [Fact]
    public void Adam_refuses_parameters_of_mixed_dtypes()
    {
        var single = Tensor.Zeros(new Shape(2), DType.Float32, Device.CpuReference);
        var @double = Tensor.Zeros(new Shape(2), DType.Float64, Device.CpuReference);
        Assert.Throws<ArgumentException>(() => new Adam([("single", single), ("double", @double)]));
    }
}
