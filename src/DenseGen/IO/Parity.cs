using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using DenseGen.Execution;
using DenseGen.Model;

namespace DenseGen.IO;

/// <summary>What one parity run computed (see <see cref="Parity.Run"/>).</summary>
/// <param name="Loss">Mean softmax cross-entropy of the training-mode forward.</param>
/// <param name="Logits">Training-mode logits [N, classes].</param>
/// <param name="EvaluationLogits">Evaluation-mode logits after that forward (running statistics updated once).</param>
/// <param name="Gradients">Every parameter's gradient, by torchvision name.</param>
/// <param name="ParametersAfterStep">Every parameter after one SGD step, by torchvision name.</param>
public sealed record ParityResult(
    float Loss, float[] Logits, float[] EvaluationLogits,
    IReadOnlyDictionary<string, float[]> Gradients, IReadOnlyDictionary<string, float[]> ParametersAfterStep);

/// <summary>
/// Checks DenseGen against another framework with files both can read: weights as safetensors under torchvision's
/// names, the input batch as raw little-endian float32 NCHW, labels as raw little-endian int64. One run does
/// exactly what a PyTorch script does in the same order: load the weights; training-mode forward and backward
/// (loss, logits, gradients; running statistics updated once); evaluation-mode forward; one SGD step.
/// </summary>
public static class Parity
{
    /// <summary>Runs the sequence above on <paramref name="model"/>.</summary>
    public static ParityResult Run(ModelDescription model, ComputeDevice device, string weightsPath, float[] images, long[] labels, SgdOptions sgd)
    {
        int batch = labels.Length;
        long perImage = (long)model.InputChannels * model.InputSize * model.InputSize;
        if (images.Length != batch * perImage)
            throw new ArgumentException($"{images.Length} input values do not make {batch} images of {model.InputChannels}x{model.InputSize}x{model.InputSize}.");
        using var session = new DenseNetSession(model, device, batch);
        ModelWeights.Load(session, weightsPath);
        float loss = session.ForwardBackward(images, labels.Select(l => checked((int)l)).ToArray());
        var logits = session.GetLogits();
        var gradients = ByName(model, session.GetGradients());
        var evaluation = session.Forward(images, training: false);
        session.Step(sgd);
        return new ParityResult(loss, logits, evaluation, gradients, ByName(model, session.GetParameters()));
    }

    /// <summary>Saves tensors by name (gradients or parameters) as safetensors, in the layout's order.</summary>
    public static void Save(ModelDescription model, IReadOnlyDictionary<string, float[]> tensors, string path) =>
        SafeTensorsFile.Write(path, model.Layout.Tensors.Where(t => tensors.ContainsKey(t.Name)).Select(t => (t.Name, t.Shape, (Array)tensors[t.Name])));

    /// <summary>Reads raw little-endian float32 values.</summary>
    public static float[] ReadFloat32(string path)
    {
        var bytes = File.ReadAllBytes(path);
        if (bytes.Length % 4 != 0) throw new Data.DataFormatException(path, bytes.Length - bytes.Length % 4, "not a whole number of float32 values");
        return System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(bytes).ToArray();
    }

    /// <summary>Reads raw little-endian int64 values.</summary>
    public static long[] ReadInt64(string path)
    {
        var bytes = File.ReadAllBytes(path);
        if (bytes.Length % 8 != 0) throw new Data.DataFormatException(path, bytes.Length - bytes.Length % 8, "not a whole number of int64 values");
        return System.Runtime.InteropServices.MemoryMarshal.Cast<byte, long>(bytes).ToArray();
    }

    /// <summary>Writes raw little-endian float32 values.</summary>
    public static void WriteFloat32(string path, float[] values) =>
        File.WriteAllBytes(path, System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()).ToArray());

    private static Dictionary<string, float[]> ByName(ModelDescription model, float[] flat) => model.Layout.Tensors
        .Where(t => t.Storage == TensorStorage.Parameters)
        .ToDictionary(t => t.Name, t => flat.AsSpan((int)t.Offset, (int)t.Length).ToArray());
}
