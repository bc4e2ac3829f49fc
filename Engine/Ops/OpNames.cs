namespace FerEngine.Ops;

/// <summary>
/// Every operation with an autograd rule. Autograd refuses to record an op missing from this
/// list, and the gradient-check suite fails if an op here has no finite-difference check.
/// </summary>
public static class OpNames
{
    public const string Add = "add";
    public const string Multiply = "multiply";
    public const string Scale = "scale";
    public const string Sum = "sum";
    public const string Mean = "mean";
    public const string Reshape = "reshape";
    public const string Linear = "linear";
    public const string Conv2d = "conv2d";
    public const string Elu = "elu";
    public const string Relu = "relu";
    public const string BatchNorm = "batch_norm";
    public const string EluBatchNorm = "elu_batch_norm";
    public const string MaxPool2x2 = "max_pool2x2";
    public const string Dropout = "dropout";
    public const string SoftmaxCrossEntropy = "softmax_cross_entropy";
    public const string JointSoftmaxCrossEntropy = "joint_softmax_cross_entropy";

    public static readonly IReadOnlySet<string> All = new HashSet<string>
    {
        Add, Multiply, Scale, Sum, Mean, Reshape, Linear, Conv2d, Elu, Relu, BatchNorm, EluBatchNorm, MaxPool2x2, Dropout,
        SoftmaxCrossEntropy, JointSoftmaxCrossEntropy,
    };
}
