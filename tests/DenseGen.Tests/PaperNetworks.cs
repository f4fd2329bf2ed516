using DenseGen;

namespace DenseGen.Tests;

// Every network whose parameter count the paper (or torchvision) states, declared as a user would.

[CifarDenseNet(Depth = 40, Growth = 12)] public partial class DenseNet40K12 { }
[CifarDenseNet(Depth = 100, Growth = 12)] public partial class DenseNet100K12 { }
[CifarDenseNet(Depth = 100, Growth = 24)] public partial class DenseNet100K24 { }
[CifarDenseNet(Depth = 100, Growth = 12, Variant = DenseNetVariant.BC)] public partial class DenseNetBC100K12 { }
[CifarDenseNet(Depth = 100, Growth = 12, Variant = DenseNetVariant.BC, Classes = 100)] public partial class DenseNetBC100K12C100 { }
[CifarDenseNet(Depth = 250, Growth = 24, Variant = DenseNetVariant.BC)] public partial class DenseNetBC250K24 { }
[CifarDenseNet(Depth = 190, Growth = 40, Variant = DenseNetVariant.BC)] public partial class DenseNetBC190K40 { }

[ImageNetDenseNet(Depth = 121)] public partial class DenseNet121 { }
[ImageNetDenseNet(Depth = 161)] public partial class DenseNet161 { }
[ImageNetDenseNet(Depth = 169)] public partial class DenseNet169 { }
[ImageNetDenseNet(Depth = 201)] public partial class DenseNet201 { }
[ImageNetDenseNet(Depth = 264)] public partial class DenseNet264 { }

// DenseNet-BC-100 and DenseNet-121 written out layer by layer: must equal the presets.
[DenseNet(Classes = 10, InputChannels = 3, InputSize = 32)]
[Stem(Channels = 24)]
[DenseBlock(Layers = 16, Growth = 12, Bottleneck = true)]
[Transition(Compression = 0.5)]
[DenseBlock(Layers = 16, Growth = 12, Bottleneck = true)]
[Transition(Compression = 0.5)]
[DenseBlock(Layers = 16, Growth = 12, Bottleneck = true)]
public partial class DenseNetBC100Explicit { }

[DenseNet(Classes = 1000, InputSize = 224)]
[Stem(Channels = 64, Kind = StemKind.ImageNet)]
[DenseBlock(Layers = 6, Growth = 32, Bottleneck = true)]
[Transition(Compression = 0.5)]
[DenseBlock(Layers = 12, Growth = 32, Bottleneck = true)]
[Transition(Compression = 0.5)]
[DenseBlock(Layers = 24, Growth = 32, Bottleneck = true)]
[Transition(Compression = 0.5)]
[DenseBlock(Layers = 16, Growth = 32, Bottleneck = true)]
public partial class DenseNet121Explicit { }

// Shapes that exercise the edges: nesting, a record, the global namespace is in GlobalNetwork.cs.
public static partial class Outer
{
    [DenseNet(Classes = 7, InputChannels = 1, InputSize = 11)]
    [DenseBlock(Layers = 4, Growth = 6, Bottleneck = true, DropRate = 0.2)]
    [Transition(Compression = 0.5)]
    [DenseBlock(Layers = 4, Growth = 6, Bottleneck = true)]
    [Transition(Compression = 0.5)]
    [DenseBlock(Layers = 4, Growth = 6, Bottleneck = true)]
    public partial record NestedSmall;
}

// A 1,000-layer DenseNet-BC (k = 12): 166 bottleneck layers a block. Its training memory must plan under 4 GB.
[CifarDenseNet(Depth = 1000, Growth = 12, Variant = DenseNetVariant.BC)] public partial class DenseNetBC1000K12 { }
