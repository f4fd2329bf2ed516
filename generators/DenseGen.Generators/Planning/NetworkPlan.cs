using DenseGen.Generators.Infrastructure;
using DenseGen.Generators.Parsing;

namespace DenseGen.Generators.Planning;

/// <summary>Mirror of DenseGen.Model.LayerKind: what a row of the layer table computes.</summary>
internal enum LayerKindPlan { StemConvolution, StemPool, Bottleneck, Composite, Transition, GlobalPool, Classifier }

/// <summary>One row of the layer table (see DenseGen.Model.LayerInfo for the meaning of each field).</summary>
internal sealed record LayerPlan(
    int Index, string Name, LayerKindPlan Kind, int Block,
    int InputChannels, int InputSize, int OutputChannels, int OutputSize, int OutputChannelOffset,
    long Parameters, long MultiplyAdds);

/// <summary>The stem: conv0 and, for ImageNet, norm0 and the max-pool.</summary>
internal sealed record StemPlan(StemKindSpec Kind, int InputChannels, int Channels, int Kernel, int Stride, int Padding, int ConvOutputSize, int OutputSize);

/// <summary>A dense block: its input width k0, layers, growth rate, bottleneck width (0 without) and its buffer.</summary>
internal sealed record BlockPlan(int Index, int Size, int InputChannels, int Layers, int Growth, int BottleneckChannels, double DropRate)
{
    /// <summary>Channels of the block's shared buffer: k0 + L * k.</summary>
    public int OutputChannels => InputChannels + Layers * Growth;

    /// <summary>Channels read by layer <paramref name="layer"/> (0-based): k0 + k * layer.</summary>
    public int LayerInputChannels(int layer) => InputChannels + Growth * layer;
}

/// <summary>A transition after block <see cref="Index"/>: width m to floor(theta m), size halved (floor).</summary>
internal sealed record TransitionPlan(int Index, int InputChannels, int OutputChannels, double Compression, int InputSize, int OutputSize);

/// <summary>
/// Everything the emitter needs, computed once from the spec: shapes, offsets, counts. Pure values, so equal specs
/// give equal plans and the emitter's output is cached.
/// </summary>
internal sealed record NetworkPlan(
    TargetType Target, string DisplayName, int Classes, int InputChannels, int InputSize,
    StemPlan Stem, EquatableArray<BlockPlan> Blocks, EquatableArray<TransitionPlan> Transitions,
    int FinalChannels, int FinalSize, EquatableArray<LayerPlan> Layers,
    long ParameterCount, long RunningStatisticsCount, long MultiplyAdds, long ExecutedMultiplyAdds,
    long TrainingBytesPerImage, long RecomputingTrainingBytesPerImage, long TrainingBytesFixed);
