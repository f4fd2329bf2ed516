namespace DenseGen.Model;

/// <summary>What one row of the layer table computes.</summary>
public enum LayerKind
{
    /// <summary><c>conv0</c>: the 3x3 (CIFAR) or 7x7 stride-2 (ImageNet) convolution on the image.</summary>
    StemConvolution,
    /// <summary>ImageNet stem: BN-ReLU (<c>norm0</c>) and the 3x3 stride-2 max-pool (<c>pool0</c>).</summary>
    StemPool,
    /// <summary>DenseNet-B bottleneck: BN-ReLU-Conv1x1 from the block's first c_l channels to 4k channels.</summary>
    Bottleneck,
    /// <summary>The composite function H_l: BN-ReLU-Conv3x3 producing the layer's k new channels.</summary>
    Composite,
    /// <summary>Transition: BN-ReLU-Conv1x1 to floor(theta m) channels and a 2x2 average pool.</summary>
    Transition,
    /// <summary>Head: BN-ReLU (<c>norm5</c>) and global average pooling.</summary>
    GlobalPool,
    /// <summary>The classifier: a Linear layer to the class scores.</summary>
    Classifier,
}

/// <summary>
/// One row of a generated model's layer table: what a layer reads and writes, with shapes per image.
/// Inside a dense block every layer reads channels [0, InputChannels) of the block's shared buffer and writes
/// its output at channels [OutputChannelOffset, OutputChannelOffset + OutputChannels): concatenation is free.
/// </summary>
/// <param name="Index">Position in execution order.</param>
/// <param name="Name">torchvision's module path (<c>features.denseblock1.denselayer3.conv2</c>).</param>
/// <param name="Kind">What the layer computes.</param>
/// <param name="Block">1-based dense block the layer belongs to or writes into; 0 for the head.</param>
/// <param name="InputChannels">Channels read.</param>
/// <param name="InputSize">Spatial size read (height = width).</param>
/// <param name="OutputChannels">Channels written.</param>
/// <param name="OutputSize">Spatial size written.</param>
/// <param name="OutputChannelOffset">First channel written in the destination buffer (a dense layer's c_l).</param>
/// <param name="Parameters">Trainable parameters of the layer (conv weights, BN gamma and beta, classifier).</param>
/// <param name="MultiplyAdds">Forward multiply-adds for one image, in the paper's order of operations.</param>
public sealed record LayerInfo(
    int Index, string Name, LayerKind Kind, int Block,
    int InputChannels, int InputSize, int OutputChannels, int OutputSize, int OutputChannelOffset,
    long Parameters, long MultiplyAdds);
