using System;
using System.Collections.Generic;
using System.Linq;
using System.Reflection;
using DenseGen.Kernels;
using ILGPU;
using ILGPU.Backends.EntryPoints;

namespace DenseGen.Execution;

/// <summary>
/// Every kernel DenseGen can load: the public static kernels of each kernel family (DenseGen.Kernels.*Kernels) and
/// version 4's generic kernels closed over band count, tap kind and epilogue sums. What the PTX and ptxas tests check
/// and what <see cref="KernelImages"/> assembles ahead of time (a test checks that a session loads nothing else).
/// </summary>
internal static class KernelCatalog
{
    private static readonly Lazy<MethodInfo[]> s_all = new(() => typeof(ConvolutionKernels).Assembly.GetTypes()
        .Where(t => t.Namespace == "DenseGen.Kernels" && t.Name.EndsWith("Kernels", StringComparison.Ordinal))
        .SelectMany(t => t.GetMethods(BindingFlags.Static | BindingFlags.Public | BindingFlags.DeclaredOnly))
        .Where(m => m.ReturnType == typeof(void))
        .Concat(ConvolutionKernels.BandedKernels())
        .Concat(ConvolutionKernels.TensorCoreKernels())
        .ToArray());

    public static IReadOnlyList<MethodInfo> All => s_all.Value;

    /// <summary>The kernel named <paramref name="name"/> (<see cref="KernelLoader.NameOf"/>).</summary>
    public static MethodInfo Named(string name) => All.Single(m => KernelLoader.NameOf(m) == name);

    /// <summary>Whether a kernel is implicitly grouped (its first parameter an Index1D) rather than explicitly (a group index).</summary>
    public static bool IsImplicitlyGrouped(MethodInfo kernel) => kernel.GetParameters()[0].ParameterType == typeof(Index1D);

    /// <summary>ILGPU's entry point description of a kernel, by its grouping.</summary>
    public static EntryPointDescription EntryOf(MethodInfo kernel) => IsImplicitlyGrouped(kernel)
        ? EntryPointDescription.FromImplicitlyGroupedKernel(kernel) : EntryPointDescription.FromExplicitlyGroupedKernel(kernel);
}
