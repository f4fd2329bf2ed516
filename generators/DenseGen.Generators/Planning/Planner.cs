using System;
using System.Collections.Generic;
using DenseGen.Generators.Infrastructure;
using DenseGen.Generators.Parsing;

namespace DenseGen.Generators.Planning;

/// <summary>What can be wrong with a declaration that only shows when the network is walked.</summary>
internal enum PlanProblemKind { None, InputTooSmall, CompressionLeavesNoChannels, TooLarge }

/// <summary>A problem found while planning, pointing at the stage (index into the spec's stages) at fault.</summary>
internal sealed record PlanProblem(PlanProblemKind Kind, int StageIndex, string Detail, int Value1 = 0, int Value2 = 0);

/// <summary>
/// Walks a topology and computes every shape, channel offset, parameter and multiply-add count. Pure: no Roslyn
/// types. All arithmetic is checked, so an absurd declaration becomes a diagnostic, never an exception.
/// </summary>
internal static class Planner
{
    /// <summary>The largest channel count, spatial size or layer count a plan may hold.</summary>
    public const int MaxDimension = 1_000_000;

    /// <summary>The most composite layers a network may have (the paper's deepest has 264; 1,000-layer nets fit).</summary>
    public const int MaxLayers = 20_000;

    /// <summary>Plans a spec the parser has already checked with <see cref="TryPlan"/>.</summary>
    public static NetworkPlan Plan(TopologySpec spec) =>
        TryPlan(spec, out var plan, out var problem) ? plan! : throw new InvalidOperationException($"Unchecked spec: {problem}");

    public static bool TryPlan(TopologySpec spec, out NetworkPlan? plan, out PlanProblem? problem)
    {
        plan = null;
        try
        {
            problem = Walk(spec, out plan);
        }
        catch (OverflowException)
        {
            problem = new PlanProblem(PlanProblemKind.TooLarge, -1, "its counts overflow 64-bit integers");
        }
        return problem is null;
    }

    /// <summary>The smallest input size for which every transition of the spec gets at least 2x2 pixels.</summary>
    public static int MinimumInputSize(TopologySpec spec)
    {
        int transitions = 0;
        foreach (var stage in spec.Stages) if (stage.IsTransition) transitions++;
        if (transitions > 20) return MaxDimension; // no supported input is large enough
        int required = 1 << transitions; // transition t sees floor(s / 2^(t-1)) pixels, which must be at least 2
        int low = 1, high = 8 * required + 8; // the stem output grows monotonically with the input
        while (low < high)
        {
            int mid = (low + high) / 2;
            if (StemOutputSize(spec.Stem.Kind, mid) >= required) high = mid; else low = mid + 1;
        }
        return low;
    }

    /// <summary>
    /// Device memory of a training step (DESIGN §4.6), in bytes per image (with the bottleneck outputs stored, and
    /// recomputed) and fixed: the same arena the runtime's MemoryPlan lays out (a test checks they agree). Kept: the
    /// block buffers (conv outputs, concatenated in place) and their gradient accumulators, per-channel statistics
    /// (each bottleneck layer's too), parameters, gradients and momentum, and in the default mode every bottleneck
    /// layer's output. Recomputed in backward: BN outputs, ReLU masks, pooled transition inputs and in the lean mode
    /// the bottleneck outputs, which share one scratch.
    /// </summary>
    private static (long PerImage, long PerImageRecomputing, long Fixed) TrainingMemory(TopologySpec spec, StemPlan stem, List<BlockPlan> blocks, long parameters, long statistics, int finalChannels)
    {
        const int statisticArrays = 5; // mean, variance, 1/std, S1, S2
        long perImage = checked((long)spec.InputChannels * spec.InputSize * spec.InputSize + 1); // images, labels
        long fixedElements = 0, scratch = 0, scratchRecomputing = 0, storedBottlenecks = 0, batchNorms = 0;
        int maxWidth = 0;
        bool dropout = false;
        for (int b = 0; b < blocks.Count; b++)
        {
            var block = blocks[b];
            dropout |= block.DropRate > 0;
            long bottleneck = checked((long)block.BottleneckChannels * block.Size * block.Size);
            perImage = checked(perImage + 2L * block.OutputChannels * block.Size * block.Size); // value and gradient
            fixedElements += statisticArrays * (long)block.OutputChannels;
            fixedElements += 3L * block.Layers * block.BottleneckChannels; // each bottleneck layer's mean, variance, 1/std
            storedBottlenecks = checked(storedBottlenecks + block.Layers * bottleneck);
            scratch = Math.Max(scratch, bottleneck); // the bottleneck's gradient
            scratchRecomputing = Math.Max(scratchRecomputing, checked(2L * bottleneck)); // and its recomputed output
            if (b + 1 < blocks.Count)
            {
                long pooled = checked(2L * block.OutputChannels * blocks[b + 1].Size * blocks[b + 1].Size);
                scratch = Math.Max(scratch, pooled);
                scratchRecomputing = Math.Max(scratchRecomputing, pooled);
            }
            maxWidth = Math.Max(maxWidth, block.BottleneckChannels);
            // Its layers' BNs (two per layer with a bottleneck) and its closing BN (the next transition's, or norm5).
            batchNorms += block.Layers * (block.BottleneckChannels > 0 ? 2 : 1) + 1;
        }
        fixedElements += 2L * maxWidth; // the bottleneck gradient's S1, S2
        if (stem.Kind == StemKindSpec.ImageNet)
        {
            perImage = checked(perImage + 2L * stem.Channels * stem.ConvOutputSize * stem.ConvOutputSize);
            fixedElements += statisticArrays * (long)stem.Channels;
            batchNorms++; // norm0
        }
        fixedElements += 4 * batchNorms; // each BN's parameter and running-statistics offsets, read where its input's statistics are finished
        if (dropout) fixedElements += 1; // the training step's dropout key, written before each step
        perImage = checked(perImage + 2L * finalChannels + 2L * spec.Classes + 1); // features, logits, loss
        long perImageRecomputing = checked(perImage + scratchRecomputing);
        perImage = checked(perImage + storedBottlenecks + scratch);
        // Weights, gradients, momentum; running statistics, and each BN's scale and shift (as many).
        fixedElements = checked(fixedElements + 3 * parameters + 2 * statistics);
        return (checked(perImage * sizeof(float)), checked(perImageRecomputing * sizeof(float)), checked(fixedElements * sizeof(float)));
    }

    public static int StemOutputSize(StemKindSpec kind, int inputSize) => kind == StemKindSpec.ImageNet
        ? (((inputSize - 1) / 2 + 1) - 1) / 2 + 1   // 7x7/2 pad 3 conv, then 3x3/2 pad 1 max-pool
        : inputSize;                                // 3x3 pad 1 conv keeps the size

    private static PlanProblem? Walk(TopologySpec spec, out NetworkPlan? plan)
    {
        plan = null;
        var layers = new List<LayerPlan>();
        var blocks = new List<BlockPlan>();
        var transitions = new List<TransitionPlan>();
        long parameters = 0, statistics = 0, macs = 0, executedMacs = 0;

        void AddLayer(string name, LayerKindPlan kind, int block, int inC, int inS, int outC, int outS, int offset, long p, long m, long executed)
        {
            layers.Add(new LayerPlan(layers.Count, name, kind, block, inC, inS, outC, outS, offset, p, m));
            parameters = checked(parameters + p);
            macs = checked(macs + m);
            executedMacs = checked(executedMacs + executed);
        }
        long Square(int size) => checked((long)size * size);
        long Norm(int channels) { statistics = checked(statistics + 2L * channels); return 2L * channels; }

        // Stem.
        var stemKind = spec.Stem.Kind;
        int c0 = spec.Stem.Channels;
        bool imageNet = stemKind == StemKindSpec.ImageNet;
        int kernel = imageNet ? 7 : 3, stride = imageNet ? 2 : 1, padding = imageNet ? 3 : 1;
        int convSize = imageNet ? (spec.InputSize - 1) / 2 + 1 : spec.InputSize;
        int size = StemOutputSize(stemKind, spec.InputSize);
        var stem = new StemPlan(stemKind, spec.InputChannels, c0, kernel, stride, padding, convSize, size);
        long stemMacs = checked((long)c0 * spec.InputChannels * kernel * kernel * Square(convSize));
        AddLayer("features.conv0", LayerKindPlan.StemConvolution, 0, spec.InputChannels, spec.InputSize, c0, convSize, 0,
            checked((long)c0 * spec.InputChannels * kernel * kernel), stemMacs, stemMacs);
        if (imageNet) AddLayer("features.pool0", LayerKindPlan.StemPool, 0, c0, convSize, c0, size, 0, Norm(c0), 0, 0);

        // Body: blocks and transitions in declaration order.
        int channels = c0;
        for (int i = 0; i < spec.Stages.Count; i++)
        {
            var stage = spec.Stages[i];
            if (stage.IsTransition)
            {
                int index = transitions.Count + 1;
                if (size < 2) return new PlanProblem(PlanProblemKind.InputTooSmall, i, $"transition {index}", size);
                int outC = (int)Math.Floor(stage.Compression * channels);
                if (outC < 1) return new PlanProblem(PlanProblemKind.CompressionLeavesNoChannels, i, $"transition {index}", index, channels);
                int outS = size / 2;
                long weights = checked((long)outC * channels);
                long paperMacs = checked(weights * Square(size)), pooledMacs = checked(weights * Square(outS));
                AddLayer($"features.transition{index}", LayerKindPlan.Transition, blocks.Count, channels, size, outC, outS, 0,
                    checked(Norm(channels) + weights), paperMacs, pooledMacs);
                transitions.Add(new TransitionPlan(index, channels, outC, stage.Compression, size, outS));
                channels = outC;
                size = outS;
                continue;
            }

            int b = blocks.Count + 1;
            int layersSoFar = 0;
            foreach (var done in blocks) layersSoFar += done.Layers;
            if (stage.Layers > MaxLayers - layersSoFar)
                return new PlanProblem(PlanProblemKind.TooLarge, i, $"it has more than {MaxLayers} layers");
            int bottleneck = stage.Bottleneck ? checked(stage.BottleneckWidth * stage.Growth) : 0;
            long blockChannels = checked(channels + (long)stage.Layers * stage.Growth);
            if (blockChannels > MaxDimension || bottleneck > MaxDimension)
                return new PlanProblem(PlanProblemKind.TooLarge, i, $"dense block {b} would have {blockChannels} channels (at most {MaxDimension})");
            var block = new BlockPlan(b, size, channels, stage.Layers, stage.Growth, bottleneck, stage.DropRate);
            for (int l = 0; l < stage.Layers; l++)
            {
                int cl = block.LayerInputChannels(l);
                string name = $"features.denseblock{b}.denselayer{l + 1}";
                if (bottleneck > 0)
                {
                    long w1 = checked((long)bottleneck * cl), w2 = checked((long)stage.Growth * bottleneck * 9);
                    long m1 = checked(w1 * Square(size)), m2 = checked(w2 * Square(size));
                    AddLayer(name + ".conv1", LayerKindPlan.Bottleneck, b, cl, size, bottleneck, size, 0, checked(Norm(cl) + w1), m1, m1);
                    AddLayer(name + ".conv2", LayerKindPlan.Composite, b, bottleneck, size, stage.Growth, size, cl, checked(Norm(bottleneck) + w2), m2, m2);
                }
                else
                {
                    long w = checked((long)stage.Growth * cl * 9), m = checked(w * Square(size));
                    AddLayer(name + ".conv1", LayerKindPlan.Composite, b, cl, size, stage.Growth, size, cl, checked(Norm(cl) + w), m, m);
                }
            }
            blocks.Add(block);
            channels = block.OutputChannels;
        }

        // Head: norm5-ReLU-global average pool, then the classifier.
        AddLayer("features.norm5", LayerKindPlan.GlobalPool, 0, channels, size, channels, 1, 0, Norm(channels), 0, 0);
        long classifierWeights = checked((long)spec.Classes * channels);
        AddLayer("classifier", LayerKindPlan.Classifier, 0, channels, 1, spec.Classes, 1, 0,
            checked(classifierWeights + spec.Classes), classifierWeights, classifierWeights);

        var (perImage, perImageRecomputing, fixedBytes) = TrainingMemory(spec, stem, blocks, parameters, statistics, channels);
        plan = new NetworkPlan(
            spec.Target, spec.DisplayName, spec.Classes, spec.InputChannels, spec.InputSize, stem,
            blocks.ToEquatableArray(), transitions.ToEquatableArray(), channels, size, layers.ToEquatableArray(),
            parameters, statistics, macs, executedMacs, perImage, perImageRecomputing, fixedBytes);
        return null;
    }
}
