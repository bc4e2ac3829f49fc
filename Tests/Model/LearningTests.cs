using FerEngine.Model.Data;
using FerEngine.Model.Network;
using FerEngine.Model.Training;
using FerEngine.Optim;

namespace FerEngine.Tests.Model;

/// <summary>
/// The whole network learns: forward, joint loss, backward and Adam together drive every head's loss
/// on one batch of synthetic faces far below chance. The gradient checks show each op is right; this
/// shows they are wired together right (a head cut off from the loss, a gradient dropped at a sum,
/// or an optimiser that skips a parameter would each leave a task's loss high).
/// </summary>
public class LearningTests
{
    const int Steps = 100;

    // On the fast CPU backend only: the reference backend runs the same graph (the step tests compare
    // the two) but would take a minute here.
    [Fact]
    public void The_network_learns_one_batch_of_synthetic_faces_for_every_task()
    {
        var device = Device.Cpu;
        var faces = SyntheticFaces.Generate(16, 0, seed: 5, channels: 1, height: 48, width: 48);
        var (x, labels) = BatchBuilder.Build(faces, faces.Train, Enumerable.Range(0, 16).ToArray(), device);
        // Equal task weights: with the paper's (gender 0.1) gender would learn ten times slower.
        var model = new FerNet(new FerNetConfig(Width: 0.125), device, seed: 5) { DropoutDisabled = true };
        using var step = new TrainStep(model, new Adam(model.NamedParameters(), learningRate: 1e-3), new TaskWeights(1, 1, 1, 1));

        StepLosses first = step.ReadLosses(step.Run(x, labels, step: 0)), last = first;
        for (ulong i = 1; i < Steps; i++) last = step.ReadLosses(step.Run(x, labels, step: i));

        // Chance is ln(classes): 1.95 for emotion, 1.10 for gender and race, 1.61 for age.
        (string Task, double First, double Last)[] tasks =
            [("emotion", first.Emotion, last.Emotion), ("gender", first.Gender, last.Gender), ("race", first.Race, last.Race), ("age", first.Age, last.Age)];
        foreach (var (task, before, after) in tasks)
            Assert.True(after < 0.25 && after < before / 5, $"{task}: loss {before:F3} at the first step, {after:F3} after {Steps} steps");
    }
}
