using System;
using System.Collections.Generic;
using System.Linq;
using DenseGen;
using DenseGen.Model;

namespace DenseGen.Cli;

// The networks the command line knows by name, declared with DenseGen's own attributes.

/// <summary>The embedded default: three blocks of three BN-ReLU-Conv3x3 layers (k = 8) for 28x28 digits, 17,162 parameters.</summary>
[DenseNet(Classes = 10, InputChannels = 1, InputSize = 28)]
[Stem(Channels = 8)]
[DenseBlock(Layers = 3, Growth = 8)]
[Transition(Compression = 0.5)]
[DenseBlock(Layers = 3, Growth = 8)]
[Transition(Compression = 0.5)]
[DenseBlock(Layers = 3, Growth = 8)]
public partial class DenseNetMnist { }

[CifarDenseNet(Depth = 40, Growth = 12)] public partial class DenseNet40K12 { }
[CifarDenseNet(Depth = 100, Growth = 12)] public partial class DenseNet100K12 { }
[CifarDenseNet(Depth = 100, Growth = 24)] public partial class DenseNet100K24 { }
[CifarDenseNet(Depth = 100, Growth = 12, Variant = DenseNetVariant.BC)] public partial class DenseNetBC100K12 { }
[CifarDenseNet(Depth = 250, Growth = 24, Variant = DenseNetVariant.BC)] public partial class DenseNetBC250K24 { }
[CifarDenseNet(Depth = 190, Growth = 40, Variant = DenseNetVariant.BC)] public partial class DenseNetBC190K40 { }
[CifarDenseNet(Depth = 40, Growth = 12, Classes = 100)] public partial class DenseNet40K12C100 { }
[CifarDenseNet(Depth = 100, Growth = 12, Variant = DenseNetVariant.BC, Classes = 100)] public partial class DenseNetBC100K12C100 { }
[ImageNetDenseNet(Depth = 121)] public partial class DenseNet121 { }
[ImageNetDenseNet(Depth = 161)] public partial class DenseNet161 { }
[ImageNetDenseNet(Depth = 169)] public partial class DenseNet169 { }
[ImageNetDenseNet(Depth = 201)] public partial class DenseNet201 { }
[ImageNetDenseNet(Depth = 264)] public partial class DenseNet264 { }

/// <summary>The built-in networks by command-line name.</summary>
internal static class Networks
{
    public static readonly IReadOnlyDictionary<string, ModelDescription> ByName = new Dictionary<string, ModelDescription>(StringComparer.OrdinalIgnoreCase)
    {
        ["densenet-mnist"] = DenseNetMnist.Description,
        ["densenet-40-k12"] = DenseNet40K12.Description,
        ["densenet-100-k12"] = DenseNet100K12.Description,
        ["densenet-100-k24"] = DenseNet100K24.Description,
        ["densenet-bc-100-k12"] = DenseNetBC100K12.Description,
        ["densenet-bc-250-k24"] = DenseNetBC250K24.Description,
        ["densenet-bc-190-k40"] = DenseNetBC190K40.Description,
        ["densenet-40-k12-c100"] = DenseNet40K12C100.Description,
        ["densenet-bc-100-k12-c100"] = DenseNetBC100K12C100.Description,
        ["densenet-121"] = DenseNet121.Description,
        ["densenet-161"] = DenseNet161.Description,
        ["densenet-169"] = DenseNet169.Description,
        ["densenet-201"] = DenseNet201.Description,
        ["densenet-264"] = DenseNet264.Description,
    };

    public static ModelDescription Find(string name) => ByName.TryGetValue(name, out var model) ? model
        : throw new UsageException($"unknown model '{name}'; choose one of: {string.Join(", ", ByName.Keys)}.");
}

/// <summary>A command line that cannot be run as given; the message says what to change.</summary>
internal sealed class UsageException(string message) : Exception(message);
