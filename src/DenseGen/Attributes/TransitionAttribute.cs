using System;

namespace DenseGen;

/// <summary>
/// A transition layer between two dense blocks: BN-ReLU-Conv1x1 to floor(Compression x m) channels, then a 2x2
/// average pool with stride 2, which halves the spatial size. Must stand between two dense blocks.
/// </summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = true, Inherited = false)]
public sealed class TransitionAttribute : Attribute
{
    /// <summary>The compression factor theta in (0, 1]: 1 keeps the width (plain DenseNet), 0.5 halves it
    /// (DenseNet-C and DenseNet-BC). Default 1.</summary>
    public double Compression { get; set; } = 1.0;
}
