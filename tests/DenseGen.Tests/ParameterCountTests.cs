using DenseGen.Model;
using Xunit;

namespace DenseGen.Tests;

/// <summary>
/// The generated constants against the numbers published for each network (Huang et al. 2017, Table 2, and
/// torchvision's model cards). These numbers come from outside DenseGen; the constants were computed by the
/// generator at compile time.
/// </summary>
public class ParameterCountTests
{
    [Fact] public void DenseNet_L40_k12() => Assert.Equal(1_019_722, DenseNet40K12.ParameterCount);
    [Fact] public void DenseNet_L100_k12() => Assert.Equal(6_979_642, DenseNet100K12.ParameterCount);
    [Fact] public void DenseNet_L100_k24() => Assert.Equal(27_249_082, DenseNet100K24.ParameterCount);
    [Fact] public void DenseNetBC_L100_k12() => Assert.Equal(769_162, DenseNetBC100K12.ParameterCount);
    [Fact] public void DenseNetBC_L100_k12_Cifar100() => Assert.Equal(800_032, DenseNetBC100K12C100.ParameterCount);
    [Fact] public void DenseNetBC_L250_k24() => Assert.Equal(15_324_406, DenseNetBC250K24.ParameterCount);
    [Fact] public void DenseNetBC_L190_k40() => Assert.Equal(25_624_430, DenseNetBC190K40.ParameterCount);
    [Fact] public void DenseNet121() => Assert.Equal(7_978_856, Tests.DenseNet121.ParameterCount);
    [Fact] public void DenseNet169() => Assert.Equal(14_149_480, Tests.DenseNet169.ParameterCount);
    [Fact] public void DenseNet201() => Assert.Equal(20_013_928, Tests.DenseNet201.ParameterCount);
    [Fact] public void DenseNet161() => Assert.Equal(28_681_000, Tests.DenseNet161.ParameterCount);
    [Fact] public void DenseNet264() => Assert.Equal(33_337_704, Tests.DenseNet264.ParameterCount);

    [Fact]
    public void DenseNet121_multiply_adds_within_one_percent_of_torchvision()
    {
        // torchvision lists 2.834 GMACs (its "GFLOPS" column) for densenet121 at 224x224.
        double relative = System.Math.Abs(Tests.DenseNet121.MultiplyAddsPerImage - 2.834e9) / 2.834e9;
        Assert.True(relative < 0.01, $"{Tests.DenseNet121.MultiplyAddsPerImage} multiply-adds is {relative:P2} from 2.834 G");
    }

    [Fact]
    public void Pooling_before_the_transition_conv_saves_three_quarters_of_its_multiply_adds()
    {
        long transitionMacs = 0;
        foreach (var layer in Tests.DenseNet121.Layers)
            if (layer.Kind == LayerKind.Transition) transitionMacs += layer.MultiplyAdds;
        long executed = Tests.DenseNet121.ExecutedMultiplyAddsPerImage;
        Assert.Equal(Tests.DenseNet121.MultiplyAddsPerImage - transitionMacs * 3 / 4, executed);
    }

    [Fact]
    public void Explicit_declarations_equal_the_presets()
    {
        Assert.Equal(DenseNetBC100K12.ParameterCount, DenseNetBC100Explicit.ParameterCount);
        Assert.Equal(DenseNetBC100K12.MultiplyAddsPerImage, DenseNetBC100Explicit.MultiplyAddsPerImage);
        Assert.Equal(Names(DenseNetBC100K12.Layout), Names(DenseNetBC100Explicit.Layout));
        Assert.Equal(Tests.DenseNet121.ParameterCount, DenseNet121Explicit.ParameterCount);
        Assert.Equal(Names(Tests.DenseNet121.Layout), Names(DenseNet121Explicit.Layout));

        static string[] Names(ModelLayout layout) =>
            System.Linq.Enumerable.ToArray(System.Linq.Enumerable.Select(layout.Tensors, t => $"{t.Name}{string.Join("x", t.Shape)}@{t.Offset}"));
    }

    [Fact]
    public void Constants_match_the_description()
    {
        var d = DenseNetBC100K12.Description;
        Assert.Equal(DenseNetBC100K12.ParameterCount, d.ParameterCount);
        Assert.Equal(DenseNetBC100K12.ParameterCount, d.Layout.ParameterCount);
        Assert.Equal(DenseNetBC100K12.RunningStatisticsCount, d.Layout.RunningStatisticsCount);
        Assert.Equal("DenseNet-BC (L=100, k=12)", d.Name);
        Assert.Equal("DenseGen.Tests.DenseNetBC100K12", d.TypeName);
        Assert.Equal((10, 3, 32), (d.Classes, d.InputChannels, d.InputSize));
        Assert.Equal((1000, 3, 224), (Tests.DenseNet121.Classes, Tests.DenseNet121.InputChannels, Tests.DenseNet121.InputSize));
    }
}
