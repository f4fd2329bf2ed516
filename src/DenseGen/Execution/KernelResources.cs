using System;
using System.Collections.Generic;
using System.Reflection;
using System.Runtime.InteropServices;
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
    private const int LocalSizeBytes = 3, NumRegisters = 4; // CUfunction_attribute

    [DllImport("cuda", EntryPoint = "cuFuncGetAttribute")]
    private static extern int FuncGetAttribute(out int value, int attribute, IntPtr function);

    /// <summary>One entry per kernel; empty on backends other than CUDA.</summary>
    public static IReadOnlyList<KernelResource> Inspect(ComputeDevice device)
    {
        var result = new List<KernelResource>();
        if (device.Kind != DeviceKind.Cuda) return result;
        var kernels = device.KernelsFor();
        foreach (var property in typeof(KernelSet).GetProperties(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic))
        {
            if (property.GetValue(kernels) is not Delegate launcher || launcher.GetKernel() is not CudaKernel kernel) continue;
            FuncGetAttribute(out int registers, NumRegisters, kernel.FunctionPtr);
            FuncGetAttribute(out int local, LocalSizeBytes, kernel.FunctionPtr);
            result.Add(new KernelResource(property.Name, registers, local));
        }
        return result;
    }
}
