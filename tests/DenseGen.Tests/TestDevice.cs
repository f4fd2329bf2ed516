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
}
