using System;
using System.Linq;
using System.Reflection;
using DenseGen.Execution;
using DenseGen.Kernels;
using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Backends.EntryPoints;
using ILGPU.Backends.PTX;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;
using Xunit;
using Xunit.Abstractions;

namespace DenseGen.Tests;

/// <summary>
/// Every kernel compiles to PTX for sm_90 (H100) with ILGPU's PTX backend, without a GPU, and ILGPU puts nothing in
/// local memory. (Spills that ptxas adds later show only on a GPU: benchmarks/gpu-check.sh reads them there.)
/// </summary>
public class PtxTests(ITestOutputHelper output)
{
    public static TheoryData<string> Kernels()
    {
        var data = new TheoryData<string>();
        foreach (var method in KernelMethods()) data.Add(KernelLoader.NameOf(method));
        return data;
    }

    private static MethodInfo[] KernelMethods() => KernelCatalog.All.ToArray();

    internal static MethodInfo Named(string name) => KernelCatalog.Named(name);

    private static readonly Lazy<(Context Context, PTXBackend Backend)> s_backend = new(() =>
    {
        var context = Context.Create(builder => builder.Optimize(OptimizationLevel.O2).EnableAlgorithms()); // as ComputeDevice
        var backend = new PTXBackend(context, new CudaCapabilityContext(CudaArchitecture.SM_90), CudaArchitecture.SM_90, CudaInstructionSet.ISA_83, null);
        return (context, backend);
    });

    [Theory]
    [MemberData(nameof(Kernels))]
    public void Compiles_to_PTX_for_sm_90_without_local_memory(string name)
    {
        var method = Named(name);
        bool implicitlyGrouped = method.GetParameters()[0].ParameterType == typeof(Index1D);
        var entry = implicitlyGrouped
            ? EntryPointDescription.FromImplicitlyGroupedKernel(method)
            : EntryPointDescription.FromExplicitlyGroupedKernel(method);
        var compiled = (PTXCompiledKernel)s_backend.Value.Backend.Compile(entry, LaunchBoundsAttribute.SpecializationOf(method));
        string ptx = compiled.PTXAssembly;
        output.WriteLine($"{name}: {ptx.Length} characters of PTX");
        Assert.Matches(@"\.target sm_\d+", ptx);
        output.WriteLine(System.Text.RegularExpressions.Regex.Match(ptx, @"\.target sm_\d+").Value);
        if (Environment.GetEnvironmentVariable("DENSEGEN_PTX_DUMP") is { Length: > 0 } dump) // before the checks: a failing kernel's PTX is the one to read
            System.IO.File.WriteAllText(System.IO.Path.Combine(dump, name + ".ptx"), ptx);
        // ILGPU passes inline PTX's operands (CudaAsm.EmitRef: version 5's mma) through one 4-byte local each; ptxas keeps
        // them in registers (PtxasTests: no stack frame). Any other local memory fails here.
        string checkedPtx = ptx.Contains("mma.sync", StringComparison.Ordinal)
            ? System.Text.RegularExpressions.Regex.Replace(ptx, @"\.local \.align 4 \.b8 __local_depot\d+\[4\];|(ld|st)\.local\.(b32|f32)", "")
            : ptx;
        Assert.DoesNotContain(".local", checkedPtx);
    }

    /// <summary>
    /// The tiled GEMM kernels read their operands as 16-byte shared loads, 8 steps unrolled: 2 per step for a 4 x 4
    /// block (16), m + 1 per step for version 4's m bands (8 (m + 1)). (ILGPU emits ld.shared.v4 only for whole 16-byte structs in
    /// 16-byte-aligned shared memory; this guards it.)
    /// </summary>
    [Theory]
    [InlineData("ConvolutionKernels.ForwardTiled", 16)]
    [InlineData("ConvolutionKernels.BackwardInputTiled", 16)]
    [InlineData("ConvolutionKernels.BackwardInputThroughBatchNormTiled", 16)]
    [InlineData("ConvolutionKernels.BackwardWeightsTiled", 16)]
    [InlineData("ConvolutionKernels.ForwardPipelined", 16)]
    [InlineData("ConvolutionKernels.BackwardInputPipelined", 16)]
    [InlineData("ConvolutionKernels.BackwardInputThroughBatchNormPipelined", 16)]
    [InlineData("ConvolutionKernels.BackwardWeightsPipelined", 16)]
    [InlineData("ConvolutionKernels.ForwardBanded<Bands2, AnyTaps, TreeRowSums>", 24)]
    [InlineData("ConvolutionKernels.ForwardBanded<Bands3, Taps1x1, TreeRowSums>", 32)]
    [InlineData("ConvolutionKernels.ForwardBanded<Bands3, Taps1x1, ShuffleRowSums>", 32)]
    [InlineData("ConvolutionKernels.ForwardBanded<Bands4, Taps3x3, ShuffleRowSums>", 40)]
    [InlineData("ConvolutionKernels.BackwardInputBanded<Bands4, Taps1x1>", 40)]
    [InlineData("ConvolutionKernels.BackwardInputThroughBatchNormBanded<Bands3, Taps3x3, ShuffleRowSums>", 32)]
    [InlineData("ConvolutionKernels.BackwardWeightsBanded<Bands3, Taps1x1>", 32)]
    public void Tiled_products_read_shared_memory_16_bytes_at_a_time(string kernel, int expected)
    {
        var method = Named(kernel);
        var compiled = (PTXCompiledKernel)s_backend.Value.Backend.Compile(EntryPointDescription.FromExplicitlyGroupedKernel(method), LaunchBoundsAttribute.SpecializationOf(method));
        int vectorLoads = System.Text.RegularExpressions.Regex.Matches(compiled.PTXAssembly, @"ld\.shared\.v4\.f32").Count;
        output.WriteLine($"{kernel}: {vectorLoads} ld.shared.v4.f32");
        Assert.Equal(expected, vectorLoads);
        Assert.Matches(@"\.shared \.align 16", compiled.PTXAssembly);
    }

    /// <summary>
    /// Quad kernels (TapKind.OneByOneQuads) gather the pixel side as 16-byte global loads (per step, in the loop and once
    /// before it: two in the forward and backward-input, stored as two 16-byte shared stores; three in the weight
    /// gradient, stored transposed as scalars), where their 1x1 twins load scalars only. (ILGPU emits ld.global.v4 only
    /// for views it is told are 16-byte aligned, AsAligned16; this guards it.)
    /// </summary>
    [Theory]
    [InlineData("ConvolutionKernels.ForwardBanded<Bands4, Taps1x1Quads, ShuffleRowSums>", "ConvolutionKernels.ForwardBanded<Bands4, Taps1x1, ShuffleRowSums>", 4, 2)]
    [InlineData("ConvolutionKernels.ForwardBanded<Bands2, Taps1x1Quads, TreeRowSums>", "ConvolutionKernels.ForwardBanded<Bands2, Taps1x1, TreeRowSums>", 4, 2)]
    [InlineData("ConvolutionKernels.BackwardInputBanded<Bands3, Taps1x1Quads>", "ConvolutionKernels.BackwardInputBanded<Bands3, Taps1x1>", 4, 2)]
    [InlineData("ConvolutionKernels.BackwardInputThroughBatchNormBanded<Bands4, Taps1x1Quads, ShuffleRowSums>", "ConvolutionKernels.BackwardInputThroughBatchNormBanded<Bands4, Taps1x1, ShuffleRowSums>", 4, 2)]
    [InlineData("ConvolutionKernels.BackwardWeightsBanded<Bands4, Taps1x1Quads>", "ConvolutionKernels.BackwardWeightsBanded<Bands4, Taps1x1>", 6, 0)]
    [InlineData("ConvolutionKernels.BackwardWeightsBanded<Bands2, Taps1x1Quads>", "ConvolutionKernels.BackwardWeightsBanded<Bands2, Taps1x1>", 6, 0)]
    public void Quad_kernels_gather_16_bytes_at_a_time_where_their_1x1_twins_gather_4(string quads, string scalars, int vectorLoads, int vectorStores)
    {
        string Ptx(string kernel)
        {
            var method = Named(kernel);
            return ((PTXCompiledKernel)s_backend.Value.Backend.Compile(EntryPointDescription.FromExplicitlyGroupedKernel(method), LaunchBoundsAttribute.SpecializationOf(method))).PTXAssembly;
        }
        static int Count(string ptx, string pattern) => System.Text.RegularExpressions.Regex.Matches(ptx, pattern).Count;
        const string Vector = @"ld\.global(\.nc)?\.v4\.f32", Scalar = @"ld\.global(\.nc)?\.f32", VectorStore = @"st\.shared\.v4\.f32";
        string q = Ptx(quads), x = Ptx(scalars);
        output.WriteLine($"{quads}: {Count(q, Vector)} ld.global.v4.f32, {Count(q, VectorStore)} st.shared.v4.f32, {Count(q, Scalar)} ld.global.f32");
        output.WriteLine($"{scalars}: {Count(x, Scalar)} ld.global.f32, {Count(x, VectorStore)} st.shared.v4.f32");
        Assert.Equal(vectorLoads, Count(q, Vector));
        Assert.Equal(vectorStores, Count(q, VectorStore));
        Assert.Equal(0, Count(x, Vector));
        Assert.Equal(0, Count(x, VectorStore));
        Assert.True(Count(q, Scalar) <= Count(x, Scalar) - 12, "the quads replace at least 12 of the scalar gathers (before the loop and in it)");
    }

    /// <summary>
    /// DenseGen compiles kernels side by side (KernelLoader, with ILGPU's kernel cache off): one backend compiling
    /// every kernel from several threads at once gives, kernel for kernel, the PTX it gives one at a time.
    /// </summary>
    [Fact]
    public void Compiling_side_by_side_gives_the_same_PTX_as_one_at_a_time()
    {
        using var context = Context.Create(builder => builder.Optimize(OptimizationLevel.O2).EnableAlgorithms().Caching(CachingMode.NoKernelCaching));
        var backend = new PTXBackend(context, new CudaCapabilityContext(CudaArchitecture.SM_90), CudaArchitecture.SM_90, CudaInstructionSet.ISA_83, null);
        var methods = KernelMethods();
        string Compile(MethodInfo method) => WithoutNodeIds(((PTXCompiledKernel)backend.Compile(method.GetParameters()[0].ParameterType == typeof(Index1D)
            ? EntryPointDescription.FromImplicitlyGroupedKernel(method) : EntryPointDescription.FromExplicitlyGroupedKernel(method), LaunchBoundsAttribute.SpecializationOf(method))).PTXAssembly);
        var parallel = new string[methods.Length];
        var watch = System.Diagnostics.Stopwatch.StartNew();
        System.Threading.Tasks.Parallel.For(0, methods.Length, new System.Threading.Tasks.ParallelOptions { MaxDegreeOfParallelism = 8 }, i => parallel[i] = Compile(methods[i]));
        double sideBySide = watch.Elapsed.TotalSeconds;
        watch.Restart();
        for (int i = 0; i < methods.Length; i++)
            Assert.True(Compile(methods[i]) == parallel[i], $"{methods[i].Name}: PTX compiled side by side differs from PTX compiled alone");
        output.WriteLine($"{methods.Length} kernels, identical PTX; side by side {sideBySide:F2} s, one at a time {watch.Elapsed.TotalSeconds:F2} s ({Environment.ProcessorCount} cores)");
    }

    /// <summary>ILGPU suffixes labels and parameter names with IR node ids, which differ on every compile: numbered by first use instead.</summary>
    private static string WithoutNodeIds(string ptx) => IlgpuNames.Renumbered(ptx, @"\b(L|_[A-Za-z]\w*?)_(\d+)\b");

    [Fact]
    public void Every_kernel_family_is_covered()
    {
        var families = KernelMethods().Select(m => m.DeclaringType!.Name).Distinct().ToList();
        foreach (string family in new[] { "ConvolutionKernels", "BatchNormKernels", "PoolingKernels", "ClassifierKernels", "OptimizerKernels", "MemoryKernels" })
            Assert.Contains(family, families);
    }
}
