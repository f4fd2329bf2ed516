using System;
using System.Collections.Generic;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;

namespace DenseGen.Execution;

/// <summary>What ptxas gave one compiled kernel: registers per thread and local (spill) memory per thread.</summary>
public sealed record KernelResource(string Name, int Registers, int LocalBytes);

/// <summary>
/// Reads each DenseGen kernel's register count and local-memory size from the CUDA driver (cuFuncGetAttribute).
/// ILGPU's PTX shows only ILGPU's own local arrays; spills by ptxas are visible only here, on a GPU.
/// </summary>
public static class KernelResources
{
    /// <summary>One entry per kernel, convolutions of every version included; empty on backends other than CUDA.</summary>
    public static IReadOnlyList<KernelResource> Inspect(ComputeDevice device)
    {
        var result = new List<KernelResource>();
        if (device.Kind != DeviceKind.Cuda) return result;
        foreach (var (name, kernel) in device.KernelsFor(ConvolutionVersion.Tiled).Launchers) Add(name, kernel);
        foreach (var version in new[] { ConvolutionVersion.Pipelined, ConvolutionVersion.Banded, ConvolutionVersion.Direct })
        {
            device.KernelsFor(version).CompileAll();
            foreach (var (name, kernel) in device.KernelsFor(version).Launchers)
                if (name.StartsWith("ConvolutionKernels.", StringComparison.Ordinal) && !result.Exists(r => r.Name == name)) Add(name, kernel); // the rest are shared
        }
        return result;

        void Add(string name, Kernel loaded)
        {
            if (loaded is not CudaKernel kernel) return;
            result.Add(new KernelResource(name, CudaDriver.Attribute(kernel.FunctionPtr, CudaDriver.Registers),
                CudaDriver.Attribute(kernel.FunctionPtr, CudaDriver.LocalSizeBytes)));
        }
    }
}
