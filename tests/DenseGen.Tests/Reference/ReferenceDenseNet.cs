using System;
using System.Collections.Generic;
using System.Linq;
using DenseGen.Model;
using static DenseGen.Tests.Reference.ReferenceOps;

namespace DenseGen.Tests.Reference;

/// <summary>
/// A DenseNet in float64, computed the way the paper and torchvision describe it: concatenation by copying, each
/// BatchNorm computing its own batch statistics, transitions as conv then pool. Shares nothing with DenseGen's
/// execution code but the tensor layout (names, shapes, offsets), so parameters can be copied between the two.
/// </summary>
internal sealed class ReferenceDenseNet
{
    private readonly ModelDescription _model;

    public ReferenceDenseNet(ModelDescription model, double[] parameters, double[] running)
    {
        _model = model;
        Parameters = parameters;
        Running = running;
        Gradients = new double[parameters.Length];
        Momentum = new double[parameters.Length];
    }

    public double[] Parameters { get; }
    public double[] Running { get; }
    public double[] Gradients { get; private set; }
    public double[] Momentum { get; }
    public double[] Logits { get; private set; } = [];
    /// <summary>The last run's <see cref="Tape.ReluMargin"/>.</summary>
    public double ReluMargin { get; private set; }
    private bool _firstStep = true;
    private uint _trainingRuns;

    /// <summary>Forward (and in training, backward) of one batch; returns the mean loss.</summary>
    public double Run(double[] images, int[] labels, bool training)
    {
        var layout = _model.Layout;
        var tape = new Tape();
        var grads = new Dictionary<string, double[]>();
        double[] P(TensorInfo t) => Parameters[(int)t.Offset..(int)(t.Offset + t.Length)];
        double[] G(TensorInfo t) => grads.TryGetValue(t.Name, out var g) ? g : grads[t.Name] = new double[t.Length];
        var runningSlices = new List<(TensorInfo Tensor, double[] Values)>();
        double[] R(TensorInfo t) { var v = Running[(int)t.Offset..(int)(t.Offset + t.Length)]; runningSlices.Add((t, v)); return v; }

        Var Bn(Var x, BatchNormTensors bn) =>
            Relu(tape, BatchNorm(tape, x, P(bn.Weight), P(bn.Bias), G(bn.Weight), G(bn.Bias), R(bn.RunningMean), R(bn.RunningVariance), training));
        Var Convolve(Var x, ConvolutionTensors c) => Conv(tape, x, P(c.Weight), G(c.Weight), c.OutputChannels, c.Kernel, c.Stride, c.Padding);

        int n = labels.Length;
        if (training) _trainingRuns++;
        var x = new Var(n, _model.InputChannels, _model.InputSize, _model.InputSize, (double[])images.Clone());
        x = Convolve(x, layout.Stem.Conv0);
        if (layout.Stem.Norm0 is { } norm0) x = MaxPool3(tape, Bn(x, norm0));
        for (int b = 0; b < layout.Blocks.Count; b++)
        {
            var features = new List<Var> { x };
            for (int l = 0; l < layout.Blocks[b].Layers.Count; l++)
            {
                var layer = layout.Blocks[b].Layers[l];
                var h = Convolve(Bn(Concat(tape, features), layer.Norm1), layer.Conv1);
                if (layer.Conv2 is not null) h = Convolve(Bn(h, layer.Norm2!), layer.Conv2);
                // Dropout on the new features; the mask (a random input) uses the session's seed and numbering.
                if (training && layer.DropRate > 0)
                    h = Dropout(tape, h, DenseGen.Execution.DenseNetSession.DropoutSeed(0, _trainingRuns, layout.Blocks[b].Index, l), (float)layer.DropRate);
                features.Add(h);
            }
            x = Concat(tape, features);
            if (b < layout.Transitions.Count)
                x = AvgPool2(tape, Convolve(Bn(x, layout.Transitions[b].Norm), layout.Transitions[b].Conv));
        }
        var pooled = GlobalAvgPool(tape, Bn(x, layout.Norm5));
        var fc = layout.Classifier;
        // [N, C, 1, 1] has the layout of [N, C]: the classifier reads it directly.
        var logits = Linear(tape, pooled, P(fc.Weight), P(fc.Bias), G(fc.Weight), G(fc.Bias), _model.Classes);
        Logits = logits.Data;
        ReluMargin = tape.ReluMargin;
        double loss = CrossEntropy(logits, labels);

        if (training)
        {
            foreach (var (tensor, values) in runningSlices) Array.Copy(values, 0, Running, tensor.Offset, values.Length);
            tape.Backward();
            Gradients = new double[Parameters.Length];
            foreach (var t in layout.Tensors.Where(t => t.Storage == TensorStorage.Parameters))
                Array.Copy(G(t), 0, Gradients, t.Offset, t.Length);
        }
        return loss;
    }

    /// <summary>PyTorch's SGD (dampening 0).</summary>
    public void Step(double lr, double momentum, double weightDecay, bool nesterov)
    {
        for (int i = 0; i < Parameters.Length; i++)
        {
            double d = Gradients[i] + weightDecay * Parameters[i];
            Momentum[i] = _firstStep ? d : momentum * Momentum[i] + d;
            Parameters[i] -= lr * (nesterov ? d + momentum * Momentum[i] : Momentum[i]);
        }
        _firstStep = false;
    }
}
