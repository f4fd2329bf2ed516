namespace DenseGen.Execution;

/// <summary>
/// Which convolution kernels a CUDA, OpenCL or ILGPU-CPU device launches (the host kernels have their own SIMD loops).
/// Chosen by <c>DENSEGEN_CONVOLUTION=wide|pipelined|tiled|direct</c> (or 4|3|2|1), pipelined unless asked otherwise. All give the same results within float32
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
    /// Version 4: version 3 with 8x8 register blocks on 64x128 tiles for the products with many rows (64 or more
    /// channels: forward, backward-input, weight gradient); version 3's kernels for the rest.
    /// </summary>
    Wide = 4,
}
