using ILGPU;

namespace DenseGen.Kernels;

/// <summary>SGD with momentum and weight decay, exactly as PyTorch's torch.optim.SGD (dampening 0).</summary>
internal static class OptimizerKernels
{
    /// <summary>
    /// d = g + wd p; buf = first ? d : momentum buf + d; d = nesterov ? d + momentum buf : buf; p -= lr d.
    /// </summary>
    public static void Sgd(Index1D i, ArrayView<float> parameters, ArrayView<float> gradients, ArrayView<float> momentumBuffer,
        float learningRate, float momentum, float weightDecay, int nesterov, int firstStep)
    {
        float d = gradients[i] + weightDecay * parameters[i];
        float buffer = firstStep != 0 ? d : momentum * momentumBuffer[i] + d;
        momentumBuffer[i] = buffer;
        float step = nesterov != 0 ? d + momentum * buffer : buffer;
        parameters[i] -= learningRate * step;
    }

    /// <summary>
    /// flag[0] = 1 where values[i] is NaN or infinite (every writer writes the same value, so the race is benign): the
    /// trainer's divergence check reads one float instead of copying every gradient to the host each step.
    /// </summary>
    public static void FlagNonFinite(Index1D i, ArrayView<float> values, ArrayView<float> flag)
    {
        float v = values[i];
        if (v - v != 0f) flag[0] = 1f; // NaN - NaN and inf - inf are NaN; finite - itself is 0
    }
}

/// <summary>Filling memory. ILGPU's MemSetToZero fails on OpenCL sub-views (PoCL 6), so zeroing is a kernel everywhere.</summary>
internal static class MemoryKernels
{
    public static void Fill(Index1D i, ArrayView<float> target, float value) => target[i] = value;
}
