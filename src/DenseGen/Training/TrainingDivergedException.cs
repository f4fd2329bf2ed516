using System;

namespace DenseGen.Training;

/// <summary>The loss or a gradient became NaN or infinite: training stops at the step, naming the first tensor at fault.</summary>
public sealed class TrainingDivergedException : Exception
{
    /// <summary>Creates the exception.</summary>
    public TrainingDivergedException(int epoch, int step, string tensor, string message) : base(message)
    {
        Epoch = epoch;
        Step = step;
        Tensor = tensor;
    }

    /// <summary>1-based epoch.</summary>
    public int Epoch { get; }

    /// <summary>1-based step within the run.</summary>
    public int Step { get; }

    /// <summary>The state-dict name of the first parameter whose gradient was not finite (or "loss").</summary>
    public string Tensor { get; }
}
