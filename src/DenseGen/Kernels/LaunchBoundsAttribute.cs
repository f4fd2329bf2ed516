using System;
using System.Reflection;
using ILGPU.Runtime;

namespace DenseGen.Kernels;

/// <summary>
/// A kernel's launch bounds, compiled in as ILGPU's kernel specialization: in PTX, <c>.maxntid</c> and
/// <c>.minnctapersm</c>, so ptxas keeps the registers within what that many groups of that many threads leave each
/// thread (65,536 / (4 x 128) = 128 for version 4's tiles). Without them ptxas gave the 4-band kernels 134 to 137
/// registers once their loops lost their address arithmetic: 3 groups per multiprocessor instead of 4, for a loop
/// that fits 128 without spills and with the same instructions (benchmarks/RESULTS.md). Every launch of such a kernel
/// uses at most ThreadsPerGroup threads per group. The PTX checks, the kernel loader and the kernel text cache all
/// take the specialization from here, so what is tested is what loads.
/// </summary>
[AttributeUsage(AttributeTargets.Method)]
internal sealed class LaunchBoundsAttribute(int threadsPerGroup, int minGroupsPerMultiprocessor) : Attribute
{
    public int ThreadsPerGroup => threadsPerGroup;

    public int MinGroupsPerMultiprocessor => minGroupsPerMultiprocessor;

    /// <summary>The specialization <paramref name="kernel"/> compiles with: its bounds (of its generic definition), or none.</summary>
    public static KernelSpecialization SpecializationOf(MethodInfo kernel) =>
        (kernel.IsGenericMethod ? kernel.GetGenericMethodDefinition() : kernel).GetCustomAttribute<LaunchBoundsAttribute>() is { } bounds
            ? new KernelSpecialization(bounds.ThreadsPerGroup, bounds.MinGroupsPerMultiprocessor)
            : KernelSpecialization.Empty;
}
