using DenseGen.Generators.Parsing;
using Xunit;

namespace DenseGen.Generators.Tests;

/// <summary>The generator repeats the attributes' defaults (it cannot reference DenseGen.dll); they must agree.</summary>
public class DefaultsTests
{
    [Fact]
    public void Generator_defaults_equal_the_attribute_defaults()
    {
        var network = new DenseNetAttribute();
        Assert.Equal(KnownAttributes.Defaults.Classes, network.Classes);
        Assert.Equal(KnownAttributes.Defaults.InputChannels, network.InputChannels);
        Assert.Equal(KnownAttributes.Defaults.InputSize, network.InputSize);
        Assert.Equal(KnownAttributes.Defaults.StemChannels, new StemAttribute().Channels);
        Assert.Equal(StemKind.Cifar, new StemAttribute().Kind);
        Assert.Equal(KnownAttributes.Defaults.BottleneckWidth, new DenseBlockAttribute().BottleneckWidth);
        Assert.Equal(0, new DenseBlockAttribute().DropRate);
        Assert.Equal(KnownAttributes.Defaults.Compression, new TransitionAttribute().Compression);
        var cifar = new CifarDenseNetAttribute();
        Assert.Equal(KnownAttributes.Defaults.PresetCompression, cifar.Compression);
        Assert.Equal((KnownAttributes.Defaults.Classes, KnownAttributes.Defaults.InputSize), (cifar.Classes, cifar.InputSize));
        var imageNet = new ImageNetDenseNetAttribute();
        Assert.Equal((KnownAttributes.Defaults.ImageNetClasses, KnownAttributes.Defaults.ImageNetInputSize), (imageNet.Classes, imageNet.InputSize));
    }

    [Fact]
    public void Attribute_names_the_generator_looks_for_exist()
    {
        foreach (string name in new[] { KnownAttributes.DenseNet, KnownAttributes.CifarDenseNet, KnownAttributes.ImageNetDenseNet,
                                        KnownAttributes.Stem, KnownAttributes.DenseBlock, KnownAttributes.Transition })
            Assert.NotNull(typeof(DenseNetAttribute).Assembly.GetType(name));
    }
}
