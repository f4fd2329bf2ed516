using System;
using DenseGen.Kernels;
using ILGPU;
using ILGPU.Runtime;

namespace DenseGen.Execution;

/// <summary>Every kernel DenseGen launches, compiled once per device and held as typed delegates.</summary>
internal sealed class KernelSet
{
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

    public Action<Index1D, ConvShape, ArrayView<float>, ArrayView<float>, Prologue, ArrayView<float>> ConvForward { get; }
    public Action<Index1D, ConvShape, ArrayView<float>, ArrayView<float>, ArrayView<float>> ConvBackwardInput { get; }
    public Action<KernelConfig, ConvShape, ArrayView<float>, ArrayView<float>, ArrayView<float>, Prologue, BatchNormBackward> ConvBackwardInputThroughBatchNorm { get; }
    public Action<KernelConfig, ConvShape, ArrayView<float>, Prologue, ArrayView<float>, ArrayView<float>> ConvBackwardWeights { get; }
    public Action<KernelConfig, ChannelRange, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, float> Statistics { get; }
    public Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>> ScaleShiftTraining { get; }
    public Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, float> ScaleShiftEvaluation { get; }
    public Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, float, float> UpdateRunningStatistics { get; }
    public Action<Index1D, ChannelRange, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>> Finalize { get; }
    public Action<Index1D, PoolShape, ArrayView<float>, Prologue, ArrayView<float>> AveragePoolForward { get; }
    public Action<KernelConfig, PoolShape, ArrayView<float>, ArrayView<float>, Prologue, BatchNormBackward> AveragePoolBackward { get; }
    public Action<Index1D, PoolShape, ArrayView<float>, Prologue, ArrayView<float>> MaxPoolForward { get; }
    public Action<KernelConfig, PoolShape, ArrayView<float>, ArrayView<float>, Prologue, BatchNormBackward> MaxPoolBackward { get; }
    public Action<Index1D, PoolShape, ArrayView<float>, Prologue, ArrayView<float>> GlobalPoolForward { get; }
    public Action<KernelConfig, PoolShape, ArrayView<float>, ArrayView<float>, Prologue, BatchNormBackward> GlobalPoolBackward { get; }
    public Action<Index1D, int, int, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>> LinearForward { get; }
    public Action<Index1D, int, int, ArrayView<float>, ArrayView<int>, ArrayView<float>, ArrayView<float>> SoftmaxCrossEntropy { get; }
    public Action<Index1D, int, int, ArrayView<float>, ArrayView<float>, ArrayView<float>> LinearBackwardInput { get; }
    public Action<Index1D, int, int, int, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>> LinearBackwardParameters { get; }
    public Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, float, float, float, int, int> Sgd { get; }
    public Action<Index1D, ChannelRange, ArrayView<float>, uint, float> Dropout { get; }
    private Action<Index1D, ArrayView<float>, float> Fill { get; }

    /// <summary>Sets a view to zero (on the stream, like every other launch).</summary>
    public void Zero(ArrayView<float> view)
    {
        if (view.Length > 0) Fill((int)view.Length, view, 0f);
    }
}
