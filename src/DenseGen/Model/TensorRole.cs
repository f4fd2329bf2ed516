namespace DenseGen.Model;

/// <summary>What a tensor of the model is, in torchvision's vocabulary.</summary>
public enum TensorRole
{
    /// <summary>A convolution kernel, [out, in, kh, kw] (no bias: every conv is followed by BN).</summary>
    ConvolutionWeight,
    /// <summary>BatchNorm scale gamma, [C].</summary>
    BatchNormWeight,
    /// <summary>BatchNorm shift beta, [C].</summary>
    BatchNormBias,
    /// <summary>BatchNorm running mean (evaluation mode), [C].</summary>
    RunningMean,
    /// <summary>BatchNorm running variance (evaluation mode), [C].</summary>
    RunningVariance,
    /// <summary>torchvision's <c>num_batches_tracked</c>, an int64 scalar [] per BatchNorm.</summary>
    BatchesTracked,
    /// <summary>Classifier weight, [classes, features].</summary>
    LinearWeight,
    /// <summary>Classifier bias, [classes].</summary>
    LinearBias,
}

/// <summary>Which flat buffer a tensor lives in.</summary>
public enum TensorStorage
{
    /// <summary>Trainable parameters (what the optimizer updates): float32.</summary>
    Parameters,
    /// <summary>BatchNorm running statistics: float32, updated in training mode, read in evaluation mode.</summary>
    RunningStatistics,
    /// <summary>Per-BatchNorm step counters (<c>num_batches_tracked</c>): int64.</summary>
    Counters,
}
