using DenseGen;

namespace DenseGen.Tests;

// Small networks that exercise every kernel on odd shapes, fast enough for the CPU accelerator.

// DenseNet-BC: 3 blocks of 4 bottleneck layers, k = 6, 11x11 input (11 -> 5 -> 2), 7 classes.
[DenseNet(Classes = 7, InputChannels = 3, InputSize = 11)]
[Stem(Channels = 12)]
[DenseBlock(Layers = 4, Growth = 6, Bottleneck = true)]
[Transition(Compression = 0.5)]
[DenseBlock(Layers = 4, Growth = 6, Bottleneck = true)]
[Transition(Compression = 0.5)]
[DenseBlock(Layers = 4, Growth = 6, Bottleneck = true)]
public partial class SmallBC { }

// Plain DenseNet layers (BN-ReLU-Conv3x3), no compression, 7x7 input (7 -> 3), 5 classes.
[DenseNet(Classes = 5, InputChannels = 2, InputSize = 7)]
[Stem(Channels = 5)]
[DenseBlock(Layers = 3, Growth = 3)]
[Transition]
[DenseBlock(Layers = 2, Growth = 5)]
public partial class SmallPlain { }

// The ImageNet stem (7x7/2 conv, BN-ReLU, 3x3/2 max-pool) on a 21x21 input (21 -> 11 -> 6 -> 3), odd sizes everywhere.
[DenseNet(Classes = 4, InputChannels = 3, InputSize = 21)]
[Stem(Channels = 8, Kind = StemKind.ImageNet)]
[DenseBlock(Layers = 2, Growth = 4, Bottleneck = true)]
[Transition(Compression = 0.5)]
[DenseBlock(Layers = 2, Growth = 4, Bottleneck = true)]
public partial class SmallImageNet { }

// Dropout 0.2 on every dense layer's new channels, with and without bottlenecks.
[DenseNet(Classes = 3, InputChannels = 2, InputSize = 9)]
[Stem(Channels = 6)]
[DenseBlock(Layers = 3, Growth = 4, Bottleneck = true, DropRate = 0.2)]
[Transition(Compression = 0.5)]
[DenseBlock(Layers = 2, Growth = 5, DropRate = 0.3)]
public partial class SmallDropout { }
