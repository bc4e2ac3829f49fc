using System.CommandLine;
using FerEngine.Checkpoint;
using FerEngine.Model.Network;

namespace FerEngine.Trainer.Commands;

/// <summary>
/// `fer export`: a trained model as an ONNX file (<see cref="OnnxExport"/>), to run it outside FerEngine:
/// ONNX Runtime, OpenCV's dnn module, a browser. The file is written whole or not at all.
/// </summary>
public static class ExportCommand
{
    public static Command Create(TextWriter output)
    {
        var model = CommonOptions.Model();
        var outFile = new Option<string>("--out") { Description = "The .onnx file to write.", Required = true }
            .Require(o => !string.IsNullOrWhiteSpace(o), "must name a file.");
        var command = new Command("export", "Write a trained model as ONNX, to run it with ONNX Runtime, OpenCV or in a browser.") { model, outFile };
        command.SetAction(parse =>
        {
            var error = parse.InvocationConfiguration.Error;   // stderr, or what Program.Run was given
            string modelPath = parse.GetValue(model)!;
            string outPath = CommonOptions.OutputFile(parse.GetValue(outFile)!, modelPath, ".onnx");
            var net = CommonOptions.LoadModel(modelPath, "cpu", error);
            // The model file's own description (configuration, class names, trained tasks), less what names the safetensors format.
            var metadata = SafetensorsFile.ReadMetadata(modelPath).Where(entry => entry.Key != ModelFile.FormatKey).ToDictionary();
            byte[] onnx = OnnxExport.ToBytes(net, metadata);
            AtomicFile.Write(outPath, stream => stream.Write(onnx));
            var config = net.Config;
            output.WriteLine($"wrote {outPath} ({onnx.Length / 1e6:F1} MB, ONNX opset {OnnxExport.Opset})");
            output.WriteLine($"  input  \"image\" [N, {config.Channels}, {config.Height}, {config.ImageWidth}] float32: pixels / 255{(config.Channels == 1 ? ", grey (0.299 R + 0.587 G + 0.114 B)" : ", R, G, B")}");
            output.WriteLine($"  outputs \"emotion\" [N, 7], \"gender\" [N, 3], \"race\" [N, 3], \"age\" [N, 5]: class probabilities (class names in the file's metadata, \"{ModelFile.LabelsKey}\")");
            return Program.Success;
        });
        return command;
    }
}
