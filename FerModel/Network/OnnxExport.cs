using System.Runtime.InteropServices;
using Google.Protobuf;
using Onnx;

namespace FerEngine.Model.Network;

/// <summary>
/// The network in evaluation mode as an ONNX model (opset 17), to run a trained model outside
/// FerEngine (ONNX Runtime, OpenCV's dnn module, a browser):
///   input   "image" [N, C, H, W] float32: pixels / 255, grey (C = 1) or RGB (C = 3), at the trained size
///           (prepared as <see cref="Data.ImageConversion"/> prepares it: BT.601 luma, area-average shrinking)
///   outputs "emotion" [N, 7], "gender" [N, 3], "race" [N, 3], "age" [N, 5]: each head's class probabilities
/// The graph is <see cref="FerNet.ForwardTasks"/> node for node, with a softmax on each head: six blocks of Conv -> Elu -> BatchNormalization
/// (running statistics), MaxPool 2x2 after blocks 2, 4 and 6, then Flatten -> Gemm (fc) -> Elu ->
/// BatchNormalization (bn_fc), and per head Gemm -> Softmax. Dropout is the identity in evaluation and
/// is left out. Weights keep their state-dict names (conv1.weight, ...); metadata_props carry what
/// model.safetensors says (configuration, class names, trained tasks).
/// </summary>
public static class OnnxExport
{
    public const int Opset = 17;
    private const long IrVersion = 8;   // the IR version that goes with opset 17
    private const long MaxWeightBytes = 2_000_000_000;   // protobuf messages are limited to 2 GiB; room left for the graph

    /// <param name="metadata">key-value pairs for the model's metadata_props</param>
    public static byte[] ToBytes(FerNet model, IReadOnlyDictionary<string, string> metadata)
    {
        var state = model.StateDict().ToDictionary(p => p.Name, p => p.Tensor);
        RequireFits(state.Values.Sum(t => t.ElementCount) * sizeof(float));
        var config = model.Config;
        var graph = new GraphBuilder(state);
        graph.Input("image", config.Channels, config.Height, config.ImageWidth);

        string x = "image";
        for (int block = 1; block <= 6; block++)
        {
            int k = state[$"conv{block}.weight"].Shape[3];   // [Cout, Cin, k, k]
            x = graph.Node("Conv", $"conv{block}", [x, graph.Weight($"conv{block}.weight"), graph.Weight($"conv{block}.bias")],
                Ints("kernel_shape", k, k), Ints("pads", k / 2, k / 2, k / 2, k / 2), Ints("strides", 1, 1));
            x = graph.Node("Elu", $"elu{block}", [x], Float("alpha", 1f));
            x = BatchNorm(graph, $"bn{block}", x);
            if (block % 2 == 0) x = graph.Node("MaxPool", $"pool{block / 2}", [x], Ints("kernel_shape", 2, 2), Ints("strides", 2, 2));
        }
        x = graph.Node("Flatten", "flatten", [x], Int("axis", 1));   // [N, C x H x W] in (C, H, W) order, as FerNet flattens
        x = graph.Node("Gemm", "fc", [x, graph.Weight("fc.weight"), graph.Weight("fc.bias")], Int("transB", 1));
        x = graph.Node("Elu", "elu_fc", [x], Float("alpha", 1f));
        x = BatchNorm(graph, "bn_fc", x);
        foreach (var task in Enum.GetValues<FaceTask>())
        {
            string name = task.ToString().ToLowerInvariant();
            string logits = graph.Node("Gemm", $"head_{name}", [x, graph.Weight($"head_{name}.weight"), graph.Weight($"head_{name}.bias")], Int("transB", 1));
            graph.Node("Softmax", name, [logits], Int("axis", 1));
            graph.Output(name, FerNet.ClassCounts[(int)task]);
        }

        var onnx = new ModelProto
        {
            IrVersion = IrVersion,
            ProducerName = "FerEngine",
            ProducerVersion = typeof(OnnxExport).Assembly.GetName().Version?.ToString() ?? "",
            DocString = "Saroop et al. (2021) multi-task facial emotion recognition network, trained with FerEngine. " +
                        "Input \"image\" [N, C, H, W] float32 = pixels / 255 of the face resized to H x W (area average when shrinking); " +
                        "C = 1: grey by BT.601 luma (0.299 R + 0.587 G + 0.114 B), C = 3: R, G, B. " +
                        "Outputs \"emotion\", \"gender\", \"race\", \"age\": class probabilities; class names in the metadata's \"labels\".",
            Graph = graph.Graph,
        };
        onnx.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = Opset });
        foreach (var (key, value) in metadata) onnx.MetadataProps.Add(new StringStringEntryProto { Key = key, Value = value });
        return onnx.ToByteArray();
    }

    /// <summary>Refuses weights that one ONNX file cannot hold (protobuf's 2 GB; this exporter writes no external data).</summary>
    internal static void RequireFits(long weightBytes)
    {
        if (weightBytes > MaxWeightBytes)
            throw new InvalidDataException($"the model's weights take {weightBytes / 1e9:F1} GB, and an ONNX file holds at most 2 GB (a protobuf limit; " +
                                           "this exporter does not write external data). Train a narrower model (--width) or on smaller images (--image-size) to export it.");
    }

    /// <summary>Batch norm with the running statistics: y = (x - running_mean) / sqrt(running_var + eps) * weight + bias.</summary>
    private static string BatchNorm(GraphBuilder graph, string name, string x) =>
        graph.Node("BatchNormalization", name,
            [x, graph.Weight($"{name}.weight"), graph.Weight($"{name}.bias"), graph.Weight($"{name}.running_mean"), graph.Weight($"{name}.running_var")],
            Float("epsilon", (float)FerNet.BatchNormEps));

    private static AttributeProto Ints(string name, params long[] values)
    {
        var attribute = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        attribute.Ints.AddRange(values);
        return attribute;
    }

    private static AttributeProto Int(string name, long value) => new() { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = value };

    private static AttributeProto Float(string name, float value) => new() { Name = name, Type = AttributeProto.Types.AttributeType.Float, F = value };

    /// <summary>Adds nodes, their weights (each once, as float32 initializers) and the graph's inputs and outputs.</summary>
    private sealed class GraphBuilder(IReadOnlyDictionary<string, Tensor> state)
    {
        public GraphProto Graph { get; } = new() { Name = FerNetConfig.Architecture };
        private readonly HashSet<string> _weights = [];

        /// <summary>Adds a node whose one output is named <paramref name="name"/>, and returns that name.</summary>
        public string Node(string op, string name, string[] inputs, params AttributeProto[] attributes)
        {
            var node = new NodeProto { OpType = op, Name = name };
            node.Input.AddRange(inputs);
            node.Output.Add(name);
            node.Attribute.AddRange(attributes);
            Graph.Node.Add(node);
            return name;
        }

        /// <summary>The state-dict tensor <paramref name="name"/> as an initializer (raw little-endian float32).</summary>
        public string Weight(string name)
        {
            if (!_weights.Add(name)) return name;
            var tensor = state[name];
            var proto = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Float };
            foreach (int d in tensor.Shape.Dims) proto.Dims.Add(d);
            proto.RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(tensor.ToArray<float>().AsSpan()));
            Graph.Initializer.Add(proto);
            return name;
        }

        /// <summary>A float32 input [batch, dims...], the batch size left free.</summary>
        public void Input(string name, params int[] dims) => Graph.Input.Add(Value(name, dims));

        public void Output(string name, params int[] dims) => Graph.Output.Add(Value(name, dims));

        private static ValueInfoProto Value(string name, int[] dims)
        {
            var shape = new TensorShapeProto();
            shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimParam = "batch" });
            foreach (int d in dims) shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = d });
            return new ValueInfoProto
            {
                Name = name,
                Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float, Shape = shape } },
            };
        }
    }
}
