using System;
using System.Threading.Tasks;
using DenseGen.Kernels;
using DenseGen.Kernels.Host;
using ILGPU;
using ILGPU.Runtime;

namespace DenseGen.Execution;

internal sealed partial class KernelSet
{
    /// <summary>
    /// The kernels run on the host's cores, on memory of ILGPU's CPU accelerator (so sessions, views and copies are
    /// the same as on a GPU). The element-wise kernels are the very methods the GPU runs, called per index from a
    /// parallel loop; the per-channel reductions call the same per-thread bodies with one thread per group; the
    /// stride-1 convolutions, where the time goes, use the SIMD versions of <see cref="HostConvolution"/>.
    /// Synchronous: a call returns when its work is done.
    /// </summary>
    public static KernelSet ForHost()
    {
        var conv = new HostConvolution();
        return new KernelSet
        {
            ConvForward = (s, input, weight, prologue, output) =>
            {
                if (s.Stride == 1) conv.Forward(s, input, weight, prologue, output);
                else ForEach(s.OutputElements, i => ConvolutionKernels.Forward(i, s, input, weight, prologue, output));
            },
            ConvBackwardInput = (s, dOut, weight, dInput) =>
            {
                if (s.Stride == 1) conv.BackwardInput(s, dOut, weight, dInput);
                else ForEach(s.InputElements, i => ConvolutionKernels.BackwardInput(i, s, dOut, weight, dInput));
            },
            ConvBackwardInputThroughBatchNorm = (s, dOut, weight, input, prologue, bn) =>
            {
                if (s.Stride == 1) conv.BackwardInputThroughBatchNorm(s, dOut, weight, input, prologue, bn);
                else ThroughBatchNormPerChannel(s.InChannels, bn, (int ci, ref double sumA, ref double sumAX) =>
                    ConvolutionKernels.BackwardInputThroughBatchNormPart(s, dOut, weight, input, prologue, bn, ci, 0, 1, ref sumA, ref sumAX));
                Finalize(s.InputLayout, bn, input);
            },
            ConvBackwardWeights = (s, input, prologue, dOut, dWeight) =>
            {
                if (s.Stride == 1) conv.BackwardWeights(s, input, prologue, dOut, dWeight);
                else PerChannel(s.WeightElements, w => dWeight[w] = (float)ConvolutionKernels.BackwardWeightsPart(s, input, prologue, dOut, w, 0, 1));
            },
            Statistics = (config, r, buffer, mean, variance, invStd, epsilon, fold) => PerChannel(config, c =>
            {
                double sum = 0, sumSquares = 0;
                BatchNormKernels.StatisticsPart(r, buffer, c, 0, 1, ref sum, ref sumSquares);
                BatchNormKernels.FinishStatistics(r, c, sum, sumSquares, mean, variance, invStd, epsilon, fold, 0, 1);
            }),
            ScaleShiftEvaluation = (count, runningMean, runningVariance, gamma, beta, scale, shift, epsilon) =>
                ForEach(count, c => BatchNormKernels.ScaleShiftEvaluation(c, runningMean, runningVariance, gamma, beta, scale, shift, epsilon)),
            AveragePoolForward = (count, p, input, prologue, output) =>
                ForEach(count, i => PoolingKernels.AveragePoolForward(i, p, input, prologue, output)),
            AveragePoolBackward = (config, p, dOut, input, prologue, bn) =>
            {
                ThroughBatchNormPerChannel(config.GridDim.X, bn, (int c, ref double sumA, ref double sumAX) =>
                    PoolingKernels.AveragePoolBackwardThroughBatchNormPart(p, dOut, input, prologue, bn, c, 0, 1, ref sumA, ref sumAX));
                Finalize(p.InputLayout, bn, input);
            },
            MaxPoolForward = (count, p, input, prologue, output) =>
                ForEach(count, i => PoolingKernels.MaxPoolForward(i, p, input, prologue, output)),
            MaxPoolBackward = (config, p, dOut, input, prologue, bn) =>
            {
                ThroughBatchNormPerChannel(config.GridDim.X, bn, (int c, ref double sumA, ref double sumAX) =>
                    PoolingKernels.MaxPoolBackwardThroughBatchNormPart(p, dOut, input, prologue, bn, default, c, 0, 1, ref sumA, ref sumAX));
                Finalize(p.InputLayout, bn, input);
            },
            GlobalPoolForward = (count, p, input, prologue, features) =>
                ForEach(count, i => PoolingKernels.GlobalPoolForward(i, p, input, prologue, features)),
            GlobalPoolBackward = (config, p, dFeatures, input, prologue, bn) =>
            {
                ThroughBatchNormPerChannel(config.GridDim.X, bn, (int c, ref double sumA, ref double sumAX) =>
                    PoolingKernels.GlobalPoolBackwardThroughBatchNormPart(p, dFeatures, input, prologue, bn, c, 0, 1, ref sumA, ref sumAX));
                Finalize(p.InputLayout, bn, input);
            },
            LinearForward = (count, features, classes, input, weight, bias, logits) =>
                ForEach(count, i => ClassifierKernels.LinearForward(i, features, classes, input, weight, bias, logits)),
            SoftmaxCrossEntropy = (count, batch, classes, logits, labels, loss, dLogits) =>
                ForEach(count, n => ClassifierKernels.SoftmaxCrossEntropy(n, batch, classes, logits, labels, loss, dLogits)),
            LinearBackwardInput = (count, features, classes, dLogits, weight, dInput) =>
                ForEach(count, i => ClassifierKernels.LinearBackwardInput(i, features, classes, dLogits, weight, dInput)),
            LinearBackwardParameters = (count, batch, features, classes, input, dLogits, dWeight, dBias) =>
                ForEach(count, i => ClassifierKernels.LinearBackwardParameters(i, batch, features, classes, input, dLogits, dWeight, dBias)),
            Sgd = (count, parameters, gradients, momentumBuffer, learningRate, momentum, weightDecay, nesterov, firstStep) =>
                ForEach(count, i => OptimizerKernels.Sgd(i, parameters, gradients, momentumBuffer, learningRate, momentum, weightDecay, nesterov, firstStep)),
            FlagNonFinite = (count, values, flag) => ForEach(count, i => OptimizerKernels.FlagNonFinite(i, values, flag)),
            Dropout = (count, r, buffer, stepKey, layerKey, rate) => ForEach(count, i => DropoutKernels.Apply(i, r, buffer, stepKey, layerKey, rate)),
            Fill = (count, target, value) => HostMemory.Fill(target.SubView(0, count.X), value),
        };
    }

    /// <summary>Runs body(i) for i in [0, count) in chunks on every core (inline when small).</summary>
    private static void ForEach(Index1D count, Action<int> body)
    {
        int n = count.X;
        if (n < 4096)
        {
            for (int i = 0; i < n; i++) body(i);
            return;
        }
        int chunks = Math.Min(n / 1024, Environment.ProcessorCount * 8);
        Parallel.For(0, chunks, c =>
        {
            int end = (int)((long)n * (c + 1) / chunks);
            for (int i = (int)((long)n * c / chunks); i < end; i++) body(i);
        });
    }

    private delegate void ChannelSums(int channel, ref double sumA, ref double sumAX);

    /// <summary>
    /// After a backward through BN has finished its channels: the producer's output gradient of those it read last
    /// (<see cref="BatchNormBackward.FinalizeCount"/>; the GPU kernels do this in their finishing groups).
    /// </summary>
    private static void Finalize(ChannelRange layout, BatchNormBackward bn, ArrayView<float> input)
    {
        KernelSet.RequireFinalizeCount(layout, bn);
        Parallel.For(layout.Count - bn.FinalizeCount, layout.Count, c => BatchNormKernels.Finalize(layout, bn, input, c));
    }

    /// <summary>
    /// A backward through BN-ReLU per channel: the kernel's per-thread body with one thread does the channel's whole
    /// share, then the channel is finished (dGamma, dBeta, S1, S2), as the GPU group does.
    /// </summary>
    private static void ThroughBatchNormPerChannel(int channels, BatchNormBackward bn, ChannelSums part) => PerChannel(channels, c =>
    {
        double sumA = 0, sumAX = 0;
        part(c, ref sumA, ref sumAX);
        BatchNormKernels.FinishChannel(bn, c, sumA, sumAX);
    });

    /// <summary>One body per group of a grouped launch (each the group's whole work, with one thread).</summary>
    private static void PerChannel(KernelConfig config, Action<int> body) => PerChannel(config.GridDim.X, body);

    private static void PerChannel(int groups, Action<int> body) => Parallel.For(0, groups, body);
}

internal static class HostMemory
{
    /// <summary>Fills a CPU-accelerator view from the host.</summary>
    public static unsafe void Fill(ArrayView<float> view, float value)
    {
        if (view.Length == 0) return;
        new Span<float>((void*)view.LoadEffectiveAddressAsPtr(), checked((int)view.Length)).Fill(value);
    }
}
