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
}

/// <summary>Filling memory. ILGPU's MemSetToZero fails on OpenCL sub-views (PoCL 6), so zeroing is a kernel everywhere.</summary>
internal static class MemoryKernels
{
    public static void Fill(Index1D i, ArrayView<float> target, float value) => target[i] = value;
}
