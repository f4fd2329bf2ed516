using DenseGen;

namespace Samples.ImageNet;

// torchvision's densenet121: 7,978,856 parameters, 2.83 G multiply-adds per 224x224 image.
[ImageNetDenseNet(Depth = 121)]
public partial class DenseNet121 { }

// The deepest network of the paper's Table 1: 33,337,704 parameters.
[ImageNetDenseNet(Depth = 264)]
public partial class DenseNet264 { }

// DenseNet-121 written out with the ImageNet stem, to show what the preset declares.
[DenseNet(Classes = 1000, InputChannels = 3, InputSize = 224)]
[Stem(Channels = 64, Kind = StemKind.ImageNet)]
[DenseBlock(Layers = 6, Growth = 32, Bottleneck = true)]
[Transition(Compression = 0.5)]
[DenseBlock(Layers = 12, Growth = 32, Bottleneck = true)]
[Transition(Compression = 0.5)]
[DenseBlock(Layers = 24, Growth = 32, Bottleneck = true)]
[Transition(Compression = 0.5)]
[DenseBlock(Layers = 16, Growth = 32, Bottleneck = true)]
public partial class DenseNet121Explicit { }
