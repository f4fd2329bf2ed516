using System;
using ILGPU.Backends.OpenCL;

namespace DenseGen.Execution;

/// <summary>
/// ILGPU 1.5.3's OpenCL backend emits a group barrier (Group.Barrier) as work_group_barrier(CLK_GLOBAL_MEM_FENCE): by
/// the OpenCL specification that orders only global memory, so a compiler may move shared (local) memory loads and
/// stores across it. PoCL did, for some instruction orders: a stored text of the growth input gradient (the same
/// kernel, ILGPU's statements in another order, which depends on what its context compiled before) gave wrong input
/// gradients (relative error 0.4 to 1.0) until its five barriers also fenced local memory. The same text with local
/// fences passes; so did every kernel that failed on PoCL only before, in hindsight (a tile view in version 3's store,
/// session 9). Every OpenCL kernel DenseGen loads gets both fences (<see cref="KernelLoader"/>), on any vendor's device.
/// </summary>
internal static class OpenClBarriers
{
    private const string GlobalOnly = "work_group_barrier ( CLK_GLOBAL_MEM_FENCE )";
    private const string Both = "work_group_barrier ( CLK_LOCAL_MEM_FENCE | CLK_GLOBAL_MEM_FENCE )";

    /// <summary><paramref name="source"/> with every group barrier fencing local and global memory.</summary>
    public static string Fence(string source) => source.Replace(GlobalOnly, Both, StringComparison.Ordinal);

    /// <summary>
    /// Gives <paramref name="kernel"/> the fenced source, its ILGPU names renumbered (<see cref="KernelTextNames"/>),
    /// before the driver builds it.
    /// </summary>
    public static void Fence(CLCompiledKernel kernel)
    {
        string fenced = KernelTextNames.Renumber(Fence(kernel.Source));
        if (fenced != kernel.Source)
            IlgpuInternals.Require(IlgpuInternals.OpenClSource, "the OpenCL barrier fix").SetValue(kernel, fenced);
    }

    /// <summary>Whether a source has a group barrier that does not fence local memory.</summary>
    public static bool HasGlobalOnlyBarrier(string source) => source.Contains(GlobalOnly, StringComparison.Ordinal);
}
