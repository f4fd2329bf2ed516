using System.Collections.Generic;
using System.Linq;
using DenseGen.Model;
using Xunit;

namespace DenseGen.Tests;

/// <summary>The generated tensor layout against torchvision's state-dict naming, written out independently here.</summary>
public class LayoutTests
{
    /// <summary>torchvision's state-dict keys for a DenseNet with these blocks (its _DenseLayer always has a bottleneck).</summary>
    private static List<string> TorchvisionKeys(bool imageNetStem, int[] layersPerBlock, bool bottleneck)
    {
        string[] bn = ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"];
        var keys = new List<string> { "features.conv0.weight" };
        if (imageNetStem) keys.AddRange(bn.Select(s => $"features.norm0.{s}"));
        for (int b = 1; b <= layersPerBlock.Length; b++)
        {
            for (int l = 1; l <= layersPerBlock[b - 1]; l++)
            {
                string layer = $"features.denseblock{b}.denselayer{l}";
                keys.AddRange(bn.Select(s => $"{layer}.norm1.{s}"));
                keys.Add($"{layer}.conv1.weight");
                if (!bottleneck) continue;
                keys.AddRange(bn.Select(s => $"{layer}.norm2.{s}"));
                keys.Add($"{layer}.conv2.weight");
            }
            if (b == layersPerBlock.Length) break;
            keys.AddRange(bn.Select(s => $"features.transition{b}.norm.{s}"));
            keys.Add($"features.transition{b}.conv.weight");
        }
        keys.AddRange(bn.Select(s => $"features.norm5.{s}"));
        keys.Add("classifier.weight");
        keys.Add("classifier.bias");
        return keys;
    }

    [Fact]
    public void DenseNet121_has_torchvisions_state_dict_keys_in_order()
    {
        var names = Tests.DenseNet121.Layout.Tensors.Select(t => t.Name).ToList();
        Assert.Equal(TorchvisionKeys(true, [6, 12, 24, 16], bottleneck: true), names);
        // torchvision's densenet121 has 364 parameter tensors and 727 state-dict entries.
        Assert.Equal(364, Tests.DenseNet121.Layout.Tensors.Count(t => t.Storage == TensorStorage.Parameters));
        Assert.Equal(727, names.Count);
    }

    [Fact]
    public void Cifar_networks_use_the_same_scheme()
    {
        Assert.Equal(TorchvisionKeys(false, [16, 16, 16], bottleneck: true), DenseNetBC100K12.Layout.Tensors.Select(t => t.Name));
        Assert.Equal(TorchvisionKeys(false, [12, 12, 12], bottleneck: false), DenseNet40K12.Layout.Tensors.Select(t => t.Name));
    }

    [Theory]
    [InlineData("features.conv0.weight", new[] { 64, 3, 7, 7 })]
    [InlineData("features.norm0.running_var", new[] { 64 })]
    [InlineData("features.denseblock1.denselayer1.conv1.weight", new[] { 128, 64, 1, 1 })]
    [InlineData("features.denseblock1.denselayer1.conv2.weight", new[] { 32, 128, 3, 3 })]
    [InlineData("features.transition1.conv.weight", new[] { 128, 256, 1, 1 })]
    [InlineData("features.denseblock3.denselayer24.conv1.weight", new[] { 128, 992, 1, 1 })]
    [InlineData("features.transition3.norm.weight", new[] { 1024 })]
    [InlineData("features.norm5.bias", new[] { 1024 })]
    [InlineData("classifier.weight", new[] { 1000, 1024 })]
    [InlineData("features.denseblock4.denselayer16.norm2.num_batches_tracked", new int[0])]
    public void DenseNet121_shapes_match_torchvision(string name, int[] shape) =>
        Assert.Equal(shape, Tests.DenseNet121.Layout[name].Shape);

    [Fact]
    public void Every_buffer_is_packed_without_gaps_or_overlaps()
    {
        foreach (var layout in new[] { Tests.DenseNet121.Layout, DenseNetBC100K12.Layout, DenseNet40K12.Layout, Outer.NestedSmall.Layout })
        {
            foreach (var group in layout.Tensors.GroupBy(t => t.Storage))
            {
                long next = 0;
                foreach (var tensor in group.OrderBy(t => t.Offset))
                {
                    Assert.Equal(next, tensor.Offset);
                    next += tensor.Length;
                }
                long expected = group.Key switch
                {
                    TensorStorage.Parameters => layout.ParameterCount,
                    TensorStorage.RunningStatistics => layout.RunningStatisticsCount,
                    _ => layout.CounterCount,
                };
                Assert.Equal(expected, next);
            }
        }
    }

    [Fact]
    public void Modules_are_navigable()
    {
        var layout = DenseNetBC100K12.Layout;
        Assert.Equal(3, layout.Blocks.Count);
        Assert.Equal(2, layout.Transitions.Count);
        var layer = layout.Blocks[1].Layers[4];
        Assert.Equal("features.denseblock2.denselayer5", layer.Name);
        Assert.True(layer.HasBottleneck);
        Assert.Equal(108 + 4 * 12, layer.InputChannels); // transition 1 leaves 108 channels
        Assert.Equal(new[] { 12, 48, 3, 3 }, layer.Conv2!.Weight.Shape);
        Assert.Same(layout["features.denseblock2.denselayer5.conv2.weight"], layer.Conv2.Weight);
        Assert.Null(layout.Stem.Norm0);
        Assert.False(DenseNet40K12.Layout.Blocks[0].Layers[0].HasBottleneck);
        var error = Assert.Throws<KeyNotFoundException>(() => layout["features.denseblock9.weight"]);
        Assert.Contains("features.denseblock9.weight", error.Message);
    }

    [Fact]
    public void Layer_table_adds_up_and_dense_layers_fill_their_block_buffer()
    {
        foreach (var model in new[] { Tests.DenseNet121.Description, DenseNetBC100K12.Description, DenseNet40K12.Description, Outer.NestedSmall.Description })
        {
            Assert.Equal(model.ParameterCount, model.Layers.Sum(l => l.Parameters));
            Assert.Equal(model.MultiplyAddsPerImage, model.Layers.Sum(l => l.MultiplyAdds));
            Assert.Equal(Enumerable.Range(0, model.Layers.Count), model.Layers.Select(l => l.Index));
            foreach (var block in model.Layout.Blocks)
            {
                var writes = model.Layers.Where(l => l.Kind == LayerKind.Composite && l.Block == block.Index).ToList();
                int k0 = block.Layers[0].InputChannels, growth = block.Layers[0].GrowthRate;
                Assert.Equal(block.Layers.Count, writes.Count);
                for (int l = 0; l < writes.Count; l++)
                {
                    // Layer l reads channels [0, k0 + l*k) and appends its k channels right after them.
                    Assert.Equal(k0 + l * growth, writes[l].OutputChannelOffset);
                    Assert.Equal(growth, writes[l].OutputChannels);
                }
            }
        }
    }

    [Fact]
    public void Summary_lists_every_layer_and_the_totals()
    {
        string summary = DenseNetBC100K12.Summary();
        Assert.Contains("DenseNet-BC (L=100, k=12)", summary);
        Assert.Contains("features.denseblock3.denselayer16.conv2", summary);
        Assert.Contains("BN-ReLU-Conv1x1-AvgPool 216->108", summary);
        Assert.Contains("Trainable parameters:     769,162", summary);
        Assert.Equal(DenseNetBC100K12.Layers.Count, summary.Split('\n').Count(line => line.Contains("features.") || line.Contains("classifier")));
    }

    [Fact]
    public void Edge_declarations_compile_and_plan()
    {
        Assert.Equal(7, Outer.NestedSmall.Classes);
        // Default stem: 16 channels; block 1 ends at 16 + 4*6 = 40, transition 1 keeps floor(0.5 * 40) = 20.
        Assert.Equal(16, Outer.NestedSmall.Layout.Blocks[0].Layers[0].InputChannels);
        Assert.Equal(16 + 3 * 6, Outer.NestedSmall.Layout.Blocks[0].Layers.Last().InputChannels);
        Assert.Equal(20, Outer.NestedSmall.Layout.Transitions[0].Conv.OutputChannels);
        Assert.Equal(5, Outer.NestedSmall.Layers.Single(l => l.Name == "features.transition1").OutputSize); // 11 -> 5
        Assert.Equal(16 + 2 * 4, GlobalNamespaceNetwork.Layout.Norm5.Channels);
        Assert.Equal(typeof(IDenseNetModel), typeof(GlobalNamespaceNetwork).GetInterface(nameof(IDenseNetModel)));
    }
}
