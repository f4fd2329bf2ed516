using System;
using System.Collections.Generic;
using System.Linq;

namespace DenseGen.Model;

/// <summary>
/// One tensor of the model: its torchvision state-dict name, shape, and where it lives in its flat buffer
/// (elements [<see cref="Offset"/>, <see cref="Offset"/> + <see cref="Length"/>) of <see cref="Storage"/>).
/// </summary>
public sealed class TensorInfo
{
    internal TensorInfo(string name, TensorRole role, TensorStorage storage, long offset, IReadOnlyList<int> shape)
    {
        Name = name;
        Role = role;
        Storage = storage;
        Offset = offset;
        Shape = shape;
        long length = 1;
        foreach (int dimension in shape) length *= dimension;
        Length = length;
    }

    /// <summary>torchvision's state-dict key, e.g. <c>features.denseblock1.denselayer1.norm1.weight</c>.</summary>
    public string Name { get; }

    /// <summary>What the tensor is.</summary>
    public TensorRole Role { get; }

    /// <summary>The flat buffer the tensor lives in.</summary>
    public TensorStorage Storage { get; }

    /// <summary>First element of the tensor in its buffer.</summary>
    public long Offset { get; }

    /// <summary>Number of elements (the product of <see cref="Shape"/>; 1 for a scalar).</summary>
    public long Length { get; }

    /// <summary>Dimensions, outermost first (PyTorch's order). Empty for a scalar.</summary>
    public IReadOnlyList<int> Shape { get; }

    /// <inheritdoc/>
    public override string ToString() => $"{Name} [{string.Join(", ", Shape)}] {Storage}@{Offset}";
}
