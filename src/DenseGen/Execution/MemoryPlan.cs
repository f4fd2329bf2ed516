using System;
using System.Collections.Generic;
using System.Linq;
using DenseGen.Model;

namespace DenseGen.Execution;

/// <summary>
/// The device memory of a training step, laid out once in one arena (float32 elements). What is kept: block
/// buffers (conv outputs, the concatenation done in place), their gradient accumulators, per-channel statistics,
/// parameters with gradients and momentum, and with <see cref="BottleneckMode.Store"/> each bottleneck layer's 1x1
/// conv output. What is recomputed in backward instead of stored: BN outputs, ReLU masks, pooled transition inputs
/// and with <see cref="BottleneckMode.Recompute"/> the bottleneck outputs; those live in one scratch region reused
/// layer by layer. The generator computes the same total at compile time (<c>TrainingBytes(batch, mode)</c>); a
/// test checks they agree.
/// </summary>
public sealed class MemoryPlan
{
    private readonly List<(string Name, long Offset, long Length)> _regions = [];

    /// <summary>Lays out the arena of <paramref name="model"/> for a batch of <paramref name="batchSize"/> images.</summary>
    public MemoryPlan(ModelDescription model, int batchSize, BottleneckMode bottlenecks = BottleneckMode.Store)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (batchSize < 1) throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize, "The batch size must be at least 1.");
        Model = model;
        BatchSize = batchSize;
        Bottlenecks = bottlenecks;
        long n = batchSize;
        var layout = model.Layout;
        var sizes = BlockSizes(model);

        Add("images", n * model.InputChannels * model.InputSize * model.InputSize);
        Add("labels", n); // int32, stored in the float arena
        for (int b = 0; b < layout.Blocks.Count; b++)
        {
            long elements = n * BlockChannels(layout.Blocks[b]) * sizes[b] * sizes[b];
            Add($"block{b + 1}.value", elements);
            Add($"block{b + 1}.grad", elements);
            foreach (string s in StatisticNames) Add($"block{b + 1}.{s}", BlockChannels(layout.Blocks[b]));
            // Each bottleneck layer's batch statistics, kept from the forward in both modes (its backward needs them,
            // and a recomputed conv then skips its statistics); with Store its output too, layer after layer.
            long width = BottleneckWidth(layout.Blocks[b]), layers = layout.Blocks[b].Layers.Count;
            if (width == 0) continue;
            if (bottlenecks == BottleneckMode.Store) Add($"block{b + 1}.bottleneck.values", layers * n * width * sizes[b] * sizes[b]);
            foreach (string s in BottleneckStatisticNames) Add($"block{b + 1}.bottleneck.{s}", layers * width);
        }
        // Scratch: the bottleneck gradient (and with Recompute its output), or a transition's pooled input and its gradient.
        long scratch = 0;
        int bottleneckBuffers = bottlenecks == BottleneckMode.Store ? 1 : 2;
        for (int b = 0; b < layout.Blocks.Count; b++)
        {
            int width = BottleneckWidth(layout.Blocks[b]);
            scratch = Math.Max(scratch, bottleneckBuffers * n * width * sizes[b] * sizes[b]);
            if (b + 1 < layout.Blocks.Count) scratch = Math.Max(scratch, 2 * n * BlockChannels(layout.Blocks[b]) * sizes[b + 1] * sizes[b + 1]);
        }
        Add("scratch", scratch);
        int maxWidth = layout.Blocks.Max(BottleneckWidth);
        foreach (string s in BottleneckGradientNames) Add($"bottleneck.{s}", maxWidth);
        if (layout.Stem.Norm0 is { } norm0)
        {
            long stem = n * norm0.Channels * (long)StemConvSize(model) * StemConvSize(model);
            Add("stem.value", stem);
            Add("stem.grad", stem);
            foreach (string s in StatisticNames) Add($"stem.{s}", norm0.Channels);
        }
        int finalChannels = layout.Norm5.Channels, classes = model.Classes;
        Add("head.features", n * finalChannels);
        Add("head.dfeatures", n * finalChannels);
        Add("head.logits", n * classes);
        Add("head.dlogits", n * classes);
        Add("head.loss", n);
        // Each BN's BN-ReLU prologue (scale and shift per channel, placed as the running means and variances): written
        // in the forward, read again in the backward.
        Add("scaleshift", layout.RunningStatisticsCount);
        // Each BN's offsets (gamma, beta, running mean, running variance; int32 in the float arena), in the order
        // ConsumersOf gives: what a statistics launch reads to fold its consumers' scale/shift (Kernels.BatchNormFold).
        Add("batchnorm.consumers", 4L * ConsumersOf(layout).Consumers.Count);
        // With dropout, the training step's dropout key (uint32 in the float arena): written before each training
        // forward, read by every dropout launch, so that the launches' arguments do not change between steps.
        if (HasDropout(layout)) Add("dropout.key", 1);
        Add("parameters", layout.ParameterCount);
        Add("gradients", layout.ParameterCount);
        Add("momentum", layout.ParameterCount);
        Add("running", layout.RunningStatisticsCount);
        LayOut();
    }

    /// <summary>Whether any dense layer of <paramref name="layout"/> has dropout.</summary>
    internal static bool HasDropout(ModelLayout layout) => layout.Blocks.Any(b => b.Layers.Any(l => l.DropRate > 0));

    /// <summary>Per-channel arrays kept for each shared-statistics tensor.</summary>
    internal static readonly string[] StatisticNames = ["mean", "variance", "invstd", "s1", "s2"];

    /// <summary>A bottleneck layer's batch statistics (per layer) and its gradient's sums (shared by the layers of every block).</summary>
    internal static readonly string[] BottleneckStatisticNames = ["mean", "variance", "invstd"], BottleneckGradientNames = ["s1", "s2"];

    /// <summary>Whether the bottleneck outputs are kept from the forward or recomputed in the backward.</summary>
    public BottleneckMode Bottlenecks { get; }

    /// <summary>The network laid out.</summary>
    public ModelDescription Model { get; }

    /// <summary>The batch size the arena holds.</summary>
    public int BatchSize { get; }

    /// <summary>Float32 elements of the arena.</summary>
    public long Elements { get; private set; }

    /// <summary>Bytes of the arena: the device memory of a training step.</summary>
    public long Bytes => Elements * sizeof(float);

    /// <summary>Every region of the arena: name, offset and length in elements.</summary>
    public IReadOnlyList<(string Name, long Offset, long Length)> Regions => _regions;

    /// <summary>The region with this name.</summary>
    public (long Offset, long Length) this[string name]
    {
        get
        {
            foreach (var r in _regions) if (r.Name == name) return (r.Offset, r.Length);
            throw new KeyNotFoundException($"The memory plan has no region '{name}'.");
        }
    }

    private readonly List<(string Name, long Length)> _pending = [];

    private void Add(string name, long length) => _pending.Add((name, length));

    /// <summary>
    /// Places the regions: those of a multiple of 4 floats first (in the order added), then the scratch if it is not one,
    /// then the rest, so that each of the first and the scratch start 16 bytes aligned. The first hold every image
    /// tensor of 4k-pixel images (n C 4k floats), whose 1x1 convs then gather 16-byte quads
    /// (<see cref="Kernels.TapKind.OneByOneQuads"/>). The total, which the generator computes too, does not depend on
    /// the order.
    /// </summary>
    private void LayOut()
    {
        // The scratch's length is the largest of its uses (2 n C size^2 of several sizes): where that is no multiple of 4 it
        // still starts aligned, first of the rest, for the uses whose images allow quads.
        var rest = _pending.Where(r => r.Length % 4 != 0).OrderBy(r => r.Name == "scratch" ? 0 : 1);
        foreach (var (name, length) in _pending.Where(r => r.Length % 4 == 0).Concat(rest))
        {
            _regions.Add((name, Elements, length));
            Elements += length;
        }
    }

    /// <summary>
    /// Every BN, grouped by the tensor whose channels it reads, each group in the order its members come: per dense block
    /// its layers' first BNs then the block's closing BN (the next transition's, or norm5), which read a prefix of the
    /// block's channels; per block with bottlenecks its layers' second BNs (one per bottleneck output); the stem's
    /// norm0. So the consumers of the channels layer l adds are one run: the block's entries from l + 1 on. With where
    /// each group starts (entries): per block its first BNs' run and its second BNs' run, and norm0 (-1 without it).
    /// </summary>
    internal static BatchNormTable ConsumersOf(ModelLayout layout)
    {
        var consumers = new List<BatchNormTensors>();
        int[] blockStarts = new int[layout.Blocks.Count], bottleneckStarts = new int[layout.Blocks.Count];
        for (int b = 0; b < layout.Blocks.Count; b++)
        {
            blockStarts[b] = consumers.Count;
            consumers.AddRange(layout.Blocks[b].Layers.Select(l => l.Norm1));
            consumers.Add(b + 1 < layout.Blocks.Count ? layout.Transitions[b].Norm : layout.Norm5);
        }
        for (int b = 0; b < layout.Blocks.Count; b++)
        {
            bottleneckStarts[b] = consumers.Count;
            if (BottleneckWidth(layout.Blocks[b]) > 0) consumers.AddRange(layout.Blocks[b].Layers.Select(l => l.Norm2!));
        }
        int norm0 = -1;
        if (layout.Stem.Norm0 is { } stemNorm) { norm0 = consumers.Count; consumers.Add(stemNorm); }
        return new BatchNormTable(consumers, blockStarts, bottleneckStarts, norm0);
    }

    /// <summary>The BNs in the order of the arena's table (<see cref="ConsumersOf"/>) and where each group starts.</summary>
    internal sealed record BatchNormTable(IReadOnlyList<BatchNormTensors> Consumers, int[] BlockStarts, int[] BottleneckStarts, int Norm0);

    internal static int BlockChannels(DenseBlockTensors block) => block.Layers[^1].InputChannels + block.Layers[^1].GrowthRate;

    internal static int BottleneckWidth(DenseBlockTensors block) => block.Layers[0].Conv2 is null ? 0 : block.Layers[0].Conv1.OutputChannels;

    /// <summary>The spatial size of each block, from the layer table.</summary>
    internal static int[] BlockSizes(ModelDescription model) => model.Layout.Blocks
        .Select(b => model.Layers.First(l => l.Block == b.Index && l.Kind is LayerKind.Composite or LayerKind.Bottleneck).InputSize)
        .ToArray();

    internal static int StemConvSize(ModelDescription model) => model.Layers[0].OutputSize;
}
