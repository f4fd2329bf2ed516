namespace DenseGen.Execution;

/// <summary>
/// Which convolution kernels a CUDA, OpenCL or ILGPU-CPU device launches (the host kernels have their own SIMD loops).
/// Chosen by <c>DENSEGEN_CONVOLUTION=banded|pipelined|tiled|direct</c> (or 4|3|2|1), banded unless asked otherwise. All give the same results within float32
/// rounding: the tests check each against the same float64 references.
/// </summary>
public enum ConvolutionVersion
{
    /// <summary>Version 1: direct convolution, one thread per output element or one group per reduction.</summary>
    Direct = 1,

    /// <summary>Version 2: tiled implicit GEMM through shared memory with 4x4 register blocking.</summary>
    Tiled = 2,

    /// <summary>Version 3: version 2's tiles, software-pipelined (next step's loads in flight during the product), double-buffered.</summary>
    Pipelined = 3,

    /// <summary>
    /// Version 4: version 3's loops on tiles of 1 to 4 bands of 16 rows x 128 columns, chosen per product by its rows
    /// (a 4m x 4 register block per thread): an input gathered once per 16m channels, not once per 16 or 32.
    /// </summary>
    Banded = 4,
}
