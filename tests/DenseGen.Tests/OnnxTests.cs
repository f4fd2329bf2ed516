using System;
using System.Linq;
using DenseGen.Execution;
using DenseGen.IO;
using DenseGen.Model;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Xunit;
using Xunit.Abstractions;

namespace DenseGen.Tests;

/// <summary>
/// The ONNX export checked by an independent implementation: ONNX Runtime (CPU) runs the exported evaluation graph
/// and its logits must match DenseGen's evaluation forward within 1e-4 relative.
/// </summary>
public sealed class OnnxTests(ITestOutputHelper output)
{
    public static TheoryData<string> Networks => new() { "DenseNetBC100K12", "DenseNet121", "SmallImageNet", "SmallDropout" };

    private static ModelDescription Describe(string name) => name switch
    {
        "DenseNetBC100K12" => DenseNetBC100K12.Description,
        "DenseNet121" => DenseNet121.Description,
        "SmallImageNet" => SmallImageNet.Description,
        "SmallDropout" => SmallDropout.Description,
        _ => throw new ArgumentException(name),
    };

    [Theory]
    [MemberData(nameof(Networks))]
    public void Onnx_runtime_reproduces_the_evaluation_logits(string name)
    {
        var model = Describe(name);
        const int batch = 2;
        using var session = new DenseNetSession(model, TestDevice.Instance, batch);
        session.InitializeParameters(5);
        // BN affine terms away from 1 and 0, and running statistics from the data (training-mode forwards update
        // them), so that every BN term shows in the logits and the logits have a realistic scale.
        var random = new Random(11);
        var parameters = session.GetParameters();
        foreach (var t in model.Layout.Tensors)
            for (long i = t.Offset; i < t.Offset + t.Length; i++)
                switch (t.Role)
                {
                    case TensorRole.BatchNormWeight: parameters[i] = (float)(0.6 + 0.8 * random.NextDouble()); break;
                    case TensorRole.BatchNormBias: parameters[i] = (float)(0.2 * random.NextDouble() - 0.1); break;
                }
        session.SetParameters(parameters);
        var images = Enumerable.Range(0, batch * model.InputChannels * model.InputSize * model.InputSize).Select(_ => (float)(2 * random.NextDouble() - 1)).ToArray();
        for (int i = 0; i < (model.InputSize > 64 ? 3 : 8); i++) session.Forward(images, training: true); // fewer at 224x224: time
        var ours = session.Forward(images, training: false);

        var bytes = OnnxExport.ToBytes(session);
        using var options = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_DISABLE_ALL };
        using var onnx = new InferenceSession(bytes, options);
        var input = new DenseTensor<float>(images, [batch, model.InputChannels, model.InputSize, model.InputSize]);
        using var results = onnx.Run([NamedOnnxValue.CreateFromTensor("input", input)]);
        var theirs = results.Single(r => r.Name == "logits").AsTensor<float>().ToArray();

        Assert.Equal(batch * model.Classes, theirs.Length);
        double scale = theirs.Average(v => Math.Abs(v)), worst = 0;
        for (int i = 0; i < theirs.Length; i++)
        {
            double relative = Math.Abs(ours[i] - theirs[i]) / (Math.Abs(theirs[i]) + scale);
            worst = Math.Max(worst, relative);
        }
        output.WriteLine($"{model.Name}: {theirs.Length} logits, mean |logit| {scale:G4}, worst relative difference {worst:E2}; {bytes.Length:N0} bytes of ONNX");
        Assert.True(worst <= 1e-4, $"{model.Name}: ONNX Runtime and DenseGen differ by {worst:E2} relative (limit 1e-4)");
    }

    [Fact]
    public void The_graph_uses_opset_17_and_torchvision_names()
    {
        using var session = new DenseNetSession(SmallDropout.Description, TestDevice.Instance, 1);
        session.InitializeParameters(1);
        var proto = IO.Onnx.Proto.ModelProto.Parser.ParseFrom(OnnxExport.ToBytes(session));
        Assert.Equal(17, proto.OpsetImport.Single().Version);
        var ops = proto.Graph.Node.Select(n => n.OpType).Distinct().Order().ToArray();
        Assert.Equal(new[] { "AveragePool", "BatchNormalization", "Concat", "Conv", "Flatten", "Gemm", "GlobalAveragePool", "Relu" }, ops);
        var names = proto.Graph.Initializer.Select(t => t.Name).ToHashSet();
        foreach (var t in SmallDropout.Description.Layout.Tensors.Where(t => t.Storage != TensorStorage.Counters))
            Assert.Contains(t.Name, names);
    }
}
