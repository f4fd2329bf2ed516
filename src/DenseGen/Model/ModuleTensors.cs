using System.Collections.Generic;

namespace DenseGen.Model;

/// <summary>A BatchNorm2d module: gamma, beta, running mean and variance, and the step counter.</summary>
public sealed record BatchNormTensors(
    string Name, int Channels, TensorInfo Weight, TensorInfo Bias,
    TensorInfo RunningMean, TensorInfo RunningVariance, TensorInfo BatchesTracked)
{
    /// <summary>The module's tensors in state-dict order.</summary>
    public IEnumerable<TensorInfo> Tensors => [Weight, Bias, RunningMean, RunningVariance, BatchesTracked];
}

/// <summary>A bias-free Conv2d module.</summary>
public sealed record ConvolutionTensors(
    string Name, int OutputChannels, int InputChannels, int Kernel, int Stride, int Padding, TensorInfo Weight);

/// <summary>A Linear module (the classifier).</summary>
public sealed record LinearTensors(string Name, int OutputFeatures, int InputFeatures, TensorInfo Weight, TensorInfo Bias);

/// <summary>
/// The stem: <c>features.conv0</c>, and for the ImageNet stem also <c>features.norm0</c> (applied before the
/// max-pool).
/// </summary>
public sealed record StemTensors(ConvolutionTensors Conv0, BatchNormTensors? Norm0);

/// <summary>
/// One composite layer of a dense block (torchvision's <c>_DenseLayer</c>). With a bottleneck: Norm1-Conv1 (1x1 to
/// the bottleneck width) then Norm2-Conv2 (3x3 to the growth rate). Without: Norm1-Conv1 (3x3 to the growth rate),
/// and <see cref="Norm2"/> and <see cref="Conv2"/> are null.
/// </summary>
public sealed record DenseLayerTensors(
    string Name, int InputChannels, int GrowthRate,
    BatchNormTensors Norm1, ConvolutionTensors Conv1, BatchNormTensors? Norm2, ConvolutionTensors? Conv2)
{
    /// <summary>Dropout rate applied in training to the layer's new channels (torchvision's drop_rate); 0 for none.</summary>
    public double DropRate { get; init; }

    /// <summary>True for a DenseNet-B layer (1x1 bottleneck before the 3x3 convolution).</summary>
    public bool HasBottleneck => Conv2 is not null;
}

/// <summary>A dense block: its composite layers in order.</summary>
public sealed record DenseBlockTensors(string Name, int Index, IReadOnlyList<DenseLayerTensors> Layers);

/// <summary>A transition layer: BN-ReLU-Conv1x1, then a 2x2 average pool (no parameters).</summary>
public sealed record TransitionTensors(string Name, int Index, BatchNormTensors Norm, ConvolutionTensors Conv);
