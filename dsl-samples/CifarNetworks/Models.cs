using DenseGen;

namespace Samples.Cifar;

// DenseNet (L=40, k=12), declared layer by layer: a 16-channel 3x3 stem, three blocks of (40-4)/3 = 12
// BN-ReLU-Conv3x3 layers, and transitions without compression. 1,019,722 parameters on CIFAR-10.
[DenseNet(Classes = 10, InputChannels = 3, InputSize = 32)]
[Stem(Channels = 16)]
[DenseBlock(Layers = 12, Growth = 12)]
[Transition]
[DenseBlock(Layers = 12, Growth = 12)]
[Transition]
[DenseBlock(Layers = 12, Growth = 12)]
public partial class DenseNet40 { }

// DenseNet-BC (L=100, k=12) from the paper's preset: 769,162 parameters on CIFAR-10.
[CifarDenseNet(Depth = 100, Growth = 12, Variant = DenseNetVariant.BC)]
public partial class DenseNetBC100 { }

// The same network written out: bottlenecks of 4k = 48 channels, compression 0.5 and a 2k = 24-channel stem.
[DenseNet(Classes = 10, InputChannels = 3, InputSize = 32)]
[Stem(Channels = 24)]
[DenseBlock(Layers = 16, Growth = 12, Bottleneck = true)]
[Transition(Compression = 0.5)]
[DenseBlock(Layers = 16, Growth = 12, Bottleneck = true)]
[Transition(Compression = 0.5)]
[DenseBlock(Layers = 16, Growth = 12, Bottleneck = true)]
public partial class DenseNetBC100Explicit { }

// DenseNet-BC (L=100, k=12) for CIFAR-100: 800,032 parameters.
[CifarDenseNet(Depth = 100, Growth = 12, Variant = DenseNetVariant.BC, Classes = 100)]
public partial class DenseNetBC100Cifar100 { }
