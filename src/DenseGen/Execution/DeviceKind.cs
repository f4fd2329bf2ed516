namespace DenseGen.Execution;

/// <summary>Which ILGPU backend runs the kernels.</summary>
public enum DeviceKind
{
    /// <summary>ILGPU's CPU accelerator: slow, always present, the reference backend of the tests.</summary>
    Cpu,
    /// <summary>OpenCL 2.0+ (AMD, Intel, PoCL on CPUs).</summary>
    OpenCL,
    /// <summary>NVIDIA CUDA.</summary>
    Cuda,
}
