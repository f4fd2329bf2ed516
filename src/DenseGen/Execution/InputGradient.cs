namespace DenseGen.Execution;

/// <summary>How a convolution's input gradient is taken in a training step.</summary>
internal enum InputGradient
{
    /// <summary>Not at all: the stem's input is the images.</summary>
    None,

    /// <summary>Plain (ConvBackwardInput): a transition's conv, whose input is the pooled features.</summary>
    Plain,

    /// <summary>Through the BN-ReLU before it (ConvBackwardInputThroughBatchNorm): the dense layers' convs.</summary>
    ThroughBatchNorm,
}
