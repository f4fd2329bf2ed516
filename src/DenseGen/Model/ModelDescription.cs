using System.Collections.Generic;

namespace DenseGen.Model;

/// <summary>
/// Everything the generator computed about one declared network: its size, its layer table and its tensor
/// layout. Each generated model exposes one as <c>Description</c>.
/// </summary>
public sealed class ModelDescription
{
    /// <summary>Creates a description; called by generated code.</summary>
    public ModelDescription(
        string name, string typeName, int classes, int inputChannels, int inputSize,
        long parameterCount, long multiplyAddsPerImage, long executedMultiplyAddsPerImage,
        IReadOnlyList<LayerInfo> layers, ModelLayout layout)
    {
        Name = name;
        TypeName = typeName;
        Classes = classes;
        InputChannels = inputChannels;
        InputSize = inputSize;
        ParameterCount = parameterCount;
        MultiplyAddsPerImage = multiplyAddsPerImage;
        ExecutedMultiplyAddsPerImage = executedMultiplyAddsPerImage;
        Layers = layers;
        Layout = layout;
    }

    /// <summary>The network in the paper's words, e.g. "DenseNet-BC (L=100, k=12)".</summary>
    public string Name { get; }

    /// <summary>The annotated class's full name.</summary>
    public string TypeName { get; }

    /// <summary>Number of classes.</summary>
    public int Classes { get; }

    /// <summary>Image channels.</summary>
    public int InputChannels { get; }

    /// <summary>Image height and width.</summary>
    public int InputSize { get; }

    /// <summary>Trainable parameters (as PyTorch's <c>sum(p.numel() for p in model.parameters())</c>).</summary>
    public long ParameterCount { get; }

    /// <summary>Forward multiply-adds for one image, convolutions and the classifier, in the paper's order.</summary>
    public long MultiplyAddsPerImage { get; }

    /// <summary>
    /// Forward multiply-adds for one image as DenseGen executes it: each transition pools before its 1x1 conv
    /// (both are linear, so they commute), which costs a quarter of the paper's order.
    /// </summary>
    public long ExecutedMultiplyAddsPerImage { get; }

    /// <summary>The layer table in execution order.</summary>
    public IReadOnlyList<LayerInfo> Layers { get; }

    /// <summary>Every tensor, with its torchvision name, shape and buffer offset.</summary>
    public ModelLayout Layout { get; }

    /// <summary>A readable table of the layers (like torchsummary): shapes, parameters and multiply-adds.</summary>
    public string Summary() => ModelSummary.Format(this);

    /// <inheritdoc/>
    public override string ToString() => $"{Name}: {ParameterCount:N0} parameters";
}
