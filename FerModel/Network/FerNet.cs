using FerEngine.Nn;

namespace FerEngine.Model.Network;

/// <summary>The four heads' logits: emotion [N, 7], gender [N, 3], race [N, 3], age [N, 5].</summary>
public sealed record MultiTaskLogits(Tensor Emotion, Tensor Gender, Tensor Race, Tensor Age)
{
    public Tensor this[FaceTask task] => task switch
    {
        FaceTask.Emotion => Emotion,
        FaceTask.Gender => Gender,
        FaceTask.Race => Race,
        _ => Age,
    };
}

/// <summary>The four tasks, in the order of the heads.</summary>
public enum FaceTask { Emotion, Gender, Race, Age }

/// <summary>
/// The multi-task CNN of Saroop et al. (2021). Every block is convolution -> ELU -> batch norm (in
/// that order, as in the reference code); blocks 2, 4 and 6 end with 2x2 max-pool and dropout.
/// Shapes for C = 1, 48x48, width 1:
///   input [N, 1, 48, 48]
///   conv1 5x5 -> [N, 64, 48, 48]    conv2 5x5 -> [N, 64, 48, 48] -> pool [N, 64, 24, 24], dropout 0.6
///   conv3 3x3 -> [N, 128, 24, 24]   conv4 3x3 -> [N, 128, 24, 24] -> pool [N, 128, 12, 12], dropout 0.5
///   conv5 3x3 -> [N, 256, 12, 12]   conv6 3x3 -> [N, 256, 12, 12] -> pool [N, 256, 6, 6], dropout 0.4
///   flatten [N, 9216] -> fc [N, 128] -> ELU -> bn_fc -> dropout 0.4
///   heads: emotion [N, 7], gender [N, 3], race [N, 3], age [N, 5]
/// Attribute names match the PyTorch reference module, so checkpoints load there unchanged.
/// </summary>
public sealed class FerNet : Module
{
    public const double BatchNormEps = 1e-3;
    public const double BatchNormMomentum = 0.01;   // PyTorch convention: weight of the new batch
    public static readonly int[] ClassCounts = [7, 3, 3, 5];

    private readonly List<(Conv2d Conv, BatchNorm Norm, Dropout? Dropout)> _blocks = [];
    private readonly MaxPool2x2 _pool = new();

    public FerNet(FerNetConfig config, Device device, DType dtype = DType.Float32, ulong seed = 0)
    {
        config.Validate();
        Config = config;
        var f = new ParameterFactory(device, dtype, seed);
        _step = Tensor.Zeros(new Shape(1), DType.Int64, device);   // the training step, shared by every dropout layer
        // (input channels, output channels, kernel, dropout after the block or 0)
        (int In, int Out, int Kernel, double Dropout)[] blocks =
        [
            (config.Channels, config.Block1, 5, 0), (config.Block1, config.Block1, 5, 0.6),
            (config.Block1, config.Block2, 3, 0), (config.Block2, config.Block2, 3, 0.5),
            (config.Block2, config.Block3, 3, 0), (config.Block3, config.Block3, 3, 0.4),
        ];
        for (int i = 0; i < blocks.Length; i++)
        {
            var (inChannels, outChannels, kernel, dropout) = blocks[i];
            var conv = RegisterModule($"conv{i + 1}", new Conv2d(f, inChannels, outChannels, kernel, kernel / 2));
            var norm = RegisterModule($"bn{i + 1}", new BatchNorm(f, outChannels, BatchNormEps, BatchNormMomentum));
            var drop = dropout > 0 ? RegisterModule($"drop{i + 1}", new Dropout(f, dropout, _step)) : null;
            _blocks.Add((conv, norm, drop));
        }
        Fc = RegisterModule("fc", new Linear(f, config.FlatFeatures, config.Hidden));
        BnFc = RegisterModule("bn_fc", new BatchNorm(f, config.Hidden, BatchNormEps, BatchNormMomentum));
        FcDropout = RegisterModule("drop_fc", new Dropout(f, FcDropoutProbability, _step));
        Heads =
        [
            RegisterModule("head_emotion", new Linear(f, config.Hidden, ClassCounts[0])),
            RegisterModule("head_gender", new Linear(f, config.Hidden, ClassCounts[1])),
            RegisterModule("head_race", new Linear(f, config.Hidden, ClassCounts[2])),
            RegisterModule("head_age", new Linear(f, config.Hidden, ClassCounts[3])),
        ];
    }

    public FerNetConfig Config { get; }
    public Linear Fc { get; }
    public BatchNorm BnFc { get; }
    public Dropout FcDropout { get; }
    public IReadOnlyList<Linear> Heads { get; }

    /// <summary>Turns every dropout probability to 0 (dump-step, golden comparisons).</summary>
    public bool DropoutDisabled { get; set; }

    /// <summary>The fully connected layer's dropout (the blocks' rates are in the constructor's table).</summary>
    public const double FcDropoutProbability = 0.4;

    private readonly Tensor _step;

    /// <summary>The training step whose dropout masks to draw, one tensor shared by every dropout layer (see <see cref="Dropout.Step"/>).</summary>
    public void SetStep(ulong step) => _step.Backend.CopyFromHost<long>([(long)step], _step);

    /// <summary>The shared trunk: x [N, C, H, W] (pixels / 255) -> features [N, Hidden]; the logits come from <see cref="ForwardTasks"/>.</summary>
    public override Tensor Forward(Tensor x)
    {
        for (int i = 0; i < _blocks.Count; i++)
        {
            var (conv, norm, drop) = _blocks[i];
            x = norm.ForwardOfElu(conv.ForwardWithoutBias(x), conv.Bias);   // batch norm of ELU(conv(x) + bias), one op
            if (drop is not null)
            {
                x = _pool.Forward(x);
                if (!DropoutDisabled) x = drop.Forward(x);
            }
        }
        x = BnFc.ForwardOfElu(Fc.ForwardWithoutBias(x.Flatten(1)), Fc.Bias);
        return DropoutDisabled ? x : FcDropout.Forward(x);
    }

    /// <summary>x [N, C, H, W] -> the four heads' logits.</summary>
    public MultiTaskLogits ForwardTasks(Tensor x)
    {
        var features = Forward(x);
        return new(Heads[0].Forward(features), Heads[1].Forward(features), Heads[2].Forward(features), Heads[3].Forward(features));
    }
}
