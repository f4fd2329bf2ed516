using DenseGen;

namespace Samples.Mnist;

// A small DenseNet for 28x28 digits: three blocks of three BN-ReLU-Conv3x3 layers (growth rate 8) at 28, 14 and
// 7 pixels, transitions with compression 0.5: 17,162 parameters. (The densegen CLI declares the same network as
// its embedded default; this sample shows the declaration in a user's own project.)
[DenseNet(Classes = 10, InputChannels = 1, InputSize = 28)]
[Stem(Channels = 8)]
[DenseBlock(Layers = 3, Growth = 8)]
[Transition(Compression = 0.5)]
[DenseBlock(Layers = 3, Growth = 8)]
[Transition(Compression = 0.5)]
[DenseBlock(Layers = 3, Growth = 8)]
public partial class MnistDenseNet { }
