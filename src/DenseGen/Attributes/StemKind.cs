namespace DenseGen;

/// <summary>The convolution that turns the image into the first dense block's input.</summary>
public enum StemKind
{
    /// <summary>3x3 convolution, stride 1, padding 1 (the paper's CIFAR and SVHN networks).</summary>
    Cifar = 0,

    /// <summary>7x7 convolution, stride 2, padding 3, then BN-ReLU and a 3x3 max-pool with stride 2
    /// (the paper's ImageNet networks): the image shrinks by 4 before the first block.</summary>
    ImageNet = 1,
}
