using System;
using System.Collections.Generic;
using System.Linq;

namespace DenseGen.Model;

/// <summary>
/// Every tensor of a generated model, navigable by module (<c>Layout.Blocks[0].Layers[4].Conv2.Weight</c>) and
/// as one flat list in torchvision's state-dict order (<see cref="Tensors"/>).
/// </summary>
public sealed class ModelLayout
{
    private readonly Dictionary<string, TensorInfo> _byName;

    internal ModelLayout(
        StemTensors stem, IReadOnlyList<DenseBlockTensors> blocks, IReadOnlyList<TransitionTensors> transitions,
        BatchNormTensors norm5, LinearTensors classifier, IReadOnlyList<TensorInfo> tensors)
    {
        Stem = stem;
        Blocks = blocks;
        Transitions = transitions;
        Norm5 = norm5;
        Classifier = classifier;
        Tensors = tensors;
        _byName = tensors.ToDictionary(t => t.Name, StringComparer.Ordinal);
        ParameterCount = Count(TensorStorage.Parameters);
        RunningStatisticsCount = Count(TensorStorage.RunningStatistics);
        CounterCount = Count(TensorStorage.Counters);
    }

    /// <summary><c>features.conv0</c> (and <c>features.norm0</c> for the ImageNet stem).</summary>
    public StemTensors Stem { get; }

    /// <summary>The dense blocks, in order (<c>features.denseblock1</c>, ...).</summary>
    public IReadOnlyList<DenseBlockTensors> Blocks { get; }

    /// <summary>The transitions, in order (<c>features.transition1</c>, ...).</summary>
    public IReadOnlyList<TransitionTensors> Transitions { get; }

    /// <summary>The BatchNorm before the head's ReLU and global average pool (<c>features.norm5</c>).</summary>
    public BatchNormTensors Norm5 { get; }

    /// <summary>The classifier (<c>classifier</c>).</summary>
    public LinearTensors Classifier { get; }

    /// <summary>Every tensor in torchvision's state-dict order.</summary>
    public IReadOnlyList<TensorInfo> Tensors { get; }

    /// <summary>Elements of the trainable-parameter buffer (what PyTorch's <c>parameters()</c> counts).</summary>
    public long ParameterCount { get; }

    /// <summary>Elements of the running-statistics buffer (two per BatchNorm channel).</summary>
    public long RunningStatisticsCount { get; }

    /// <summary>Number of BatchNorm step counters.</summary>
    public long CounterCount { get; }

    /// <summary>The tensor with this state-dict name.</summary>
    /// <exception cref="KeyNotFoundException">No tensor has that name; the message lists the nearest names.</exception>
    public TensorInfo this[string name] => _byName.TryGetValue(name, out var tensor)
        ? tensor
        : throw new KeyNotFoundException(
            $"The model has no tensor named '{name}'. State-dict names look like " +
            $"'{Tensors[0].Name}' or '{Tensors[^1].Name}'; see Layout.Tensors for all {Tensors.Count}.");

    /// <summary>Tries to find the tensor with this state-dict name.</summary>
    public bool TryGet(string name, out TensorInfo tensor) => _byName.TryGetValue(name, out tensor!);

    private long Count(TensorStorage storage) => Tensors.Where(t => t.Storage == storage).Sum(t => t.Length);
}
