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

    /// <summary>
    /// On OpenCL: a kernel compiles to the same text every time, whatever was compiled before (each in a fresh ILGPU
    /// context; in a shared one the statement order, and PoCL's speed, depended on it), and a session loads that text.
    /// </summary>
    [OpenClFact]
    [Trait("Backend", "Device")]
    public void OpenCL_kernels_compile_to_the_same_text_every_time_and_load_it()
    {
        var device = Assert.IsType<ILGPU.Runtime.OpenCL.CLAccelerator>(TestDevice.Instance.Accelerator);
        var method = ConvolutionKernels.BandedKernel(ConvolutionKernels.BandedProduct.BackwardInputThroughBatchNorm, 4, TapKind.OneByOne);
        string first = Renumbered(KernelLoader.CompileAlone(device, method, autoGrouped: false).Source);
        _ = KernelLoader.CompileAlone(device, ConvolutionKernels.BandedKernel(ConvolutionKernels.BandedProduct.Forward, 3, TapKind.ThreeByThree), autoGrouped: false);
        Assert.Equal(first, Renumbered(KernelLoader.CompileAlone(device, method, autoGrouped: false).Source));
        var loaded = KernelLoader.Start(device, method, autoGrouped: false).GetAwaiter().GetResult();
        string source = Assert.IsType<CLCompiledKernel>(loaded.CompiledKernel).Source;
        if (source.StartsWith("// densegen kernel text cache:", StringComparison.Ordinal)) source = source[(source.IndexOf('\n') + 1)..];
        Assert.Equal(OpenClBarriers.Fence(first), Renumbered(source));
    }

    /// <summary>
    /// ILGPU's names in OpenCL C (type_148546, ...) numbered by first appearance: a loaded kernel's text has its types and
    /// labels renumbered already (<see cref="KernelTextNames"/>), a compiled one not yet.
    /// </summary>
    private static string Renumbered(string source) => IlgpuNames.Renumbered(KernelTextNames.Renumber(source), @"\b([A-Za-z]+)_(\d+)(?!\d)");

    [Fact]
    public void Two_spellings_of_one_kernel_get_one_text_and_the_entry_and_fields_keep_their_names()
    {
        const string a = "struct type_16584;\nstruct type_16584_kernel { type_16583 field_0; };\nkernel void Kernel_Fill(global float* view_0, int var1)\n{ goto L_165680; L_165680: ; type_16583 var6; }\n";
        const string b = "struct type_224913;\nstruct type_224913_kernel { type_224912 field_0; };\nkernel void Kernel_Fill(global float* view_0, int var1)\n{ goto L_7; L_7: ; type_224912 var6; }\n";
        string canonical = KernelTextNames.Renumber(a);
        output.WriteLine(canonical);
        Assert.Equal(canonical, KernelTextNames.Renumber(b));
        Assert.Equal("struct type_0;\nstruct type_0_kernel { type_1 field_0; };\nkernel void Kernel_Fill(global float* view_0, int var1)\n{ goto L_0; L_0: ; type_1 var6; }\n", canonical);
        Assert.Equal(canonical, KernelTextNames.Renumber(canonical)); // a stored text loads unchanged
        Assert.NotEqual(canonical, KernelTextNames.Renumber(a.Replace("type_16583 var6", "type_16584 var6"))); // another program stays another text
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
