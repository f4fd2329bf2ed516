using DenseGen;

namespace DenseGen.GpuCheck;

[CifarDenseNet(Depth = 100, Growth = 12, Variant = DenseNetVariant.BC)]
public partial class DenseNetBC100 { }

[ImageNetDenseNet(Depth = 121)]
public partial class DenseNet121 { }

// The small networks of the test suite (tests/DenseGen.Tests/SmallNetworks.cs), checked here on CUDA against the CPU accelerator.
[DenseNet(Classes = 7, InputChannels = 3, InputSize = 11)]
[Stem(Channels = 12)]
[DenseBlock(Layers = 4, Growth = 6, Bottleneck = true)]
[Transition(Compression = 0.5)]
[DenseBlock(Layers = 4, Growth = 6, Bottleneck = true)]
[Transition(Compression = 0.5)]
[DenseBlock(Layers = 4, Growth = 6, Bottleneck = true)]
public partial class SmallBC { }

[DenseNet(Classes = 5, InputChannels = 2, InputSize = 7)]
[Stem(Channels = 5)]
[DenseBlock(Layers = 3, Growth = 3)]
[Transition]
[DenseBlock(Layers = 2, Growth = 5)]
public partial class SmallPlain { }

[DenseNet(Classes = 4, InputChannels = 3, InputSize = 21)]
[Stem(Channels = 8, Kind = StemKind.ImageNet)]
[DenseBlock(Layers = 2, Growth = 4, Bottleneck = true)]
[Transition(Compression = 0.5)]
[DenseBlock(Layers = 2, Growth = 4, Bottleneck = true)]
public partial class SmallImageNet { }
