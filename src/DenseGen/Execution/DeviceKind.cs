namespace DenseGen.Execution;

/// <summary>Where the kernels run.</summary>
public enum DeviceKind
{
    /// <summary>
    /// The host's cores, with DenseGen's host kernels (SIMD convolutions, the GPU's element-wise kernels called per
    /// index) on memory of ILGPU's CPU accelerator. Always present; the fallback when no GPU is, and the tests' default.
    /// </summary>
    Cpu,
    /// <summary>OpenCL 2.0+ (AMD, Intel, PoCL on CPUs).</summary>
    OpenCL,
    /// <summary>NVIDIA CUDA.</summary>
    Cuda,
    /// <summary>
    /// ILGPU's CPU accelerator running the GPU kernels themselves, groups, barriers and shared memory included: a GPU
    /// simulator, slow (minutes per training step of a real network) but it checks the grouped kernels without a GPU.
    /// </summary>
    IlgpuCpu,
}
