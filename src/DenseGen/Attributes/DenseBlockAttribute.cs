using System;

namespace DenseGen;

/// <summary>
/// A dense block: <see cref="Layers"/> composite layers at one spatial size, each reading the concatenation of
/// the block input and every earlier layer's output, and adding <see cref="Growth"/> channels (the growth rate k).
/// A block with input width k0 ends with k0 + Layers * Growth channels.
/// </summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = true, Inherited = false)]
public sealed class DenseBlockAttribute : Attribute
{
    /// <summary>Number of composite layers in the block. Required (at least 1).</summary>
    public int Layers { get; set; }

    /// <summary>The growth rate k: channels each layer adds. Required (at least 1).</summary>
    public int Growth { get; set; }

    /// <summary>DenseNet-B: each layer is BN-ReLU-Conv1x1 to <see cref="BottleneckWidth"/> x k channels, then
    /// BN-ReLU-Conv3x3 to k. Without it a layer is BN-ReLU-Conv3x3. Default false.</summary>
    public bool Bottleneck { get; set; }

    /// <summary>Width of the bottleneck 1x1 convolution as a multiple of the growth rate (the paper's 4k;
    /// torchvision's <c>bn_size</c>). Only used with <see cref="Bottleneck"/>. Default 4.</summary>
    public int BottleneckWidth { get; set; } = 4;

    /// <summary>Dropout rate after each convolution of the block's layers (the paper uses 0.2 when training
    /// without data augmentation). In [0, 1). Default 0.</summary>
    public double DropRate { get; set; }
}
