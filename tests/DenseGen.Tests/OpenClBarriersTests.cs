using System;
using System.Text.RegularExpressions;
using DenseGen.Execution;
using DenseGen.Kernels;
using ILGPU.Backends.OpenCL;
using Xunit;
using Xunit.Abstractions;

namespace DenseGen.Tests;

/// <summary>
/// ILGPU's OpenCL group barriers fence only global memory; DenseGen's OpenCL kernels fence local (shared) memory too
/// (<see cref="OpenClBarriers"/>: without it PoCL computed wrong growth input gradients from one instruction order of
/// ILGPU's text).
/// </summary>
public class OpenClBarriersTests(ITestOutputHelper output)
{
    [Fact]
    public void Group_barriers_get_a_local_memory_fence_and_nothing_else_changes()
    {
        const string source = "x = 1;\n\t work_group_barrier ( CLK_GLOBAL_MEM_FENCE );\n\ty = tile[3];\n\t work_group_barrier ( CLK_GLOBAL_MEM_FENCE );\n";
        Assert.True(OpenClBarriers.HasGlobalOnlyBarrier(source));
        string fenced = OpenClBarriers.Fence(source);
        Assert.Equal(source.Replace("CLK_GLOBAL_MEM_FENCE", "CLK_LOCAL_MEM_FENCE | CLK_GLOBAL_MEM_FENCE"), fenced);
        Assert.False(OpenClBarriers.HasGlobalOnlyBarrier(fenced));
        Assert.Equal(fenced, OpenClBarriers.Fence(fenced)); // once only
    }

    /// <summary>On OpenCL: kernels with barriers, as DenseGen loads them, fence local memory at every barrier.</summary>
    [OpenClFact]
    [Trait("Backend", "Device")]
    public void Loaded_OpenCL_kernels_fence_local_memory_at_every_barrier()
    {
        var device = TestDevice.Instance.Accelerator;
        foreach (var method in new[] { typeof(ConvolutionKernels).GetMethod(nameof(ConvolutionKernels.SumSplitsByLanes))!,
                                       KernelCatalog.Named("ConvolutionKernels.BackwardInputThroughBatchNormGrowth") })
        {
            var kernel = KernelLoader.Start(device, method, autoGrouped: false).GetAwaiter().GetResult();
            string source = Assert.IsType<CLCompiledKernel>(kernel.CompiledKernel).Source;
            int barriers = Regex.Matches(source, @"work_group_barrier \( CLK_LOCAL_MEM_FENCE \| CLK_GLOBAL_MEM_FENCE \)").Count;
            output.WriteLine($"{KernelLoader.NameOf(method)}: {barriers} barriers, all fencing local memory");
            Assert.True(barriers > 0, $"{method.Name}: no barrier found; has ILGPU's OpenCL barrier text changed?");
            Assert.False(OpenClBarriers.HasGlobalOnlyBarrier(source));
            Assert.DoesNotMatch(@"work_group_barrier \( CLK_GLOBAL_MEM_FENCE \)", source);
        }
    }
}

/// <summary>A fact for an OpenCL device (DENSEGEN_DEVICE=opencl); skipped on the others.</summary>
public sealed class OpenClFactAttribute : FactAttribute
{
    public OpenClFactAttribute()
    {
        if (Environment.GetEnvironmentVariable("DENSEGEN_DEVICE") != "opencl")
            Skip = "needs an OpenCL device (DENSEGEN_DEVICE=opencl; CI runs the device tests on PoCL's OpenCL)";
    }
}
