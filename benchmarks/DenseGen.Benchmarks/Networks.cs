using DenseGen;

namespace DenseGen.Benchmarks;

[CifarDenseNet(Depth = 100, Growth = 12, Variant = DenseNetVariant.BC)]
public partial class DenseNetBC100 { }
