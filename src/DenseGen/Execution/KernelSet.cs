using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using System.Linq.Expressions;
using System.Reflection;
using System.Threading;
using System.Threading.Tasks;
using System.Diagnostics.CodeAnalysis;
using DenseGen.Kernels;
using ILGPU;
using ILGPU.Runtime;

namespace DenseGen.Execution;

/// <summary>
/// Every kernel DenseGen launches, held as typed delegates: compiled by ILGPU once per device, or run on the host
/// (<see cref="ForHost"/>).
/// </summary>
internal sealed partial class KernelSet
{
    private KernelSet() { }

    /// <summary>
    /// Starts compiling every kernel for <paramref name="a"/> (CUDA, OpenCL, or ILGPU's CPU accelerator) on worker
    /// threads (<see cref="KernelLoader"/>), with the convolution kernels of <paramref name="convolution"/>. <paramref name="reductionGroupSize"/>: threads per group of the
    /// per-channel reductions. <paramref name="maxForwardSplits"/>: at most this many splits of version 3's forward
    /// (1: never split; the tests check both paths). <paramref name="bands"/>: version 4 tiles every product with this
    /// many bands, not the count <see cref="ConvolutionKernels.BandsFor"/> chooses (the tests' small shapes would
    /// otherwise reach few of them). <paramref name="growthWherePossible"/>: version 4 gives every conv its growth kernel
    /// applies to that kernel, not only those with enough groups (<see cref="ConvolutionKernels.GrowthKernelFits"/>), and
    /// splits its growth weight gradients into about 4 groups only (several row tiles per group, as large batches get).
    /// <paramref name="warpShuffles"/>: version 4's epilogue sums by warp shuffles (default: on CUDA and ILGPU's CPU
    /// accelerator, the backends that compile them) or through shared memory. <paramref name="quads"/>: version 4's 1x1
    /// forward and backward-input gather 16-byte quads where the view allows (default: <see cref="ConvolutionKernels.QuadsByDefault"/>).
    /// <paramref name="tensorCores"/>: version 4's banded forwards, input gradients through BN and weight gradients (2, 3 and 4 bands) run on the tensor cores in float32 accuracy (version 5,
    /// 3xTF32, <c>ConvolutionKernels.TensorCores.cs</c>): CUDA, or emulated on ILGPU's CPU accelerator for the tests.
    /// </summary>
    [SetsRequiredMembers]
    public KernelSet(Accelerator a, int reductionGroupSize, ConvolutionVersion convolution, int maxForwardSplits = 64, int? bands = null, bool growthWherePossible = false, bool? warpShuffles = null,
        bool? quads = null, bool tensorCores = false)
    {
        if (tensorCores && (convolution != ConvolutionVersion.Banded || a.AcceleratorType is not (AcceleratorType.Cuda or AcceleratorType.CPU)))
            throw new ArgumentException($"Tensor-core products (version 5) extend version 4 (banded) on CUDA, or emulated on ILGPU's CPU accelerator; this set is {convolution} on {a.AcceleratorType}. Leave tensor cores off here.", nameof(tensorCores));
        _tensorCores = tensorCores;
        _maxForwardSplits = maxForwardSplits;
        _bands = bands;
        _growthWherePossible = growthWherePossible;
        // Warp shuffles for version 4's epilogue sums where the backend compiles them: PoCL's OpenCL cannot.
        _warpShuffles = warpShuffles ?? (a.AcceleratorType is AcceleratorType.Cuda or AcceleratorType.CPU);
        _quads = quads ?? ConvolutionKernels.QuadsByDefault(a.AcceleratorType);
        _accelerator = a;
        _stream = a.DefaultStream;
        _reductionGroupSize = reductionGroupSize;
        Convolution = convolution;
        KernelConfig PerGroup(int groups) => new(groups, reductionGroupSize);
        var finishChannels = Grouped<Action<KernelConfig, ChannelRange, int, int, ArrayView<double>, ArrayView<float>, BatchNormBackward>>(ConvolutionKernels.FinishChannelsFromTiles);
        // Finishes a backward through BN from its per-tile sums; where it is the last consumer of some channels
        // (bn.FinalizeCount), the same launch also turns their gradient into the producer's (no Finalize launch).
        void FinishChannels(ChannelRange layout, int tiles, ArrayView<double> partials, ArrayView<float> input, BatchNormBackward bn)
        {
            RequireFinalizeCount(layout, bn);
            int chunks = bn.FinalizeCount > 0 ? ConvolutionKernels.FinalizeChunks(layout, reductionGroupSize) : 1;
            finishChannels(PerGroup(ConvolutionKernels.FinishChannelGroups(layout.Count, bn.FinalizeCount, chunks)), layout, tiles, chunks, partials, input, bn);
        }
        if (convolution == ConvolutionVersion.Direct)
        {
            var forward = AutoGrouped<Action<Index1D, ConvShape, ArrayView<float>, ArrayView<float>, Prologue, ArrayView<float>>>(ConvolutionKernels.Forward);
            var backwardInput = AutoGrouped<Action<Index1D, ConvShape, ArrayView<float>, ArrayView<float>, ArrayView<float>>>(ConvolutionKernels.BackwardInput);
            var throughBatchNorm = Grouped<Action<KernelConfig, ConvShape, ArrayView<float>, ArrayView<float>, ArrayView<float>, Prologue, BatchNormBackward>>(ConvolutionKernels.BackwardInputThroughBatchNorm);
            var backwardWeights = Grouped<Action<KernelConfig, ConvShape, ArrayView<float>, Prologue, ArrayView<float>, ArrayView<float>>>(ConvolutionKernels.BackwardWeights);
            ConvForward = (s, input, weight, prologue, output) => forward(s.OutputElements, s, input, weight, prologue, output);
            ConvBackwardInput = (s, dOut, weight, dInput) => backwardInput(s.InputElements, s, dOut, weight, dInput);
            ConvBackwardInputThroughBatchNorm = (s, dOut, weight, input, prologue, bn) => throughBatchNorm(PerGroup(s.InChannels), s, dOut, weight, input, prologue, bn);
            ConvBackwardWeights = (s, input, prologue, dOut, dWeight) => backwardWeights(PerGroup(s.WeightElements), s, input, prologue, dOut, dWeight);
        }
        else
        {
            // Versions 2 and 3 share launch geometry, scratch and reductions; only the four products differ.
            // Version 4 is version 3's loops on banded tiles; one band is version 3's 16-row tile, launched as such.
            bool pipelined = convolution is ConvolutionVersion.Pipelined or ConvolutionVersion.Banded, banded = convolution == ConvolutionVersion.Banded;
            // Version 4 launches version 3's kernels only for one-band products and split reductions: they compile when a
            // network has such a product (Prepare), not with every set (each one is 0.1-0.7 s of the driver's JIT).
            T OneBand<T>(Delegate kernel) where T : Delegate => banded ? OnFirstUse<T>(kernel, autoGrouped: false) : Grouped<T>(kernel);
            // Version 4's direct growth kernels: compiled on first use, in version 4's sets only (the only ones that launch them).
            T? BandedOnly<T>(Delegate kernel) where T : Delegate => banded ? OnFirstUse<T>(kernel, autoGrouped: false) : null;
            var finishStatistics = Grouped<Action<KernelConfig, ChannelRange, int, ArrayView<double>, ArrayView<float>, ArrayView<float>, ArrayView<float>, float, BatchNormFold>>(ConvolutionKernels.FinishStatisticsFromTiles);
            var backwardWeights = pipelined
                ? OneBand<Action<KernelConfig, ConvShape, ArrayView<float>, Prologue, ArrayView<float>, ArrayView<float>, int, int>>(ConvolutionKernels.BackwardWeightsPipelined)
                : Grouped<Action<KernelConfig, ConvShape, ArrayView<float>, Prologue, ArrayView<float>, ArrayView<float>, int, int>>(ConvolutionKernels.BackwardWeightsTiled);
            var backwardWeightsBanded = Banded<Action<KernelConfig, ConvShape, ArrayView<float>, Prologue, ArrayView<float>, ArrayView<float>, int>>(ConvolutionKernels.BandedProduct.BackwardWeights);
            // Version 4's direct weight gradient of growth convs (ConvolutionKernels.GrowthWeights.cs).
            var growthWeights = BandedOnly<Action<KernelConfig, ConvShape, ArrayView<float>, Prologue, ArrayView<float>, ArrayView<float>, int>>(ConvolutionKernels.BackwardWeightsGrowth);
            if (banded) _prepare += (s, input) =>
            {
                if (UsesGrowthWeightKernel(s)) { StartOnFirstUse(growthWeights!); return; }
                if (TilingFor(s.OutChannels, s.InChannels * s.Kernel * s.Kernel).Bands is var m && m > 1) _ = backwardWeightsBanded[(m, PreparedPixelTaps(s, s.OutSize))].Value;
                else StartOnFirstUse(backwardWeights);
            };
            Action<int, int, ArrayView<float>, ArrayView<float>> sumSplits;
            if (pipelined)
            {
                var byLanes = Grouped<Action<KernelConfig, int, int, ArrayView<float>, ArrayView<float>>>(ConvolutionKernels.SumSplitsByLanes);
                sumSplits = (weights, splits, partials, dWeight) => byLanes(
                    new KernelConfig(ConvolutionKernels.Ceiling(weights, ConvolutionKernels.SplitColumns), ConvolutionKernels.TileThreads), weights, splits, partials, dWeight);
            }
            else
            {
                var perWeight = AutoGrouped<Action<Index1D, int, int, ArrayView<float>, ArrayView<float>>>(ConvolutionKernels.SumSplits);
                sumSplits = (weights, splits, partials, dWeight) => perWeight(weights, weights, splits, partials, dWeight);
            }
            // 16-row tiles where the rows (channels) are few, 32-row tiles otherwise (ConvolutionKernels.TileRowsFor).
            KernelConfig Tiles(int rows, int columns, int tileRows, int splits = 1) =>
                new(ConvolutionKernels.TileGroups(rows, columns, tileRows) * splits, ConvolutionKernels.TileThreads);
            // The forward, with the batch statistics of its output channels when asked (training).
            Action<ConvShape, ArrayView<float>, ArrayView<float>, Prologue, ArrayView<float>, BatchStatistics?> launchForward;
            if (pipelined)
            {
                var forward = OneBand<Action<KernelConfig, ConvShape, ArrayView<float>, ArrayView<float>, Prologue, ArrayView<float>, int, ArrayView<double>, int, int, ArrayView<float>>>(ConvolutionKernels.ForwardPipelined);
                var forwardBanded = Banded<Action<KernelConfig, ConvShape, ArrayView<float>, ArrayView<float>, Prologue, ArrayView<float>, ArrayView<double>, int, int, ArrayView<float>>>(ConvolutionKernels.BandedProduct.Forward);
                var finishSplits = OneBand<Action<KernelConfig, ConvShape, int, ArrayView<float>, ArrayView<float>, int, ArrayView<double>, int>>(ConvolutionKernels.FinishForwardSplits);
                // Version 4's direct growth kernels, for at most 16 and at most 32 outputs.
                var growth16 = BandedOnly<Action<KernelConfig, ConvShape, ArrayView<float>, ArrayView<float>, Prologue, ArrayView<float>, ArrayView<double>, int>>(ConvolutionKernels.ForwardGrowth16);
                var growth32 = BandedOnly<Action<KernelConfig, ConvShape, ArrayView<float>, ArrayView<float>, Prologue, ArrayView<float>, ArrayView<double>, int>>(ConvolutionKernels.ForwardGrowth32);
                if (banded) _prepare += (s, input) =>
                {
                    if (UsesGrowthKernel(s)) { StartOnFirstUse((s.OutChannels <= 16 ? growth16 : growth32)!); return; }
                    var (tiling, splits, _) = ForwardPlan(s);
                    if (tiling.Bands > 1) _ = forwardBanded[(tiling.Bands, PreparedPixelTaps(s, s.InSize))].Value;
                    else StartOnFirstUse(forward);
                    if (splits > 1) StartOnFirstUse(finishSplits);
                };
                launchForward = (s, input, weight, prologue, output, statistics) =>
                {
                    if (UsesGrowthKernel(s))
                    {
                        int groups = ConvolutionKernels.GrowthGroups(s);
                        var tileSums = statistics is null ? default : DoubleScratch(2L * groups * s.OutChannels);
                        var growth = (s.OutChannels <= 16 ? growth16 : growth32)!;
                        growth(new KernelConfig(groups, ConvolutionKernels.TileThreads), s, input, weight, prologue, output, tileSums, statistics is null ? 0 : 1);
                        if (statistics is { } g) finishStatistics(PerGroup(s.OutChannels), OutputRange(s), groups, tileSums, g.Mean, g.Variance, g.InvStd, g.Epsilon, g.Fold);
                        return;
                    }
                    int pixels = s.Batch * s.OutSize * s.OutSize;
                    var (tiling, splits, splitSteps) = ForwardPlan(s);
                    var grid = new KernelConfig(tiling.Tiles * splits, ConvolutionKernels.TileThreads);
                    void Product(ArrayView<double> tileStatistics, int withStatistics, ArrayView<float> products)
                    {
                        if (tiling.Bands > 1) forwardBanded[(tiling.Bands, PixelTaps(s, s.InSize, input))].Value(grid, s, input, weight, prologue, output, tileStatistics, withStatistics, splitSteps, products);
                        else forward(grid, s, input, weight, prologue, output, tiling.Rows, tileStatistics, withStatistics, splitSteps, products);
                    }
                    if (splits == 1)
                    {
                        var partials = statistics is null ? default : DoubleScratch(2L * tiling.StatisticsTiles * s.OutChannels);
                        Product(partials, statistics is null ? 0 : 1, default);
                        if (statistics is { } b) finishStatistics(PerGroup(s.OutChannels), OutputRange(s), tiling.StatisticsTiles, partials, b.Mean, b.Variance, b.InvStd, b.Epsilon, b.Fold);
                        return;
                    }
                    var products = FloatScratch((long)splits * s.OutChannels * pixels);
                    Product(default, 0, products);
                    int chunks = Math.Max(1, Math.Min(ConvolutionKernels.Ceiling(1024, s.OutChannels), pixels / (4 * reductionGroupSize)));
                    var sums = statistics is null ? default : DoubleScratch(2L * chunks * s.OutChannels);
                    finishSplits(PerGroup(s.OutChannels * chunks), s, splits, products, output, chunks, sums, statistics is null ? 0 : 1);
                    if (statistics is { } c) finishStatistics(PerGroup(s.OutChannels), OutputRange(s), chunks, sums, c.Mean, c.Variance, c.InvStd, c.Epsilon, c.Fold);
                };
            }
            else
            {
                var forward = Grouped<Action<KernelConfig, ConvShape, ArrayView<float>, ArrayView<float>, Prologue, ArrayView<float>, int, ArrayView<double>, int>>(ConvolutionKernels.ForwardTiled);
                launchForward = (s, input, weight, prologue, output, statistics) =>
                {
                    int tileRows = ConvolutionKernels.TileRowsFor(s.OutChannels), pixels = s.Batch * s.OutSize * s.OutSize;
                    int tiles = ConvolutionKernels.Ceiling(pixels, ConvolutionKernels.TileArea / tileRows);
                    var partials = statistics is null ? default : DoubleScratch(2L * tiles * s.OutChannels);
                    forward(Tiles(s.OutChannels, pixels, tileRows), s, input, weight, prologue, output, tileRows, partials, statistics is null ? 0 : 1);
                    if (statistics is { } b) finishStatistics(PerGroup(s.OutChannels), OutputRange(s), tiles, partials, b.Mean, b.Variance, b.InvStd, b.Epsilon, b.Fold);
                };
            }
            ConvForward = (s, input, weight, prologue, output) => launchForward(s, input, weight, prologue, output, null);
            _forwardWithStatistics = (s, input, weight, prologue, output, statistics) => launchForward(s, input, weight, prologue, output, statistics);
            if (pipelined)
            {
                var backwardInput = OneBand<Action<KernelConfig, ConvShape, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, ArrayView<float>>>(ConvolutionKernels.BackwardInputPipelined);
                var throughBatchNorm = OneBand<Action<KernelConfig, ConvShape, ArrayView<float>, ArrayView<float>, ArrayView<float>, Prologue, BatchNormBackward, ArrayView<double>, int, int, ArrayView<float>>>(ConvolutionKernels.BackwardInputThroughBatchNormPipelined);
                var backwardInputBanded = Banded<Action<KernelConfig, ConvShape, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, ArrayView<float>>>(ConvolutionKernels.BandedProduct.BackwardInput);
                var throughBatchNormBanded = Banded<Action<KernelConfig, ConvShape, ArrayView<float>, ArrayView<float>, ArrayView<float>, Prologue, BatchNormBackward, ArrayView<double>, int, ArrayView<float>>>(ConvolutionKernels.BandedProduct.BackwardInputThroughBatchNorm);
                var finishSplits = OneBand<Action<KernelConfig, ConvShape, int, ArrayView<float>, ArrayView<float>, ArrayView<float>, Prologue, BatchNormBackward, int, int, ArrayView<double>>>(ConvolutionKernels.FinishInputSplits);
                // Version 4's direct input gradient of growth convs through BN (ConvolutionKernels.GrowthInput.cs).
                var growthInput = BandedOnly<Action<KernelConfig, ConvShape, ArrayView<float>, ArrayView<float>, ArrayView<float>, Prologue, BatchNormBackward, ArrayView<double>>>(
                    ConvolutionKernels.BackwardInputThroughBatchNormGrowth);
                if (banded) _prepare += (s, input) =>
                {
                    if (input == InputGradient.None) return;
                    if (input == InputGradient.ThroughBatchNorm && UsesGrowthInputKernel(s)) { StartOnFirstUse(growthInput!); return; }
                    var (tiling, splits, _) = InputPlan(s);
                    if (tiling.Bands > 1 && input == InputGradient.Plain) _ = backwardInputBanded[(tiling.Bands, PreparedPixelTaps(s, s.OutSize))].Value;
                    else if (tiling.Bands > 1) _ = throughBatchNormBanded[(tiling.Bands, PreparedPixelTaps(s, s.OutSize))].Value;
                    else StartOnFirstUse(input == InputGradient.Plain ? backwardInput : throughBatchNorm);
                    if (splits > 1) StartOnFirstUse(finishSplits);
                };
                // Unsplit as version 2; split along the reduction where the grid is small (ForwardSplits' policy).
                void LaunchInput(ConvShape s, ArrayView<float> dOut, ArrayView<float> weight, ArrayView<float> dInput, ArrayView<float> input, Prologue prologue, BatchNormBackward? bn)
                {
                    if (bn is { } growthBn && UsesGrowthInputKernel(s))
                    {
                        int tiles = ConvolutionKernels.GrowthInputTiles(s);
                        var tileSums = DoubleScratch(2L * tiles * s.InChannels);
                        growthInput!(new KernelConfig(ConvolutionKernels.GrowthInputGroups(s), ConvolutionKernels.TileThreads), s, dOut, weight, input, prologue, growthBn, tileSums);
                        FinishChannels(s.InputLayout, tiles, tileSums, input, growthBn);
                        return;
                    }
                    int pixels = s.Batch * s.InSize * s.InSize;
                    var (tiling, splits, splitSteps) = InputPlan(s);
                    var grid = new KernelConfig(tiling.Tiles * splits, ConvolutionKernels.TileThreads);
                    void Product(ArrayView<double> tileSums, ArrayView<float> products)
                    {
                        if (bn is not { } b)
                        {
                            if (tiling.Bands > 1) backwardInputBanded[(tiling.Bands, PixelTaps(s, s.OutSize, dOut))].Value(grid, s, dOut, weight, dInput, splitSteps, products);
                            else backwardInput(grid, s, dOut, weight, dInput, tiling.Rows, splitSteps, products);
                        }
                        else if (tiling.Bands > 1) throughBatchNormBanded[(tiling.Bands, PixelTaps(s, s.OutSize, dOut))].Value(grid, s, dOut, weight, input, prologue, b, tileSums, splitSteps, products);
                        else throughBatchNorm(grid, s, dOut, weight, input, prologue, b, tileSums, tiling.Rows, splitSteps, products);
                    }
                    if (splits == 1)
                    {
                        var partials = bn is null ? default : DoubleScratch(2L * tiling.StatisticsTiles * s.InChannels);
                        Product(partials, default);
                        if (bn is { } b) FinishChannels(s.InputLayout, tiling.StatisticsTiles, partials, input, b);
                        return;
                    }
                    var products = FloatScratch((long)splits * s.InChannels * pixels);
                    Product(default, products);
                    int chunks = Math.Max(1, Math.Min(ConvolutionKernels.Ceiling(1024, s.InChannels), pixels / (4 * reductionGroupSize)));
                    var sums = bn is null ? default : DoubleScratch(2L * chunks * s.InChannels);
                    finishSplits(PerGroup(s.InChannels * chunks), s, splits, products, dInput, input, prologue, bn ?? default, bn is null ? 0 : 1, chunks, sums);
                    if (bn is { } c) FinishChannels(s.InputLayout, chunks, sums, input, c);
                }
                ConvBackwardInput = (s, dOut, weight, dInput) => LaunchInput(s, dOut, weight, dInput, default, default, null);
                ConvBackwardInputThroughBatchNorm = (s, dOut, weight, input, prologue, bn) => LaunchInput(s, dOut, weight, default, input, prologue, bn);
            }
            else
            {
                var backwardInput = Grouped<Action<KernelConfig, ConvShape, ArrayView<float>, ArrayView<float>, ArrayView<float>, int>>(ConvolutionKernels.BackwardInputTiled);
                var throughBatchNorm = Grouped<Action<KernelConfig, ConvShape, ArrayView<float>, ArrayView<float>, ArrayView<float>, Prologue, BatchNormBackward, ArrayView<double>, int>>(ConvolutionKernels.BackwardInputThroughBatchNormTiled);
                ConvBackwardInput = (s, dOut, weight, dInput) =>
                {
                    int tileRows = ConvolutionKernels.TileRowsFor(s.InChannels);
                    backwardInput(Tiles(s.InChannels, s.Batch * s.InSize * s.InSize, tileRows), s, dOut, weight, dInput, tileRows);
                };
                ConvBackwardInputThroughBatchNorm = (s, dOut, weight, input, prologue, bn) =>
                {
                    int tileRows = ConvolutionKernels.TileRowsFor(s.InChannels);
                    int pixels = s.Batch * s.InSize * s.InSize, tiles = ConvolutionKernels.Ceiling(pixels, ConvolutionKernels.TileArea / tileRows);
                    var partials = DoubleScratch(2L * tiles * s.InChannels);
                    throughBatchNorm(Tiles(s.InChannels, pixels, tileRows), s, dOut, weight, input, prologue, bn, partials, tileRows);
                    FinishChannels(s.InputLayout, tiles, partials, input, bn);
                };
            }
            ConvBackwardWeights = (s, input, prologue, dOut, dWeight) =>
            {
                int depth = s.InChannels * s.Kernel * s.Kernel, weights = s.WeightElements;
                if (UsesGrowthWeightKernel(s))
                {
                    int tilesPerSplit = ConvolutionKernels.GrowthWeightTilesPerSplit(s, _growthWherePossible ? 4 : 512), growthSplits = ConvolutionKernels.GrowthWeightSplits(s, tilesPerSplit);
                    var growthPartials = FloatScratch((long)growthSplits * weights);
                    growthWeights!(new KernelConfig(ConvolutionKernels.GrowthWeightGroups(s, tilesPerSplit), ConvolutionKernels.GrowthWeightThreads),
                        s, input, prologue, dOut, growthPartials, tilesPerSplit);
                    sumSplits(weights, growthSplits, growthPartials, dWeight);
                    return;
                }
                int pixels = s.Batch * s.OutSize * s.OutSize;
                var tiling = TilingFor(s.OutChannels, depth);
                var (splits, chunk) = pipelined ? PipelinedWeightGradientSplits(pixels, weights, tiling.Tiles) : WeightGradientSplits(pixels, weights);
                var partials = FloatScratch((long)splits * weights);
                var grid = new KernelConfig(tiling.Tiles * splits, ConvolutionKernels.TileThreads);
                // Quads where both views allow them (a chunk is whole steps of 8 pixels: no quad straddles one).
                var weightTaps = PixelTaps(s, s.OutSize, input) is TapKind.OneByOneQuads ? PixelTaps(s, s.OutSize, dOut) : ConvolutionKernels.TapKindOf(s);
                if (tiling.Bands > 1) backwardWeightsBanded[(tiling.Bands, weightTaps)].Value(grid, s, input, prologue, dOut, partials, chunk);
                else backwardWeights(grid, s, input, prologue, dOut, partials, chunk, tiling.Rows);
                sumSplits(weights, splits, partials, dWeight);
            };
        }
        // A separate statistics pass: every training forward of version 1; with the others (statistics in the conv's
        // epilogue) only after the ImageNet stem's pool and after dropout, so compiled when such a network asks.
        Statistics = convolution == ConvolutionVersion.Direct
            ? Grouped<Action<KernelConfig, ChannelRange, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, float, BatchNormFold>>(BatchNormKernels.Statistics)
            : OnFirstUse<Action<KernelConfig, ChannelRange, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, float, BatchNormFold>>(BatchNormKernels.Statistics, autoGrouped: false);
        ScaleShiftEvaluation = OnFirstUse<Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, float>>(BatchNormKernels.ScaleShiftEvaluation, autoGrouped: true); // evaluation only
        AveragePoolForward = AutoGrouped<Action<Index1D, PoolShape, ArrayView<float>, Prologue, ArrayView<float>>>(PoolingKernels.AveragePoolForward);
        // Pool backwards through BN: chunks of each channel's pixels in parallel, then the finishing launch (FinishChannels).
        var averagePoolBackward = Grouped<Action<KernelConfig, PoolShape, ArrayView<float>, ArrayView<float>, Prologue, BatchNormBackward, int, ArrayView<double>>>(PoolingKernels.AveragePoolBackwardThroughBatchNormChunks);
        // The ImageNet stem only: each window's first maximum found once, then the backward in chunks.
        var maxPoolArgMax = OnFirstUse<Action<Index1D, PoolShape, ArrayView<float>, Prologue, ArrayView<byte>>>(PoolingKernels.MaxPoolArgMax, autoGrouped: true);
        var maxPoolBackward = OnFirstUse<Action<KernelConfig, PoolShape, ArrayView<float>, ArrayView<float>, Prologue, BatchNormBackward, ArrayView<byte>, int, ArrayView<double>>>(PoolingKernels.MaxPoolBackwardThroughBatchNormChunks, autoGrouped: false);
        AveragePoolBackward = (_, p, dOut, input, prologue, bn) =>
        {
            int chunks = PoolChunks(p, reductionGroupSize);
            var partials = DoubleScratch(2L * chunks * p.Channels);
            averagePoolBackward(PerGroup(chunks * p.Channels), p, dOut, input, prologue, bn, chunks, partials);
            FinishChannels(p.InputLayout, chunks, partials, input, bn);
        };
        MaxPoolForward = OnFirstUse<Action<Index1D, PoolShape, ArrayView<float>, Prologue, ArrayView<float>>>(PoolingKernels.MaxPoolForward, autoGrouped: true);
        MaxPoolBackward = (_, p, dOut, input, prologue, bn) =>
        {
            // A byte per window in the float scratch, within its 16 MiB as the split products (DenseNet-121 up to batch 83);
            // beyond, the backward searches each window again (an empty table), as the host does.
            int windows = p.Batch * p.Channels * p.OutSize * p.OutSize;
            var argmax = windows <= MaxScratchFloats * 4 ? FloatScratch(ConvolutionKernels.Ceiling(windows, 4)).Cast<byte>().SubView(0, windows) : default;
            if (argmax.Length > 0) maxPoolArgMax(windows, p, input, prologue, argmax);
            int chunks = PoolChunks(p, reductionGroupSize);
            var partials = DoubleScratch(2L * chunks * p.Channels);
            maxPoolBackward(PerGroup(chunks * p.Channels), p, dOut, input, prologue, bn, argmax, chunks, partials);
            FinishChannels(p.InputLayout, chunks, partials, input, bn);
        };
        _prepareStemPool = () => { StartOnFirstUse(MaxPoolForward); StartOnFirstUse(maxPoolArgMax); StartOnFirstUse(maxPoolBackward); StartOnFirstUse(Statistics); };
        GlobalPoolForward = AutoGrouped<Action<Index1D, PoolShape, ArrayView<float>, Prologue, ArrayView<float>>>(PoolingKernels.GlobalPoolForward);
        GlobalPoolBackward = Grouped<Action<KernelConfig, PoolShape, ArrayView<float>, ArrayView<float>, Prologue, BatchNormBackward>>(PoolingKernels.GlobalPoolBackwardThroughBatchNorm);
        LinearForward = AutoGrouped<Action<Index1D, int, int, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>>>(ClassifierKernels.LinearForward);
        SoftmaxCrossEntropy = AutoGrouped<Action<Index1D, int, int, ArrayView<float>, ArrayView<int>, ArrayView<float>, ArrayView<float>>>(ClassifierKernels.SoftmaxCrossEntropy);
        LinearBackwardInput = AutoGrouped<Action<Index1D, int, int, ArrayView<float>, ArrayView<float>, ArrayView<float>>>(ClassifierKernels.LinearBackwardInput);
        LinearBackwardParameters = AutoGrouped<Action<Index1D, int, int, int, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>>>(ClassifierKernels.LinearBackwardParameters);
        Dropout = OnFirstUse<Action<Index1D, ChannelRange, ArrayView<float>, ArrayView<uint>, uint, float>>(DropoutKernels.Apply, autoGrouped: true); // networks with dropout only
        Fill = AutoGrouped<Action<Index1D, ArrayView<float>, float>>(MemoryKernels.Fill);
        FlagNonFinite = AutoGrouped<Action<Index1D, ArrayView<float>, ArrayView<float>>>(OptimizerKernels.FlagNonFinite);
        Sgd = AutoGrouped<Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, float, float, float, int, int>>(OptimizerKernels.Sgd);
    }

    private readonly List<(string Name, PendingKernel Kernel)> _launchers = [];
    private readonly int _maxForwardSplits;
    private readonly int? _bands;
    private readonly bool _growthWherePossible, _warpShuffles, _quads;

    /// <summary>Whether version 4 runs a forward with its direct growth kernel (ConvolutionKernels.Growth.cs).</summary>
    private bool UsesGrowthKernel(ConvShape s) => Convolution == ConvolutionVersion.Banded
        && (_growthWherePossible ? ConvolutionKernels.GrowthKernelApplies(s) : ConvolutionKernels.GrowthKernelFits(s));

    /// <summary>
    /// Whether version 4 takes a conv's weight gradient with its direct growth kernel: wherever it applies (it splits the
    /// reduction to fill the GPU itself), unless a test fixed the band count to check the banded kernels.
    /// </summary>
    private bool UsesGrowthWeightKernel(ConvShape s) => Convolution == ConvolutionVersion.Banded
        && (_growthWherePossible || _bands is null) && ConvolutionKernels.GrowthKernelApplies(s);

    /// <summary>
    /// Whether version 4 takes a conv's input gradient through BN with its direct growth kernel: where it applies and has
    /// at least 256 groups (as the growth forward), or wherever it applies in the tests' growth variant.
    /// </summary>
    private bool UsesGrowthInputKernel(ConvShape s) => Convolution == ConvolutionVersion.Banded && ConvolutionKernels.GrowthKernelApplies(s)
        && (_growthWherePossible || (_bands is null && ConvolutionKernels.GrowthInputGroups(s) >= 256));

    /// <summary>
    /// A conv's forward product as versions 3 and 4 launch it (and Prepare compiles for it): the tiling of its output
    /// channels x pixels, and its split along the reduction (<see cref="ForwardSplits"/>).
    /// </summary>
    private ((int Bands, int Rows, int Tiles, int StatisticsTiles) Tiling, int Splits, int SplitSteps) ForwardPlan(ConvShape s) =>
        ProductPlan(s.OutChannels, s.Batch * s.OutSize * s.OutSize, s.InChannels * s.Kernel * s.Kernel);

    /// <summary>As <see cref="ForwardPlan"/> for the backward-input product (input channels x input pixels, reduced over dY's channels and taps).</summary>
    private ((int Bands, int Rows, int Tiles, int StatisticsTiles) Tiling, int Splits, int SplitSteps) InputPlan(ConvShape s) =>
        ProductPlan(s.InChannels, s.Batch * s.InSize * s.InSize, s.OutChannels * s.Kernel * s.Kernel);

    /// <summary>The tiling of a rows x pixels product reduced over <paramref name="depth"/>, and its split (<see cref="ForwardSplits"/>).</summary>
    private ((int Bands, int Rows, int Tiles, int StatisticsTiles) Tiling, int Splits, int SplitSteps) ProductPlan(int rows, int pixels, int depth)
    {
        var tiling = TilingFor(rows, pixels);
        int steps = ConvolutionKernels.Ceiling(depth, ConvolutionKernels.TileDepth);
        var (splits, splitSteps) = ForwardSplits(tiling.Tiles, steps, (long)rows * pixels, _maxForwardSplits);
        return (tiling, splits, splitSteps);
    }

    /// <summary>
    /// How a forward, backward-input or weight-gradient product of <paramref name="rows"/> x <paramref name="columns"/> is
    /// tiled: version 4's bands (16 m x 128; one band is version 3's 16-row tile), or version 2/3's 16 x 128 or 32 x 64.
    /// StatisticsTiles: the column tiles whose per-channel sums the epilogues write.
    /// </summary>
    private (int Bands, int Rows, int Tiles, int StatisticsTiles) TilingFor(int rows, int columns)
    {
        int tileRows = ConvolutionKernels.TileRowsFor(rows), bands = 1;
        if (Convolution == ConvolutionVersion.Banded)
        {
            bands = _bands ?? ConvolutionKernels.BandsFor(rows);
            tileRows = ConvolutionKernels.BandRows * bands;
        }
        int tileColumns = bands > 1 ? ConvolutionKernels.BandColumns : ConvolutionKernels.TileArea / tileRows;
        int columnTiles = ConvolutionKernels.Ceiling(columns, tileColumns);
        return (bands, tileRows, ConvolutionKernels.Ceiling(rows, tileRows) * columnTiles, columnTiles);
    }

    /// <summary>
    /// The tap kind <see cref="Prepare"/> compiles ahead for a 1x1 product on images of <paramref name="size"/>^2 pixels:
    /// quads wherever the image size allows, as the arena's views are aligned (MemoryPlanTests); a misaligned view
    /// compiles its kind on first use (<see cref="PixelTaps"/>).
    /// </summary>
    private TapKind PreparedPixelTaps(ConvShape s, int size) =>
        ConvolutionKernels.TapKindOf(s) is TapKind.OneByOne && _quads && size * size % 4 == 0 ? TapKind.OneByOneQuads : ConvolutionKernels.TapKindOf(s);

    /// <summary>The tap kind of a launch that reads <paramref name="image"/>: the prepared one, scalars where the view is not 16-byte aligned.</summary>
    private TapKind PixelTaps(ConvShape s, int size, ArrayView<float> image) =>
        PreparedPixelTaps(s, size) is var kind && kind is TapKind.OneByOneQuads && !ConvolutionKernels.Aligned16(image) ? TapKind.OneByOne : kind;

    /// <summary>Whether version 4's banded forwards, input gradients through BN and weight gradients run on the tensor cores (version 5).</summary>
    private readonly bool _tensorCores;

    /// <summary>
    /// Version 4's kernels of one product for 2, 3 and 4 bands and each tap kind, each compiled on first use (a network
    /// uses few); none in other versions. In a tensor-core set the entries are version 5's kernels of the product
    /// where it has one (<see cref="ConvolutionKernels.TensorCoreKernel"/>: same arguments), so launches need not ask.
    /// </summary>
    private Dictionary<(int Bands, TapKind Taps), Lazy<T>> Banded<T>(ConvolutionKernels.BandedProduct product) where T : Delegate
    {
        if (Convolution != ConvolutionVersion.Banded) return []; // (looked up only where TilingFor chose bands)
        var kernels = new Dictionary<(int, TapKind), Lazy<T>>();
        for (int m = 2; m <= 4; m++)
            foreach (var taps in Enum.GetValues<TapKind>())
            {
                var method = (_tensorCores ? ConvolutionKernels.TensorCoreKernel(product, m, taps, _warpShuffles) : null)
                    ?? ConvolutionKernels.BandedKernel(product, m, taps, _warpShuffles);
                var kernel = new Lazy<T>(() => Counted<T>(method, autoGrouped: false));
                kernels[(m, taps)] = kernel;
                _compileOnFirstUse.Add(() => _ = kernel.Value);
            }
        return kernels;
    }

    private readonly List<Action> _compileOnFirstUse = [];
    private readonly Action _prepareStemPool = () => { }; // (host kernel sets: nothing to compile)

    /// <summary>Starts compiling the ImageNet stem's max-pooling kernels and the statistics pass after them (compiled on first use otherwise).</summary>
    internal void PrepareStemPool() => _prepareStemPool();

    /// <summary>Starts compiling the dropout kernel and the statistics pass after it (compiled on first use otherwise).</summary>
    internal void PrepareDropout()
    {
        StartOnFirstUse(Dropout);
        StartOnFirstUse(Statistics);
    }

    private Action<ConvShape, InputGradient>? _prepare;

    /// <summary>
    /// Starts compiling the kernels these convolutions will launch that are otherwise compiled on first use (version 4's
    /// band counts and growth kernels), so that they compile beside the rest instead of one by one in the first step.
    /// </summary>
    internal void Prepare(IEnumerable<(ConvShape Shape, InputGradient Input)> convolutions)
    {
        if (_prepare is null) return;
        foreach (var (shape, input) in convolutions) _prepare(shape, input);
    }

    /// <summary>Compiles the kernels loaded on first use (version 4's band counts), so that <see cref="Launchers"/> lists every one.</summary>
    internal void CompileAll()
    {
        foreach (var compile in _compileOnFirstUse) compile();
        WaitForCompilation();
    }

    /// <summary>
    /// Every compiled kernel of a GPU kernel set as ILGPU loaded it (the properties hold counting wrappers, and the conv
    /// properties closures that choose launch geometry and scratch), for inspecting registers and spills.
    /// </summary>
    internal IReadOnlyList<(string Name, Kernel Kernel)> Launchers => _launchers.Select(l => (l.Name, l.Kernel.Kernel)).ToList();

    /// <summary>
    /// Kernel launches so far (GPU kernel sets; the host's passes are not counted). Launch count is what bounds a
    /// DenseNet step on a GPU once the kernels are fast: each launch costs microseconds however small its work.
    /// </summary>
    public long Launches => _launches;

    private long _launches;

    // Per-kernel profile while one is being taken: launches and seconds, each launch waited for (see StartProfile).
    private Dictionary<string, (long Launches, double Seconds)>? _profile;

    /// <summary>Counts a launch; while profiling, waits for earlier work and returns the start time.</summary>
    private long BeforeLaunch()
    {
        Interlocked.Increment(ref _launches);
        if (_profile is null) return 0;
        _accelerator!.Synchronize();
        return Stopwatch.GetTimestamp();
    }

    /// <summary>While profiling, waits for the launch to finish and adds its time to its kernel's row.</summary>
    private void AfterLaunch(string name, long start, int size, bool groups)
    {
        if (_profile is null) return;
        string geometry = size < 0 ? "" : groups ? $"{size} groups" : $"{size} threads";
        _accelerator!.Synchronize();
        double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
        var (launches, total) = _profile.GetValueOrDefault(name);
        _profile[name] = (launches + 1, total + seconds);
        string detail = $"{name} {geometry}";
        var byGeometry = _profileByGeometry!;
        (launches, total) = byGeometry.GetValueOrDefault(detail);
        byGeometry[detail] = (launches + 1, total + seconds);
    }

    private Dictionary<string, (long Launches, double Seconds)>? _profileByGeometry;

    /// <summary>
    /// The last profile (<see cref="StopProfile"/>) per kernel and launch size ("Family.Method 512 groups" or
    /// "Family.Method 65536 threads"): the launch size tells a late dense block's small grid from an early block's
    /// large one. Slowest first.
    /// </summary>
    public IReadOnlyList<(string Kernel, long Launches, double Seconds)> LastProfileByGeometry { get; private set; } = [];


    /// <summary>
    /// Starts a per-kernel profile: from now each launch is waited for and timed (wall clock, so a row includes the
    /// launch's own overhead, which is what a kernel of microseconds costs anyway). Slow; for diagnosis only.
    /// </summary>
    public void StartProfile()
    {
        if (_accelerator is null) throw new NotSupportedException("The host kernels run synchronously and are not profiled per kernel.");
        _accelerator.Synchronize();
        _profile = [];
        _profileByGeometry = [];
    }

    /// <summary>Ends the profile: per kernel, its launches and seconds, most time first.</summary>
    public IReadOnlyList<(string Kernel, long Launches, double Seconds)> StopProfile()
    {
        var profile = _profile ?? [];
        _profile = null;
        LastProfileByGeometry = (_profileByGeometry ?? []).Select(p => (p.Key, p.Value.Launches, p.Value.Seconds)).OrderByDescending(p => p.Seconds).ToList();
        _profileByGeometry = null;
        return profile.Select(p => (p.Key, p.Value.Launches, p.Value.Seconds)).OrderByDescending(p => p.Seconds).ToList();
    }

    /// <summary>
    /// The launcher of an explicitly grouped kernel (<typeparamref name="T"/>: Action&lt;KernelConfig, ...&gt;) on the
    /// default stream. The kernel compiles on a worker thread (<see cref="KernelLoader"/>); its first launch, or
    /// <see cref="WaitForCompilation"/>, waits for it.
    /// </summary>
    private T Grouped<T>(Delegate kernel) where T : Delegate => Counted<T>(kernel.Method, autoGrouped: false);

    /// <summary>As <see cref="Grouped{T}"/> for an implicitly grouped kernel (Action&lt;Index1D, ...&gt;) with ILGPU's group size.</summary>
    private T AutoGrouped<T>(Delegate kernel) where T : Delegate => Counted<T>(kernel.Method, autoGrouped: true);

    /// <summary>
    /// As <see cref="Grouped{T}"/> or <see cref="AutoGrouped{T}"/> for a kernel many networks never launch (max pooling
    /// of the ImageNet stem, dropout, evaluation's BN): compiled on its first launch, or by <see cref="CompileAll"/>,
    /// not with the rest. Each kernel a session compiles is one more for the driver's JIT in the first step (on an
    /// H200 about 0.1 to 0.7 s each, one at a time).
    /// </summary>
    private T OnFirstUse<T>(Delegate kernel, bool autoGrouped) where T : Delegate
    {
        var launcher = new Lazy<T>(() => Counted<T>(kernel.Method, autoGrouped));
        _compileOnFirstUse.Add(() => _ = launcher.Value);
        var parameters = typeof(T).GetMethod("Invoke")!.GetParameters().Select(p => Expression.Parameter(p.ParameterType, p.Name)).ToArray();
        var wrapper = Expression.Lambda<T>(Expression.Invoke(Expression.Property(Expression.Constant(launcher), nameof(Lazy<T>.Value)), parameters), parameters).Compile();
        _startByLauncher[wrapper] = () => _ = launcher.Value;
        return wrapper;
    }

    private readonly Dictionary<Delegate, Action> _startByLauncher = [];

    /// <summary>Starts compiling the kernel behind a launcher of <see cref="OnFirstUse{T}"/> (nothing for an eagerly compiled one).</summary>
    private void StartOnFirstUse(Delegate launcher)
    {
        if (_startByLauncher.TryGetValue(launcher, out var start)) start();
    }

    /// <summary>
    /// The launcher, counting (and when profiling, timing) its launches: an expression-compiled delegate of type
    /// <typeparamref name="T"/> that passes <see cref="Stream"/> and its arguments to ILGPU's launcher, once loaded.
    /// </summary>
    private T Counted<T>(MethodInfo method, bool autoGrouped) where T : Delegate
    {
        var accelerator = _accelerator!;
        string name = KernelLoader.NameOf(method);
        var parameters = typeof(T).GetMethod("Invoke")!.GetParameters().Select(p => Expression.Parameter(p.ParameterType, p.Name)).ToArray();
        var pending = new PendingKernel(KernelLoader.Start(accelerator, method, autoGrouped),
            Expression.GetActionType([typeof(AcceleratorStream), .. parameters.Select(p => p.Type)]));
        _launchers.Add((name, pending));
        var start = Expression.Variable(typeof(long), "start");
        var self = Expression.Constant(this);
        // The launch size (the first argument: a KernelConfig, or an Index1D for implicitly grouped kernels), for the profile.
        var first = parameters.Length > 0 ? parameters[0] : null;
        bool grouped = first?.Type == typeof(KernelConfig);
        Expression size = grouped ? Expression.Property(Expression.Property(first!, nameof(KernelConfig.GridDim)), nameof(Index3D.X))
            : first?.Type == typeof(Index1D) ? Expression.Property(first, nameof(Index1D.X))
            : Expression.Constant(-1);
        var launcher = Expression.Convert(Expression.Property(Expression.Constant(pending), nameof(PendingKernel.Launcher)), pending.LauncherType);
        var body = Expression.Block([start],
            Expression.Assign(start, Expression.Call(self, typeof(KernelSet).GetMethod(nameof(BeforeLaunch), BindingFlags.Instance | BindingFlags.NonPublic)!)),
            Expression.Invoke(launcher, [Expression.Field(self, nameof(_stream)), .. parameters]),
            Expression.Call(self, typeof(KernelSet).GetMethod(nameof(AfterLaunch), BindingFlags.Instance | BindingFlags.NonPublic)!, Expression.Constant(name), start, size, Expression.Constant(grouped)));
        return Expression.Lambda<T>(body, parameters).Compile();
    }

    /// <summary>A kernel being compiled, and once it is loaded, ILGPU's launcher for it (stream first).</summary>
    private sealed class PendingKernel(Task<Kernel> kernel, Type launcherType)
    {
        private static readonly MethodInfo s_createLauncher = typeof(Kernel).GetMethod(nameof(ILGPU.Runtime.Kernel.CreateLauncherDelegate))!;
        private Delegate? _launcher;

        public Type LauncherType => launcherType;

        /// <summary>The loaded kernel; waits for it, and rethrows what its compilation threw.</summary>
        public Kernel Kernel => kernel.GetAwaiter().GetResult();

        public Delegate Launcher => _launcher ??= (Delegate)s_createLauncher.MakeGenericMethod(launcherType).Invoke(Kernel, null)!;
    }

    /// <summary>Waits until every kernel requested so far is compiled and loaded; rethrows the first failure.</summary>
    internal void WaitForCompilation()
    {
        foreach (var (_, pending) in _launchers) _ = pending.Kernel;
    }

    /// <summary>Which convolution kernels this set launches.</summary>
    public ConvolutionVersion Convolution { get; init; }

    /// <summary>out = conv(relu(bn(input))) (BN-ReLU when the prologue is enabled), written at the shape's channel offset.</summary>
    public required Action<ConvShape, ArrayView<float>, ArrayView<float>, Prologue, ArrayView<float>> ConvForward { get; init; }
    /// <summary>dInput = the gradient with respect to a plain input (no prologue).</summary>
    public required Action<ConvShape, ArrayView<float>, ArrayView<float>, ArrayView<float>> ConvBackwardInput { get; init; }
    /// <summary>
    /// Backward through BN-ReLU into a shared-statistics tensor (DESIGN §4.5): G, S1, S2, dGamma, dBeta; and the
    /// producer's output gradient of the channels it reads last (<see cref="BatchNormBackward.FinalizeCount"/>). So do
    /// the pooling backwards through BN.
    /// </summary>
    public required Action<ConvShape, ArrayView<float>, ArrayView<float>, ArrayView<float>, Prologue, BatchNormBackward> ConvBackwardInputThroughBatchNorm { get; init; }
    /// <summary>dWeight = the weight gradient (overwritten).</summary>
    public required Action<ConvShape, ArrayView<float>, Prologue, ArrayView<float>, ArrayView<float>> ConvBackwardWeights { get; init; }
    public required Action<KernelConfig, ChannelRange, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, float, BatchNormFold> Statistics { get; init; }
    public required Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, float> ScaleShiftEvaluation { get; init; }
    public required Action<Index1D, PoolShape, ArrayView<float>, Prologue, ArrayView<float>> AveragePoolForward { get; init; }
    public required Action<KernelConfig, PoolShape, ArrayView<float>, ArrayView<float>, Prologue, BatchNormBackward> AveragePoolBackward { get; init; }
    public required Action<Index1D, PoolShape, ArrayView<float>, Prologue, ArrayView<float>> MaxPoolForward { get; init; }
    public required Action<KernelConfig, PoolShape, ArrayView<float>, ArrayView<float>, Prologue, BatchNormBackward> MaxPoolBackward { get; init; }
    public required Action<Index1D, PoolShape, ArrayView<float>, Prologue, ArrayView<float>> GlobalPoolForward { get; init; }
    public required Action<KernelConfig, PoolShape, ArrayView<float>, ArrayView<float>, Prologue, BatchNormBackward> GlobalPoolBackward { get; init; }
    public required Action<Index1D, int, int, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>> LinearForward { get; init; }
    public required Action<Index1D, int, int, ArrayView<float>, ArrayView<int>, ArrayView<float>, ArrayView<float>> SoftmaxCrossEntropy { get; init; }
    public required Action<Index1D, int, int, ArrayView<float>, ArrayView<float>, ArrayView<float>> LinearBackwardInput { get; init; }
    public required Action<Index1D, int, int, int, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>> LinearBackwardParameters { get; init; }
    public required Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, float, float, float, int, int> Sgd { get; init; }
    public required Action<Index1D, ChannelRange, ArrayView<float>, ArrayView<uint>, uint, float> Dropout { get; init; }
    public required Action<Index1D, ArrayView<float>, ArrayView<float>> FlagNonFinite { get; init; }
    public required Action<Index1D, ArrayView<float>, float> Fill { get; init; }

    /// <summary>
    /// Split-K of the tiled weight gradient: pixels per split a multiple of the tile depth and at least 256, at most
    /// 64 splits, and at most 4 Mi partial floats (16 MiB of scratch).
    /// </summary>
    internal static (int Splits, int Chunk) WeightGradientSplits(int pixels, int weights)
    {
        int splits = Math.Min(64, Math.Max(1, pixels / 256));
        splits = Math.Max(1, Math.Min(splits, MaxScratchFloats / Math.Max(1, weights)));
        int chunk = ConvolutionKernels.Ceiling(ConvolutionKernels.Ceiling(pixels, splits), ConvolutionKernels.TileDepth) * ConvolutionKernels.TileDepth;
        return (ConvolutionKernels.Ceiling(pixels, chunk), chunk);
    }

    /// <summary>
    /// Split-K of version 3's weight gradient: about <see cref="WeightGradientGroups"/> groups in all (tiles x splits),
    /// where version 2's at most 64 splits gave a 3x3 growth conv (4 tiles) 256 groups, too few to fill a large GPU;
    /// at least 64 pixels (8 steps) per split, at most 4 Mi partial floats (16 MiB of scratch). A fixed target, not
    /// the device's multiprocessor count, so the summation order (and the result, bit for bit) is the same on every
    /// device.
    /// </summary>
    internal static (int Splits, int Chunk) PipelinedWeightGradientSplits(int pixels, int weights, int tiles)
    {
        int splits = ConvolutionKernels.Ceiling(WeightGradientGroups, Math.Max(1, tiles));
        splits = Math.Min(splits, Math.Max(1, pixels / (8 * ConvolutionKernels.TileDepth)));
        splits = Math.Max(1, Math.Min(splits, MaxScratchFloats / Math.Max(1, weights)));
        int chunk = ConvolutionKernels.Ceiling(ConvolutionKernels.Ceiling(pixels, splits), ConvolutionKernels.TileDepth) * ConvolutionKernels.TileDepth;
        return (ConvolutionKernels.Ceiling(pixels, chunk), chunk);
    }

    /// <summary>
    /// Split-K of version 3's forward: a grid of fewer than 256 tiles (late dense blocks, small images) is split along
    /// the reduction into about 512 groups in all, at least 4 steps (32 reduction elements) per split, at most
    /// <paramref name="maxSplits"/> splits and 4 Mi partial floats. A fixed target (not the device's multiprocessor
    /// count): the same summation order on every device. Returns the splits and the steps per split.
    /// </summary>
    internal static (int Splits, int SplitSteps) ForwardSplits(int tiles, int steps, long outputs, int maxSplits)
    {
        if (tiles >= 256 || tiles <= 0) return (1, steps);
        int splits = Math.Min(Math.Min(ConvolutionKernels.Ceiling(512, tiles), steps / 4), maxSplits);
        splits = (int)Math.Min(splits, (long)MaxScratchFloats / Math.Max(1, outputs));
        if (splits <= 1) return (1, steps);
        int splitSteps = ConvolutionKernels.Ceiling(steps, splits);
        return (ConvolutionKernels.Ceiling(steps, splitSteps), splitSteps);
    }

    /// <summary>
    /// Chunks per channel of a pool backward: about 1,024 groups in all (a fixed target: the same summation order on
    /// every device), each thread at least 16 elements.
    /// </summary>
    internal static int PoolChunks(PoolShape p, int groupSize) =>
        Math.Max(1, Math.Min(ConvolutionKernels.Ceiling(1024, p.Channels), p.Batch * p.InSize * p.InSize / (16 * groupSize)));

    /// <summary>Floats of scratch a launch's partial products may take (16 MiB), where a launch can do with less.</summary>
    private const int MaxScratchFloats = 4 << 20;

    /// <summary>A consumer finalizes at most the channels it reads: a count outside [0, channels) would index past them.</summary>
    internal static void RequireFinalizeCount(ChannelRange layout, BatchNormBackward bn)
    {
        if (bn.FinalizeCount < 0 || bn.FinalizeCount > layout.Count)
            throw new ArgumentOutOfRangeException(nameof(bn), $"FinalizeCount is {bn.FinalizeCount}, but the backward reads {layout.Count} channels: finalize at most those.");
    }

    /// <summary>Groups a version 3 weight-gradient launch aims for: 8 per multiprocessor of a 128-multiprocessor GPU.</summary>
    internal const int WeightGradientGroups = 1024;

    // Scratch for the tiled kernels' partial sums: grown on demand (in the first step; growth waits for queued work,
    // which may still read the old buffer), then reused by every launch, which the stream orders.
    private readonly Accelerator? _accelerator;
    private MemoryBuffer1D<float, Stride1D.Dense>? _floatScratch;
    private MemoryBuffer1D<double, Stride1D.Dense>? _doubleScratch;

    private ArrayView<float> FloatScratch(long length) => Scratch(ref _floatScratch, length);

    private ArrayView<double> DoubleScratch(long length) => Scratch(ref _doubleScratch, length);

    private ArrayView<T> Scratch<T>(ref MemoryBuffer1D<T, Stride1D.Dense>? buffer, long length) where T : unmanaged
    {
        if (buffer is null || buffer.Length < length)
        {
            // A captured graph holds the scratch's address: growing it there would leave the graph reading freed memory,
            // and the synchronisation is not allowed while a stream captures.
            if (_stream != _accelerator!.DefaultStream)
                throw new InvalidOperationException($"The kernels' scratch would grow from {buffer?.LengthInBytes ?? 0} to {length * Interop.SizeOf<T>()} bytes while launching on a stream of their own (a CUDA graph capture): run the step once on the default stream first.");
            _accelerator.Synchronize();
            ScratchGeneration++;
            buffer?.Dispose();
            buffer = _accelerator.Allocate1D<T>(length);
        }
        return buffer.View.SubView(0, length);
    }

    /// <summary>
    /// How many times the scratch has been reallocated: a CUDA graph captured at one generation reads the scratch at
    /// that generation's addresses and must be captured again after it grows (another session on the device may grow it).
    /// </summary>
    public int ScratchGeneration { get; private set; }

    private AcceleratorStream _stream = null!;

    /// <summary>
    /// The stream every launch goes to: the accelerator's default stream, except while a session captures a CUDA graph
    /// of its step on a stream of its own (<see cref="CudaGraphStep"/>). Not for the host kernels.
    /// </summary>
    public AcceleratorStream Stream
    {
        get => _stream;
        set => _stream = value ?? throw new ArgumentNullException(nameof(value));
    }

    /// <summary>Runs <paramref name="launches"/> with every launch going to <paramref name="stream"/>, then puts the stream before back.</summary>
    public void LaunchOn(AcceleratorStream stream, Action launches)
    {
        var previous = Stream;
        Stream = stream;
        try { launches(); }
        finally { _stream = previous; }
    }

    /// <summary>Bytes of scratch the tiled kernels hold now (part of a session's device memory).</summary>
    public long ScratchBytes => (_floatScratch?.LengthInBytes ?? 0) + (_doubleScratch?.LengthInBytes ?? 0);

    private Action<ConvShape, ArrayView<float>, ArrayView<float>, Prologue, ArrayView<float>, BatchStatistics>? _forwardWithStatistics;
    private readonly int _reductionGroupSize = 1;

    /// <summary>The output channels of a conv as a channel range (for statistics).</summary>
    private static ChannelRange OutputRange(ConvShape s) =>
        new() { Batch = s.Batch, Stride = s.OutStride, Offset = s.OutOffset, Count = s.OutChannels, Size = s.OutSize };

    /// <summary>
    /// A training forward: the conv, then the batch statistics of the channels it wrote. The tiled version computes
    /// them in the conv's epilogue (no second pass over the output); the others run <see cref="Statistics"/> after it.
    /// </summary>
    public void ConvForwardWithStatistics(ConvShape s, ArrayView<float> input, ArrayView<float> weight, Prologue prologue, ArrayView<float> output, BatchStatistics statistics)
    {
        if (_forwardWithStatistics is { } fused)
        {
            fused(s, input, weight, prologue, output, statistics);
            return;
        }
        ConvForward(s, input, weight, prologue, output);
        Statistics(new KernelConfig(s.OutChannels, _reductionGroupSize), OutputRange(s), output, statistics.Mean, statistics.Variance, statistics.InvStd, statistics.Epsilon, statistics.Fold);
    }

    /// <summary>Sets a view to zero (on the stream, like every other launch).</summary>
    public void Zero(ArrayView<float> view)
    {
        if (view.Length > 0) Fill((int)view.Length, view, 0f);
    }
}
