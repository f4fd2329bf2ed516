using System;
using System.IO;
using System.Linq;
using DenseGen.Execution;
using DenseGen.IO;
using DenseGen.Model;
using Samples.Parity;

// The DenseGen half of a parity check against PyTorch (see README, "Checking DenseGen against PyTorch"):
//   dotnet run --project dsl-samples/Parity -- densenet-bc-100|densenet-121 FOLDER
// reads FOLDER/weights.safetensors (torchvision names), FOLDER/input.f32 (float32 NCHW) and FOLDER/labels.i64, and
// writes FOLDER/densegen_loss.txt, densegen_logits.f32, densegen_eval_logits.f32, densegen_gradients.safetensors and
// densegen_after_step.safetensors (one SGD step: lr 0.1, Nesterov momentum 0.9, weight decay 1e-4).
if (args.Length != 2 || args[0] is not ("densenet-bc-100" or "densenet-121"))
{
    Console.Error.WriteLine("usage: Parity densenet-bc-100|densenet-121 FOLDER");
    return 2;
}
ModelDescription model = args[0] == "densenet-121" ? DenseNet121.Description : DenseNetBC100.Description;
string folder = args[1];
using var device = ComputeDevice.Open();
var result = Parity.Run(model, device, Path.Combine(folder, "weights.safetensors"),
    Parity.ReadFloat32(Path.Combine(folder, "input.f32")), Parity.ReadInt64(Path.Combine(folder, "labels.i64")),
    new SgdOptions(LearningRate: 0.1f, Momentum: 0.9f, WeightDecay: 1e-4f, Nesterov: true));
File.WriteAllText(Path.Combine(folder, "densegen_loss.txt"), result.Loss.ToString("R", System.Globalization.CultureInfo.InvariantCulture));
Parity.WriteFloat32(Path.Combine(folder, "densegen_logits.f32"), result.Logits);
Parity.WriteFloat32(Path.Combine(folder, "densegen_eval_logits.f32"), result.EvaluationLogits);
Parity.Save(model, result.Gradients, Path.Combine(folder, "densegen_gradients.safetensors"));
Parity.Save(model, result.ParametersAfterStep, Path.Combine(folder, "densegen_after_step.safetensors"));
Console.WriteLine($"{model.Name} on {device}: loss {result.Loss:F6}, {result.Gradients.Count} gradients written to {folder}");
return 0;
