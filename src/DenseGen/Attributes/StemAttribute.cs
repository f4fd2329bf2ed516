using System;

namespace DenseGen;

/// <summary>
/// The first convolution, before the first dense block. Optional: without it a network gets the paper's
/// CIFAR stem, a 3x3 convolution with 16 output channels.
/// </summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = false, Inherited = false)]
public sealed class StemAttribute : Attribute
{
    /// <summary>Output channels of the stem convolution: the first block's input width k0.
    /// The paper uses 16 for plain DenseNets and twice the growth rate for DenseNet-BC. Default 16.</summary>
    public int Channels { get; set; } = 16;

    /// <summary>Which stem: <see cref="StemKind.Cifar"/> (default) or <see cref="StemKind.ImageNet"/>.</summary>
    public StemKind Kind { get; set; } = StemKind.Cifar;
}
