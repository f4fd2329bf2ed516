using System;

namespace DenseGen;

/// <summary>
/// One of the paper's CIFAR/SVHN networks by depth L and growth rate k: a 3x3 stem, three dense blocks at 32, 16
/// and 8 pixels with two transitions between them, and the BN-ReLU-pool-Linear head.
/// <c>[CifarDenseNet(Depth = 100, Growth = 12, Variant = DenseNetVariant.BC)]</c> is DenseNet-BC (L=100, k=12).
/// </summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = false, Inherited = false)]
public sealed class CifarDenseNetAttribute : Attribute
{
    /// <summary>The depth L: 3 blocks of (L-4)/3 layers, or (L-4)/6 with bottlenecks (B, BC). Required.</summary>
    public int Depth { get; set; }

    /// <summary>The growth rate k. Required.</summary>
    public int Growth { get; set; }

    /// <summary>Basic, B (bottleneck), C (compression) or BC (both). Default Basic.</summary>
    public DenseNetVariant Variant { get; set; } = DenseNetVariant.Basic;

    /// <summary>The compression factor theta of the C and BC variants. Default 0.5.</summary>
    public double Compression { get; set; } = 0.5;

    /// <summary>Dropout rate after each convolution (the paper uses 0.2 without data augmentation). Default 0.</summary>
    public double DropRate { get; set; }

    /// <summary>Number of classes. Default 10 (CIFAR-10); 100 for CIFAR-100.</summary>
    public int Classes { get; set; } = 10;

    /// <summary>Channels of the input image. Default 3.</summary>
    public int InputChannels { get; set; } = 3;

    /// <summary>Input height and width. Default 32.</summary>
    public int InputSize { get; set; } = 32;
}
