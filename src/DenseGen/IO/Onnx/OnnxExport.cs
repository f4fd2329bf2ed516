using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Runtime.InteropServices;
using DenseGen.Execution;
using DenseGen.IO.Onnx.Proto;
using DenseGen.Model;
using Google.Protobuf;

namespace DenseGen.IO;

/// <summary>
/// Writes a session's evaluation graph as an ONNX model (opset 17), weights included, in torchvision's order of
/// operations: conv0 [norm0, relu, 3x3/2 max-pool]; per dense layer BN-ReLU-Conv (1x1 then BN-ReLU-Conv 3x3 with a
/// bottleneck) on the concatenation of all earlier features; per transition BN-ReLU-Conv1x1 then 2x2 average pool;
/// norm5, ReLU, global average pool, flatten, Gemm. Every BatchNormalization uses that module's own running
/// statistics (evaluation mode); dropout is the identity there and is left out. Initializers keep the state-dict
/// names, so tools show torchvision's names. Input "input" [batch, C, H, W] (batch symbolic), output "logits".
/// </summary>
public static class OnnxExport
{
    /// <summary>The ONNX operator set written.</summary>
    public const int Opset = 17;

    /// <summary>The ONNX IR version that opset 17 requires.</summary>
    public const int IrVersion = 8;

    /// <summary>Builds the model and writes it to <paramref name="path"/> (atomically: temporary file, then rename).</summary>
    public static void Write(DenseNetSession session, string path)
    {
        var bytes = Build(session).ToByteArray();
        string temporary = path + ".tmp-" + Environment.ProcessId;
        using (var file = new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            file.Write(bytes);
            file.Flush(flushToDisk: true);
        }
        File.Move(temporary, path, overwrite: true);
    }

    /// <summary>The ONNX model of the session's current weights and running statistics, serialised.</summary>
    public static byte[] ToBytes(DenseNetSession session) => Build(session).ToByteArray();

    internal static ModelProto Build(DenseNetSession session)
    {
        var model = session.Model;
        var layout = model.Layout;
        var parameters = session.GetParameters();
        var running = session.GetRunningStatistics();
        var graph = new GraphProto { Name = model.Name };
        var b = new GraphBuilder(graph, parameters, running);

        graph.Input.Add(TensorValue("input", model.InputChannels, model.InputSize));
        string x = b.Conv("input", layout.Stem.Conv0);
        if (layout.Stem.Norm0 is { } norm0)
        {
            x = b.Relu(b.BatchNorm(x, norm0), "features.relu0");
            x = b.Node("MaxPool", [x], "features.pool0", Ints("kernel_shape", 3, 3), Ints("strides", 2, 2), Ints("pads", 1, 1, 1, 1));
        }
        for (int i = 0; i < layout.Blocks.Count; i++)
        {
            var block = layout.Blocks[i];
            string features = x;
            foreach (var layer in block.Layers)
            {
                string y = b.Conv(b.Relu(b.BatchNorm(features, layer.Norm1), layer.Name + ".relu1"), layer.Conv1);
                if (layer.Norm2 is { } norm2 && layer.Conv2 is { } conv2)
                    y = b.Conv(b.Relu(b.BatchNorm(y, norm2), layer.Name + ".relu2"), conv2);
                features = b.Node("Concat", [features, y], layer.Name + ".concat", Int("axis", 1));
            }
            x = features;
            if (i < layout.Transitions.Count)
            {
                var t = layout.Transitions[i];
                x = b.Conv(b.Relu(b.BatchNorm(x, t.Norm), t.Name + ".relu"), t.Conv);
                x = b.Node("AveragePool", [x], t.Name + ".pool", Ints("kernel_shape", 2, 2), Ints("strides", 2, 2));
            }
        }
        x = b.Relu(b.BatchNorm(x, layout.Norm5), "features.relu5");
        x = b.Node("GlobalAveragePool", [x], "features.global_pool");
        x = b.Node("Flatten", [x], "flatten", Int("axis", 1));
        var fc = layout.Classifier;
        b.Initializer(fc.Weight, parameters);
        b.Initializer(fc.Bias, parameters);
        graph.Node.Add(new NodeProto { OpType = "Gemm", Name = fc.Name, Input = { x, fc.Weight.Name, fc.Bias.Name }, Output = { "logits" }, Attribute = { Int("transB", 1) } });
        graph.Output.Add(new ValueInfoProto
        {
            Name = "logits",
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float, Shape = Shape(Batch(), Dim(model.Classes)) } },
        });

        var result = new ModelProto
        {
            IrVersion = IrVersion,
            ProducerName = "DenseGen",
            ProducerVersion = typeof(OnnxExport).Assembly.GetName().Version?.ToString() ?? "0",
            DocString = $"{model.Name}: {model.ParameterCount:N0} parameters, evaluation mode (BatchNormalization with running statistics).",
            Graph = graph,
        };
        result.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = Opset });
        return result;
    }

    private static ValueInfoProto TensorValue(string name, int channels, int size) => new()
    {
        Name = name,
        Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float, Shape = Shape(Batch(), Dim(channels), Dim(size), Dim(size)) } },
    };

    private static TensorShapeProto Shape(params TensorShapeProto.Types.Dimension[] dims) { var s = new TensorShapeProto(); s.Dim.AddRange(dims); return s; }
    private static TensorShapeProto.Types.Dimension Batch() => new() { DimParam = "batch" };
    private static TensorShapeProto.Types.Dimension Dim(long value) => new() { DimValue = value };

    internal static AttributeProto Int(string name, long value) => new() { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = value };
    internal static AttributeProto Float(string name, float value) => new() { Name = name, Type = AttributeProto.Types.AttributeType.Float, F = value };
    internal static AttributeProto Ints(string name, params long[] values)
    {
        var a = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        a.Ints.AddRange(values);
        return a;
    }

    /// <summary>Adds nodes and initializers; each node's output is named after the module that computes it.</summary>
    private sealed class GraphBuilder(GraphProto graph, float[] parameters, float[] running)
    {
        public string Node(string op, string[] inputs, string output, params AttributeProto[] attributes)
        {
            var node = new NodeProto { OpType = op, Name = output };
            node.Input.AddRange(inputs);
            node.Output.Add(output);
            node.Attribute.AddRange(attributes);
            graph.Node.Add(node);
            return output;
        }

        public void Initializer(TensorInfo t, float[] source)
        {
            var tensor = new TensorProto { Name = t.Name, DataType = (int)TensorProto.Types.DataType.Float };
            tensor.Dims.AddRange(t.Shape.Select(d => (long)d));
            tensor.RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(source.AsSpan((int)t.Offset, (int)t.Length)));
            graph.Initializer.Add(tensor);
        }

        public string Conv(string input, ConvolutionTensors conv)
        {
            Initializer(conv.Weight, parameters);
            var node = new NodeProto { OpType = "Conv", Name = conv.Name, Input = { input, conv.Weight.Name }, Output = { conv.Name } };
            node.Attribute.Add(Ints("kernel_shape", conv.Kernel, conv.Kernel));
            node.Attribute.Add(Ints("strides", conv.Stride, conv.Stride));
            node.Attribute.Add(Ints("pads", conv.Padding, conv.Padding, conv.Padding, conv.Padding));
            graph.Node.Add(node);
            return conv.Name;
        }

        public string BatchNorm(string input, BatchNormTensors norm)
        {
            Initializer(norm.Weight, parameters);
            Initializer(norm.Bias, parameters);
            Initializer(norm.RunningMean, running);
            Initializer(norm.RunningVariance, running);
            var node = new NodeProto
            {
                OpType = "BatchNormalization", Name = norm.Name,
                Input = { input, norm.Weight.Name, norm.Bias.Name, norm.RunningMean.Name, norm.RunningVariance.Name },
                Output = { norm.Name },
            };
            node.Attribute.Add(Float("epsilon", DenseNetSession.Epsilon));
            node.Attribute.Add(Float("momentum", 0.9f));
            graph.Node.Add(node);
            return norm.Name;
        }

        public string Relu(string input, string name) => Node("Relu", [input], name);
    }
}
