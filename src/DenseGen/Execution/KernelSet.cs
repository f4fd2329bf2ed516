using System;
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

    /// <summary>Compiles every kernel for <paramref name="a"/> (CUDA, OpenCL, or ILGPU's CPU accelerator).</summary>
    [SetsRequiredMembers]
    public KernelSet(Accelerator a)
    {
        ConvForward = a.LoadAutoGroupedStreamKernel<Index1D, ConvShape, ArrayView<float>, ArrayView<float>, Prologue, ArrayView<float>>(ConvolutionKernels.Forward);
        ConvBackwardInput = a.LoadAutoGroupedStreamKernel<Index1D, ConvShape, ArrayView<float>, ArrayView<float>, ArrayView<float>>(ConvolutionKernels.BackwardInput);
        ConvBackwardInputThroughBatchNorm = a.LoadStreamKernel<ConvShape, ArrayView<float>, ArrayView<float>, ArrayView<float>, Prologue, BatchNormBackward>(ConvolutionKernels.BackwardInputThroughBatchNorm);
        ConvBackwardWeights = a.LoadStreamKernel<ConvShape, ArrayView<float>, Prologue, ArrayView<float>, ArrayView<float>>(ConvolutionKernels.BackwardWeights);
        Statistics = a.LoadStreamKernel<ChannelRange, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, float>(BatchNormKernels.Statistics);
        ScaleShiftTraining = a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>>(BatchNormKernels.ScaleShiftTraining);
        ScaleShiftEvaluation = a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, float>(BatchNormKernels.ScaleShiftEvaluation);
        UpdateRunningStatistics = a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, float, float>(BatchNormKernels.UpdateRunningStatistics);
        Finalize = a.LoadAutoGroupedStreamKernel<Index1D, ChannelRange, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>>(BatchNormKernels.Finalize);
        AveragePoolForward = a.LoadAutoGroupedStreamKernel<Index1D, PoolShape, ArrayView<float>, Prologue, ArrayView<float>>(PoolingKernels.AveragePoolForward);
        AveragePoolBackward = a.LoadStreamKernel<PoolShape, ArrayView<float>, ArrayView<float>, Prologue, BatchNormBackward>(PoolingKernels.AveragePoolBackwardThroughBatchNorm);
        MaxPoolForward = a.LoadAutoGroupedStreamKernel<Index1D, PoolShape, ArrayView<float>, Prologue, ArrayView<float>>(PoolingKernels.MaxPoolForward);
        MaxPoolBackward = a.LoadStreamKernel<PoolShape, ArrayView<float>, ArrayView<float>, Prologue, BatchNormBackward>(PoolingKernels.MaxPoolBackwardThroughBatchNorm);
        GlobalPoolForward = a.LoadAutoGroupedStreamKernel<Index1D, PoolShape, ArrayView<float>, Prologue, ArrayView<float>>(PoolingKernels.GlobalPoolForward);
        GlobalPoolBackward = a.LoadStreamKernel<PoolShape, ArrayView<float>, ArrayView<float>, Prologue, BatchNormBackward>(PoolingKernels.GlobalPoolBackwardThroughBatchNorm);
        LinearForward = a.LoadAutoGroupedStreamKernel<Index1D, int, int, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>>(ClassifierKernels.LinearForward);
        SoftmaxCrossEntropy = a.LoadAutoGroupedStreamKernel<Index1D, int, int, ArrayView<float>, ArrayView<int>, ArrayView<float>, ArrayView<float>>(ClassifierKernels.SoftmaxCrossEntropy);
        LinearBackwardInput = a.LoadAutoGroupedStreamKernel<Index1D, int, int, ArrayView<float>, ArrayView<float>, ArrayView<float>>(ClassifierKernels.LinearBackwardInput);
        LinearBackwardParameters = a.LoadAutoGroupedStreamKernel<Index1D, int, int, int, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>>(ClassifierKernels.LinearBackwardParameters);
        Dropout = a.LoadAutoGroupedStreamKernel<Index1D, ChannelRange, ArrayView<float>, uint, float>(DropoutKernels.Apply);
        Fill = a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, float>(MemoryKernels.Fill);
        Sgd = a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, float, float, float, int, int>(OptimizerKernels.Sgd);
    }

    public required Action<Index1D, ConvShape, ArrayView<float>, ArrayView<float>, Prologue, ArrayView<float>> ConvForward { get; init; }
    public required Action<Index1D, ConvShape, ArrayView<float>, ArrayView<float>, ArrayView<float>> ConvBackwardInput { get; init; }
    public required Action<KernelConfig, ConvShape, ArrayView<float>, ArrayView<float>, ArrayView<float>, Prologue, BatchNormBackward> ConvBackwardInputThroughBatchNorm { get; init; }
    public required Action<KernelConfig, ConvShape, ArrayView<float>, Prologue, ArrayView<float>, ArrayView<float>> ConvBackwardWeights { get; init; }
    public required Action<KernelConfig, ChannelRange, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, float> Statistics { get; init; }
    public required Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>> ScaleShiftTraining { get; init; }
    public required Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, float> ScaleShiftEvaluation { get; init; }
    public required Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, float, float> UpdateRunningStatistics { get; init; }
    public required Action<Index1D, ChannelRange, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>> Finalize { get; init; }
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
    public required Action<Index1D, ChannelRange, ArrayView<float>, uint, float> Dropout { get; init; }
    public required Action<Index1D, ArrayView<float>, float> Fill { get; init; }

    /// <summary>Sets a view to zero (on the stream, like every other launch).</summary>
    public void Zero(ArrayView<float> view)
    {
        if (view.Length > 0) Fill((int)view.Length, view, 0f);
    }
}
