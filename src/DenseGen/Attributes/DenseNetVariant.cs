namespace DenseGen;

/// <summary>The paper's four CIFAR families (Huang et al. 2017, section 3).</summary>
public enum DenseNetVariant
{
    /// <summary>DenseNet: BN-ReLU-Conv3x3 layers, no compression, 16 stem channels; (L-4)/3 layers a block.</summary>
    Basic = 0,

    /// <summary>DenseNet-B: bottleneck layers (BN-ReLU-Conv1x1 to 4k, then BN-ReLU-Conv3x3); (L-4)/6 layers a block.</summary>
    B = 1,

    /// <summary>DenseNet-C: transitions compress the width by theta (0.5); (L-4)/3 layers a block.</summary>
    C = 2,

    /// <summary>DenseNet-BC: bottleneck and compression, 2k stem channels; (L-4)/6 layers a block.</summary>
    BC = 3,
}
