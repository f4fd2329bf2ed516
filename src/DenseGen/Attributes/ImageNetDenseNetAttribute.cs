using System;

namespace DenseGen;

/// <summary>
/// One of the paper's ImageNet networks by depth: DenseNet-121, -161, -169, -201 or -264 (all DenseNet-BC;
/// growth rate 32, or 48 for -161), with the 7x7 stride-2 stem and max-pool, four dense blocks and
/// torchvision's final BN (<c>norm5</c>). <c>[ImageNetDenseNet(Depth = 121)]</c> is torchvision's densenet121.
/// </summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = false, Inherited = false)]
public sealed class ImageNetDenseNetAttribute : Attribute
{
    /// <summary>121, 161, 169, 201 or 264. Required.</summary>
    public int Depth { get; set; }

    /// <summary>Dropout rate after each dense layer (torchvision's <c>drop_rate</c>). Default 0.</summary>
    public double DropRate { get; set; }

    /// <summary>Number of classes. Default 1000.</summary>
    public int Classes { get; set; } = 1000;

    /// <summary>Channels of the input image. Default 3.</summary>
    public int InputChannels { get; set; } = 3;

    /// <summary>Input height and width. Default 224.</summary>
    public int InputSize { get; set; } = 224;
}
