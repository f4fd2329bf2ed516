namespace DenseGen.Execution;

/// <summary>
/// What a training step does with the bottleneck layers' 1x1 conv outputs (DenseNet-B, DESIGN §4.6) between the
/// forward and the backward pass. Either way the result is the same, bit for bit: the recomputed conv repeats the
/// forward's reduction in the same order. Networks without bottlenecks are the same in both modes.
/// </summary>
public enum BottleneckMode
{
    /// <summary>
    /// Kept from the forward (the default): each bottleneck layer's 4k-channel output and its batch statistics stay in
    /// the arena until its backward. Costs N x 4k x H x W floats per bottleneck layer (DenseNet-BC-100 k12 at batch 64:
    /// 252 MiB more than <see cref="Recompute"/>), saves one 1x1 conv of every bottleneck layer in the backward pass.
    /// Still the paper's memory-efficient implementation: concatenations, BN outputs and ReLU masks are never stored.
    /// </summary>
    Store,

    /// <summary>
    /// Recomputed in the backward pass from the block buffer (the memory-lean mode): one scratch holds the bottleneck
    /// output of the layer being differentiated, so activation memory is the block buffers alone. Costs one more 1x1
    /// conv per bottleneck layer per step.
    /// </summary>
    Recompute,
}
