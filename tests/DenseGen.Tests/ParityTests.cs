using System;
using System.IO;
using System.Linq;
using DenseGen.Execution;
using DenseGen.IO;
using Xunit;

namespace DenseGen.Tests;

/// <summary>The parity API does what its contract says, in its order (the PyTorch comparison itself runs on the GPU host).</summary>
public sealed class ParityTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("densegen-parity-").FullName;

    [Fact]
    public void Parity_run_equals_the_same_steps_on_a_session()
    {
        var random = new Random(9);
        var images = Enumerable.Range(0, 2 * 3 * 11 * 11).Select(_ => (float)random.NextDouble()).ToArray();
        long[] labels = [4, 1];
        using (var source = SmallBC.CreateSession(TestDevice.Instance, 2))
        {
            source.SetParameters(source.GetParameters().Select(p => p + 0.01f).ToArray());
            ModelWeights.Save(source, Path.Combine(_folder, "weights.safetensors"));
        }
        var sgd = new SgdOptions(0.1f);
        var result = Parity.Run(SmallBC.Description, TestDevice.Instance, Path.Combine(_folder, "weights.safetensors"), images, labels, sgd);

        using var session = SmallBC.CreateSession(TestDevice.Instance, 2);
        ModelWeights.Load(session, Path.Combine(_folder, "weights.safetensors"));
        Assert.Equal(session.ForwardBackward(images, [4, 1]), result.Loss);
        Assert.Equal(session.GetLogits(), result.Logits);
        var gradients = session.GetGradients();
        foreach (var t in SmallBC.Layout.Tensors.Where(t => t.Storage == Model.TensorStorage.Parameters))
            Assert.Equal(gradients.AsSpan((int)t.Offset, (int)t.Length).ToArray(), result.Gradients[t.Name]);
        Assert.Equal(session.Forward(images, training: false), result.EvaluationLogits);
        session.Step(sgd);
        var after = session.GetParameters();
        Assert.Equal(after.AsSpan(0, 10).ToArray(), result.ParametersAfterStep["features.conv0.weight"][..10]);

        Parity.Save(SmallBC.Description, result.Gradients, Path.Combine(_folder, "gradients.safetensors"));
        var saved = SafeTensorsFile.Open(Path.Combine(_folder, "gradients.safetensors"));
        Assert.Equal(result.Gradients["classifier.bias"], saved.ReadFloat32("classifier.bias"));
        Parity.WriteFloat32(Path.Combine(_folder, "x.f32"), images);
        Assert.Equal(images, Parity.ReadFloat32(Path.Combine(_folder, "x.f32")));
    }

    public void Dispose() => Directory.Delete(_folder, recursive: true);
}
