using System;
using DenseGen.Execution;

namespace DenseGen.Tests;

/// <summary>
/// The device the kernel and network tests run on: the host kernels ("cpu"), unless DENSEGEN_DEVICE names another
/// (CI runs the device tests again with DENSEGEN_DEVICE=ilgpu-cpu, the GPU kernels on ILGPU's CPU accelerator, and
/// with DENSEGEN_DEVICE=opencl inside PoCL). A requested device that is missing fails the tests; it is never
/// skipped silently.
/// </summary>
internal static class TestDevice
{
    private static readonly Lazy<ComputeDevice> s_device = new(() =>
        ComputeDevice.Open(Environment.GetEnvironmentVariable("DENSEGEN_DEVICE") is { Length: > 0 } requested ? requested : "cpu"));

    public static ComputeDevice Instance => s_device.Value;

    // ILGPU's CPU accelerator, for the GPU convolution kernels when the tests run on the host kernels.
    private static readonly Lazy<ComputeDevice> s_ilgpuCpu = new(() => ComputeDevice.Open("ilgpu-cpu"));

    /// <summary>
    /// The convolution variants this run checks: on the host, the host kernels and the four GPU versions (on ILGPU's
    /// CPU accelerator); on an ILGPU device (CUDA, OpenCL, ILGPU-CPU), the four GPU versions there. Version 3 runs
    /// split and unsplit; version 4 with 2, 3 and 4 bands on every product (the small test shapes have too few channels
    /// for its policy to choose many), split, and with 3 and 4 unsplit; and version 4 with its direct growth kernel on
    /// every forward it applies to (the tests' grids are too small for its policy), and its growth weight gradient with
    /// several row tiles per group.
    /// Tests that check the versions this way carry the trait Kernels=Versions. On the host run they run the GPU kernels
    /// on ILGPU's CPU accelerator, the very device a DENSEGEN_DEVICE=ilgpu-cpu run gives them, with the same kernel sets:
    /// CI's ILGPU-CPU run leaves them out (<c>--filter "Backend=Device&amp;Kernels!=Versions"</c>), having run them once.
    /// </summary>
    public static string[] ConvolutionVariants => Instance.Kind == DeviceKind.Cpu
        ? ["host", .. s_deviceVariants]
        : s_deviceVariants;

    private static readonly string[] s_deviceVariants = ["direct", "tiled", "pipelined", "pipelined-unsplit", "bands-2", "bands-3", "bands-4", "bands-3-unsplit", "bands-4-unsplit", "bands-3-quads", "growth"];

    // Kernel sets the named versions do not give: forwards never split along the reduction (the small test shapes would
    // otherwise always split), and version 4 with a given band count on every product.
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<(ComputeDevice, string), KernelSet> s_special = new();

    /// <summary>The device and kernels of a variant of <see cref="ConvolutionVariants"/> ("" = the test device's own kernels).</summary>
    public static (ComputeDevice Device, KernelSet Kernels) For(string variant)
    {
        if (variant is "" or "host") return (Instance, Instance.KernelsFor());
        var device = Instance.Kind == DeviceKind.Cpu ? s_ilgpuCpu.Value : Instance;
        if (variant == "growth")
            return (device, s_special.GetOrAdd((device, variant), key => new KernelSet(key.Item1.Accelerator, key.Item1.ReductionGroupSize, ConvolutionVersion.Banded,
                growthWherePossible: true)));
        // "tensor-cores-M[-unsplit]": version 5, every product on M-band tiles on tensor cores (emulated off CUDA), with CUDA's quads.
        if (variant.StartsWith("tensor-cores-", StringComparison.Ordinal))
            return (device, s_special.GetOrAdd((device, variant), key => new KernelSet(key.Item1.Accelerator, key.Item1.ReductionGroupSize, ConvolutionVersion.Banded,
                maxForwardSplits: variant.EndsWith("unsplit", StringComparison.Ordinal) ? 1 : 64, bands: variant["tensor-cores-".Length] - '0', quads: true, tensorCores: true)));
        if (variant == "bands-3-unsplit-tree") // version 4's epilogue sums through shared memory where the device would use warp shuffles
            return (device, s_special.GetOrAdd((device, variant), key => new KernelSet(key.Item1.Accelerator, key.Item1.ReductionGroupSize, ConvolutionVersion.Banded,
                maxForwardSplits: 1, bands: 3, warpShuffles: false)));
        if (variant.EndsWith("-quads", StringComparison.Ordinal)) // 16-byte 1x1 gathers, CUDA's default, forced on any backend
            return (device, s_special.GetOrAdd((device, variant), key => new KernelSet(key.Item1.Accelerator, key.Item1.ReductionGroupSize, ConvolutionVersion.Banded,
                bands: variant[6] - '0', quads: true)));
        if (variant == "pipelined-unsplit" || variant.StartsWith("bands-", StringComparison.Ordinal))
            return (device, s_special.GetOrAdd((device, variant), key => new KernelSet(key.Item1.Accelerator, key.Item1.ReductionGroupSize,
                variant == "pipelined-unsplit" ? ConvolutionVersion.Pipelined : ConvolutionVersion.Banded,
                maxForwardSplits: variant.EndsWith("unsplit", StringComparison.Ordinal) ? 1 : 64,
                bands: variant == "pipelined-unsplit" ? null : variant[6] - '0')));
        return (device, device.KernelsFor(ComputeDevice.ParseConvolution(variant)));
    }
}
