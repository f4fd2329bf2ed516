using System;
using System.Collections.Generic;

namespace DenseGen.Model;

/// <summary>
/// Used by generated code to lay out a model's tensors. Each call appends one module's tensors in torchvision's
/// state-dict order and gives each the next free offset in its buffer, so the order of the calls is the order
/// of the state dict. Not meant to be called by hand.
/// </summary>
public sealed class LayoutBuilder
{
    private readonly List<TensorInfo> _tensors = [];
    private readonly long[] _next = new long[3]; // next free element, indexed by TensorStorage

    /// <summary>A bias-free Conv2d, <c>{name}.weight</c> of shape [out, in, kernel, kernel].</summary>
    public ConvolutionTensors Convolution(string name, int outputChannels, int inputChannels, int kernel, int stride = 1, int padding = 0) =>
        new(name, outputChannels, inputChannels, kernel, stride, padding,
            Add($"{name}.weight", TensorRole.ConvolutionWeight, outputChannels, inputChannels, kernel, kernel));

    /// <summary>A BatchNorm2d over <paramref name="channels"/> channels.</summary>
    public BatchNormTensors BatchNorm(string name, int channels) => new(
        name, channels,
        Add($"{name}.weight", TensorRole.BatchNormWeight, channels),
        Add($"{name}.bias", TensorRole.BatchNormBias, channels),
        Add($"{name}.running_mean", TensorRole.RunningMean, channels),
        Add($"{name}.running_var", TensorRole.RunningVariance, channels),
        Add($"{name}.num_batches_tracked", TensorRole.BatchesTracked));

    /// <summary>A Linear layer with bias.</summary>
    public LinearTensors Linear(string name, int outputFeatures, int inputFeatures) => new(
        name, outputFeatures, inputFeatures,
        Add($"{name}.weight", TensorRole.LinearWeight, outputFeatures, inputFeatures),
        Add($"{name}.bias", TensorRole.LinearBias, outputFeatures));

    /// <summary>
    /// A composite layer: norm1, conv1, and with a bottleneck (<paramref name="bottleneckChannels"/> &gt; 0) norm2
    /// and conv2. Without one, conv1 is the 3x3 convolution to the growth rate. <paramref name="dropRate"/> is the
    /// dropout rate on the layer's new channels in training.
    /// </summary>
    public DenseLayerTensors DenseLayer(string name, int inputChannels, int bottleneckChannels, int growthRate, double dropRate = 0)
    {
        var norm1 = BatchNorm($"{name}.norm1", inputChannels);
        if (bottleneckChannels <= 0)
        {
            var conv = Convolution($"{name}.conv1", growthRate, inputChannels, kernel: 3, padding: 1);
            return new(name, inputChannels, growthRate, norm1, conv, null, null) { DropRate = dropRate };
        }
        var conv1 = Convolution($"{name}.conv1", bottleneckChannels, inputChannels, kernel: 1);
        var norm2 = BatchNorm($"{name}.norm2", bottleneckChannels);
        var conv2 = Convolution($"{name}.conv2", growthRate, bottleneckChannels, kernel: 3, padding: 1);
        return new(name, inputChannels, growthRate, norm1, conv1, norm2, conv2) { DropRate = dropRate };
    }

    /// <summary>A transition: norm, then a 1x1 conv from <paramref name="inputChannels"/> to <paramref name="outputChannels"/>.</summary>
    public TransitionTensors Transition(string name, int index, int inputChannels, int outputChannels) => new(
        name, index, BatchNorm($"{name}.norm", inputChannels), Convolution($"{name}.conv", outputChannels, inputChannels, kernel: 1));

    /// <summary>Finishes the layout and checks it against the counts the generator computed.</summary>
    /// <exception cref="InvalidOperationException">The counts differ: a bug in DenseGen, not in your model.</exception>
    public ModelLayout Build(
        StemTensors stem, IReadOnlyList<DenseBlockTensors> blocks, IReadOnlyList<TransitionTensors> transitions,
        BatchNormTensors norm5, LinearTensors classifier, long expectedParameters, long expectedRunningStatistics)
    {
        long parameters = _next[(int)TensorStorage.Parameters], statistics = _next[(int)TensorStorage.RunningStatistics];
        if (parameters != expectedParameters || statistics != expectedRunningStatistics)
            throw new InvalidOperationException(
                $"DenseGen bug: the layout holds {parameters} parameters and {statistics} running statistics, " +
                $"the generator planned {expectedParameters} and {expectedRunningStatistics}. Please report it.");
        return new ModelLayout(stem, blocks, transitions, norm5, classifier, _tensors.ToArray());
    }

    private TensorInfo Add(string name, TensorRole role, params int[] shape)
    {
        var storage = role switch
        {
            TensorRole.RunningMean or TensorRole.RunningVariance => TensorStorage.RunningStatistics,
            TensorRole.BatchesTracked => TensorStorage.Counters,
            _ => TensorStorage.Parameters,
        };
        var tensor = new TensorInfo(name, role, storage, _next[(int)storage], shape);
        _next[(int)storage] += tensor.Length;
        _tensors.Add(tensor);
        return tensor;
    }
}
