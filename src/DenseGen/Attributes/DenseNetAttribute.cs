using System;

namespace DenseGen;

/// <summary>
/// Marks a <c>partial class</c> as a DenseNet declared layer by layer. The network is the
/// <see cref="StemAttribute"/> (optional), then the <see cref="DenseBlockAttribute"/> and
/// <see cref="TransitionAttribute"/> attributes in the order they are written, then the head
/// (BN-ReLU-global average pool-Linear).
/// </summary>
/// <example><code>
/// [DenseNet(Classes = 10, InputChannels = 3, InputSize = 32)]
/// [Stem(Channels = 24)]
/// [DenseBlock(Layers = 16, Growth = 12, Bottleneck = true)]
/// [Transition(Compression = 0.5)]
/// [DenseBlock(Layers = 16, Growth = 12, Bottleneck = true)]
/// [Transition(Compression = 0.5)]
/// [DenseBlock(Layers = 16, Growth = 12, Bottleneck = true)]
/// public partial class DenseNetBC100 { }
/// </code></example>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = false, Inherited = false)]
public sealed class DenseNetAttribute : Attribute
{
    /// <summary>Number of classes the classifier predicts. Default 10.</summary>
    public int Classes { get; set; } = 10;

    /// <summary>Channels of the input image (3 for RGB, 1 for grey). Default 3.</summary>
    public int InputChannels { get; set; } = 3;

    /// <summary>Height and width of the (square) input image in pixels. Default 32.</summary>
    public int InputSize { get; set; } = 32;
}
