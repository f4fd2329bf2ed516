using DenseGen;

namespace DenseGen.GpuCheck;

[CifarDenseNet(Depth = 100, Growth = 12, Variant = DenseNetVariant.BC)]
public partial class DenseNetBC100 { }

[ImageNetDenseNet(Depth = 121)]
public partial class DenseNet121 { }
