// A model in the global namespace (no namespace declaration): the generated code must compile here too.
[DenseGen.DenseNet(Classes = 2, InputChannels = 1, InputSize = 8)]
[DenseGen.DenseBlock(Layers = 2, Growth = 4)]
public partial class GlobalNamespaceNetwork { }
