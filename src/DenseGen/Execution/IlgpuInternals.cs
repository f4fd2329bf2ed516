using System;
using System.Collections.Generic;
using System.Linq;
using System.Reflection;
using ILGPU.Backends;
using ILGPU.Backends.EntryPoints;
using ILGPU.Backends.OpenCL;
using ILGPU.Backends.PTX;
using ILGPU.Runtime.Cuda;

namespace DenseGen.Execution;

/// <summary>
/// Every private member of ILGPU 1.5.3 that DenseGen reads or writes, in one place: the kernel text cache swaps a
/// compiled kernel's text (<see cref="PtxAssembly"/>, <see cref="OpenClSource"/>) and builds kernels from stored text
/// (<see cref="PtxKernelConstructor"/>, <see cref="EntryPoint"/>); the OpenCL barrier fix rewrites sources
/// (<see cref="OpenClSource"/>); kernel images swap a loaded CUDA kernel's module and function
/// (<see cref="CudaModule"/>, <see cref="CudaFunction"/>). A new ILGPU may rename any of them: <see cref="Missing"/> says
/// which, and a test fails on it, so an upgrade is caught by the tests rather than by a user's first run.
/// </summary>
internal static class IlgpuInternals
{
    private const BindingFlags Private = BindingFlags.Instance | BindingFlags.NonPublic;

    /// <summary>PTXCompiledKernel.PTXAssembly's backing field (the PTX text the driver gets).</summary>
    public static readonly FieldInfo? PtxAssembly = typeof(PTXCompiledKernel).GetField("<PTXAssembly>k__BackingField", Private);

    /// <summary>CLCompiledKernel.Source's backing field (the OpenCL C text the driver builds).</summary>
    public static readonly FieldInfo? OpenClSource = typeof(CLCompiledKernel).GetField("<Source>k__BackingField", Private);

    /// <summary>PTXCompiledKernel(Context, EntryPoint, KernelInfo, string): a PTX kernel from text.</summary>
    public static readonly ConstructorInfo? PtxKernelConstructor = typeof(PTXCompiledKernel).GetConstructors(Private)
        .FirstOrDefault(c => c.GetParameters().Length == 4);

    /// <summary>CompiledKernel.EntryPoint (what ILGPU compiled a kernel with: shared memory, parameters).</summary>
    public static readonly PropertyInfo? EntryPoint = typeof(CompiledKernel).GetProperty("EntryPoint", Private);

    /// <summary>CudaKernel.modulePtr: the driver module ILGPU unloads when the kernel is disposed.</summary>
    public static readonly FieldInfo? CudaModule = typeof(CudaKernel).GetField("modulePtr", Private);

    /// <summary>CudaKernel.functionPtr: the driver function ILGPU launches (read at every launch).</summary>
    public static readonly FieldInfo? CudaFunction = typeof(CudaKernel).GetField("functionPtr", Private);

    /// <summary>The members this ILGPU lacks, by name: empty for the ILGPU DenseGen is built against.</summary>
    public static IReadOnlyList<string> Missing { get; } = new (string Name, MemberInfo? Member)[]
    {
        ("PTXCompiledKernel.<PTXAssembly>k__BackingField", PtxAssembly),
        ("CLCompiledKernel.<Source>k__BackingField", OpenClSource),
        ("PTXCompiledKernel(Context, EntryPoint, KernelInfo, string)", PtxKernelConstructor),
        ("CompiledKernel.EntryPoint", EntryPoint),
        ("CudaKernel.modulePtr", CudaModule),
        ("CudaKernel.functionPtr", CudaFunction),
    }.Where(m => m.Member is null).Select(m => m.Name).ToArray();

    /// <summary><paramref name="member"/>, or an exception naming it and what to update.</summary>
    public static T Require<T>(T? member, string user) where T : MemberInfo =>
        member ?? throw new MissingMemberException($"ILGPU no longer has a member {user} relies on ({string.Join(", ", Missing)}): update DenseGen.Execution.IlgpuInternals for this ILGPU version");
}
