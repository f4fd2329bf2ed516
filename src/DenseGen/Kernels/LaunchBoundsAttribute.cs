using System;
using System.Reflection;
using ILGPU.Runtime;

namespace DenseGen.Kernels;

/// <summary>
/// A kernel's launch bounds, compiled in as ILGPU's kernel specialization: in PTX, <c>.maxntid</c> and
/// <c>.minnctapersm</c>, so ptxas keeps the registers within what that many groups of that many threads leave each
/// thread (65,536 / (groups x threads), in steps of 8). Without them ptxas gave the 4-band kernels 134 to 137 registers
/// once their loops lost their address arithmetic (3 groups per multiprocessor instead of 4) and the 3-band ones 102 to
/// 109 (4 instead of 5), for loops that fit fewer registers without spills and with the same instructions
/// (benchmarks/RESULTS.md). Version 4's kernels take the groups from their band count (<see cref="TwoBands"/> ...).
/// Every launch of such a kernel uses at most ThreadsPerGroup threads per group. The PTX checks, the kernel loader and
/// the kernel text cache all take the specialization from here, so what is tested is what loads.
/// </summary>
[AttributeUsage(AttributeTargets.Method)]
internal sealed class LaunchBoundsAttribute(int threadsPerGroup) : Attribute
{
    public int ThreadsPerGroup => threadsPerGroup;

    /// <summary>Groups per multiprocessor (0: none asked) where no band count below applies.</summary>
    public int MinGroupsPerMultiprocessor { get; init; }

    /// <summary>Groups per multiprocessor of a banded kernel's closing with 2, 3 or 4 bands (0: <see cref="MinGroupsPerMultiprocessor"/>).</summary>
    public int TwoBands { get; init; }

    /// <inheritdoc cref="TwoBands"/>
    public int ThreeBands { get; init; }

    /// <inheritdoc cref="TwoBands"/>
    public int FourBands { get; init; }

    /// <summary>The specialization <paramref name="kernel"/> compiles with: its bounds (of its generic definition), or none.</summary>
    public static KernelSpecialization SpecializationOf(MethodInfo kernel)
    {
        if ((kernel.IsGenericMethod ? kernel.GetGenericMethodDefinition() : kernel).GetCustomAttribute<LaunchBoundsAttribute>() is not { } bounds)
            return KernelSpecialization.Empty;
        int groups = ConvolutionKernels.BandCountOf(kernel) switch
        {
            2 when bounds.TwoBands > 0 => bounds.TwoBands,
            3 when bounds.ThreeBands > 0 => bounds.ThreeBands,
            4 when bounds.FourBands > 0 => bounds.FourBands,
            _ => bounds.MinGroupsPerMultiprocessor,
        };
        return new KernelSpecialization(bounds.ThreadsPerGroup, groups > 0 ? groups : null);
    }
}
