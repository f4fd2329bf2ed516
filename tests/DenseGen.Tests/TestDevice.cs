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
    /// The convolution variants this run checks: on the host, the host kernels and the three GPU versions (on ILGPU's
    /// CPU accelerator); on an ILGPU device (CUDA, OpenCL, ILGPU-CPU), the three GPU versions there.
    /// </summary>
    public static string[] ConvolutionVariants => Instance.Kind == DeviceKind.Cpu
        ? ["host", "direct", "tiled", "pipelined", "pipelined-unsplit"]
        : ["direct", "tiled", "pipelined", "pipelined-unsplit"];

    // Version 3 with its forward never split along the reduction: the small test shapes would otherwise always split.
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<ComputeDevice, KernelSet> s_unsplit = new();

    /// <summary>The device and kernels of a variant of <see cref="ConvolutionVariants"/> ("" = the test device's own kernels).</summary>
    public static (ComputeDevice Device, KernelSet Kernels) For(string variant)
    {
        if (variant is "" or "host") return (Instance, Instance.KernelsFor());
        var device = Instance.Kind == DeviceKind.Cpu ? s_ilgpuCpu.Value : Instance;
        if (variant == "pipelined-unsplit")
            return (device, s_unsplit.GetOrAdd(device, d => new KernelSet(d.Accelerator, d.ReductionGroupSize, ConvolutionVersion.Pipelined, maxForwardSplits: 1)));
        return (device, device.KernelsFor(ComputeDevice.ParseConvolution(variant)));
    }
}
