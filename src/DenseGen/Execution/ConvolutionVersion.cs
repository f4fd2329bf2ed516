namespace DenseGen.Execution;

/// <summary>
/// Which convolution kernels a CUDA, OpenCL or ILGPU-CPU device launches (the host kernels have their own SIMD loops).
/// Chosen by <c>DENSEGEN_CONVOLUTION=direct|tiled</c>; tiled unless asked otherwise. Both give the same results within
/// float32 rounding: the tests check both against the same float64 references.
/// </summary>
public enum ConvolutionVersion
{
    /// <summary>Version 1: direct convolution, one thread per output element or one group per reduction.</summary>
    Direct = 1,

    /// <summary>Version 2: tiled implicit GEMM through shared memory with 4x4 register blocking.</summary>
    Tiled = 2,
}
