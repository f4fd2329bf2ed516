using System;
using System.IO;
using System.Linq;
using DenseGen.Execution;
using DenseGen.Kernels;
using ILGPU;
using ILGPU.Backends.EntryPoints;
using ILGPU.Backends.OpenCL;
using ILGPU.Backends.PTX;
using ILGPU.Runtime;
using Xunit;

namespace DenseGen.Tests;

/// <summary>The kernel text cache (<see cref="KernelTextCache"/>): an earlier run's PTX or OpenCL C, handed to the driver again.</summary>
public class KernelTextCacheTests
{
    /// <summary>
    /// A PTX kernel built from stored text (what a later run loads on CUDA with DENSEGEN_SKIP_CACHED_COMPILE=1, not yet
    /// run on a GPU) describes the launch as the compiled one does: same entry, index type, parameters, shared memory,
    /// launch bounds.
    /// </summary>
    [Theory]
    [InlineData("ConvolutionKernels.SumSplitsByLanes")] // explicitly grouped, static shared memory
    [InlineData("ConvolutionKernels.SumSplits")]        // implicitly grouped
    [InlineData("ConvolutionKernels.ForwardBanded<Bands4, Taps1x1, ShuffleRowSums>")] // launch bounds
    public void A_PTX_kernel_from_stored_text_has_the_compiled_kernels_entry_point(string name)
    {
        var method = PtxTests.Named(name);
        var specialization = LaunchBoundsAttribute.SpecializationOf(method);
        var entry = method.GetParameters()[0].ParameterType == typeof(Index1D)
            ? EntryPointDescription.FromImplicitlyGroupedKernel(method) : EntryPointDescription.FromExplicitlyGroupedKernel(method);
        using var context = Context.Create(b => b.Optimize(OptimizationLevel.O2).EnableAlgorithms());
        var backend = new PTXBackend(context, new ILGPU.Runtime.Cuda.CudaCapabilityContext(ILGPU.Runtime.Cuda.CudaArchitecture.SM_90),
            ILGPU.Runtime.Cuda.CudaArchitecture.SM_90, ILGPU.Runtime.Cuda.CudaInstructionSet.ISA_83, null);
        var compiled = (PTXCompiledKernel)backend.Compile(entry, specialization);
        var expected = KernelTextCache.EntryPointOf(compiled)!;

        var rebuilt = KernelTextCache.PtxKernel(context, entry, expected.SharedMemory, specialization, compiled.PTXAssembly);
        var actual = KernelTextCache.EntryPointOf(rebuilt)!;
        Assert.Equal(compiled.PTXAssembly, rebuilt.PTXAssembly);
        Assert.Equal(compiled.Name, rebuilt.Name);
        Assert.Equal(expected.IndexType, actual.IndexType);
        Assert.Equal(expected.KernelIndexType, actual.KernelIndexType);
        Assert.Equal(expected.Parameters.Count, actual.Parameters.Count);
        Assert.Equal(expected.HasByRefParameters, actual.HasByRefParameters);
        Assert.Equal(expected.SharedMemory.StaticSize, actual.SharedMemory.StaticSize);
        Assert.Equal(expected.SharedMemory.HasDynamicMemory, actual.SharedMemory.HasDynamicMemory);
        Assert.Equal(expected.Specialization, actual.Specialization);
        if (name.EndsWith("SumSplitsByLanes")) Assert.True(actual.SharedMemory.StaticSize > 0);
        if (name.Contains("Banded")) Assert.Equal(ConvolutionKernels.TileThreads, actual.Specialization.MaxNumThreadsPerGroup);
        Assert.Equal(compiled.Info is null, rebuilt.Info is null);
    }

    /// <summary>
    /// On a CUDA or OpenCL device: a kernel's first compile stores its text; a second compile (the same kernel, as in a
    /// later run) gets the stored text, which the device loads and runs.
    /// </summary>
    [DriverFact]
    [Trait("Backend", "Device")]
    public void A_later_compile_gets_the_stored_text_and_it_runs()
    {
        Assert.NotNull(KernelTextCache.Folder);
        var device = TestDevice.Instance.Accelerator;
        var entry = EntryPointDescription.FromImplicitlyGroupedKernel(typeof(MemoryKernels).GetMethod(nameof(MemoryKernels.Fill))!);
        string name = $"KernelTextCacheTests.Fill.{Guid.NewGuid():N}"; // a key no other run has stored
        static string Text(ILGPU.Backends.CompiledKernel k) => k is PTXCompiledKernel ptx ? ptx.PTXAssembly : ((CLCompiledKernel)k).Source;

        var first = device.CompileKernel(entry);
        Assert.False(KernelTextCache.Use(device, name, autoGrouped: true, first));
        string original = Text(first); // the header line and ILGPU's text: what this run loads and later runs get
        Assert.StartsWith("// densegen kernel text cache: shared-static=0 shared-dynamic=0", original);
        var stored = Directory.GetFiles(KernelTextCache.Folder!, $"{name}.*");
        Assert.Single(stored);
        Assert.Equal(original, File.ReadAllText(stored[0]));

        var second = device.CompileKernel(entry);
        // Marked, so that the test sees the stored text replace the compiled one (a comment in both PTX and OpenCL C).
        File.WriteAllText(stored[0], original + "\n// stored by an earlier run\n");
        Assert.True(KernelTextCache.Use(device, name, autoGrouped: true, second));
        Assert.EndsWith("// stored by an earlier run\n", Text(second));

        using var kernel = device.LoadAutoGroupedKernel(second);
        var launch = kernel.CreateLauncherDelegate<Action<AcceleratorStream, Index1D, ArrayView<float>, float>>();
        using var buffer = device.Allocate1D<float>(1000);
        launch(device.DefaultStream, 1000, buffer.View, 2.5f);
        Assert.All(buffer.GetAsArray1D(), v => Assert.Equal(2.5f, v));
        File.Delete(stored[0]);
    }

    /// <summary>
    /// A later run without ILGPU's compile (<see cref="KernelTextCache.TryCompiled"/>, the default on OpenCL): the kernel
    /// built from the stored text and its recorded shared memory loads and runs: a grouped kernel with shared memory
    /// (the weight gradient's split sum) against a plain loop.
    /// </summary>
    [DriverFact]
    [Trait("Backend", "Device")]
    public void A_later_run_loads_the_stored_kernel_without_compiling_and_it_runs()
    {
        var device = TestDevice.Instance.Accelerator;
        var method = typeof(ConvolutionKernels).GetMethod(nameof(ConvolutionKernels.SumSplitsByLanes))!;
        var entry = EntryPointDescription.FromExplicitlyGroupedKernel(method);
        string name = $"KernelTextCacheTests.SumSplitsByLanes.{Guid.NewGuid():N}";
        Assert.Null(KernelTextCache.TryCompiled(device, name, autoGrouped: false, entry, KernelSpecialization.Empty)); // nothing stored yet
        Assert.False(KernelTextCache.Use(device, name, autoGrouped: false, device.CompileKernel(entry)));

        var cached = KernelTextCache.TryCompiled(device, name, autoGrouped: false, entry, KernelSpecialization.Empty);
        try
        {
            if (!KernelTextCache.SkipsCompile(device)) { Assert.Null(cached); return; } // CUDA by default: compiled, text swapped
            Assert.NotNull(cached);
            using var kernel = device.LoadKernel(cached);
            var launch = kernel.CreateLauncherDelegate<Action<AcceleratorStream, KernelConfig, int, int, ArrayView<float>, ArrayView<float>>>();
            const int weights = 70, splits = 9;
            var random = new Random(3);
            var partials = Enumerable.Range(0, weights * splits).Select(_ => (float)random.NextDouble()).ToArray();
            using var partialsBuffer = device.Allocate1D(partials);
            using var sums = device.Allocate1D<float>(weights);
            launch(device.DefaultStream, new KernelConfig(ConvolutionKernels.Ceiling(weights, ConvolutionKernels.SplitColumns), ConvolutionKernels.TileThreads),
                weights, splits, partialsBuffer.View, sums.View);
            var actual = sums.GetAsArray1D();
            for (int w = 0; w < weights; w++)
                Assert.Equal(Enumerable.Range(0, splits).Sum(sp => (double)partials[sp * weights + w]), actual[w], 4);
        }
        finally
        {
            foreach (var file in Directory.GetFiles(KernelTextCache.Folder!, $"{name}.*")) File.Delete(file);
        }
    }
}

/// <summary>A fact for a device whose driver compiles kernel text (DENSEGEN_DEVICE=cuda or opencl); skipped on the others.</summary>
public sealed class DriverFactAttribute : FactAttribute
{
    public DriverFactAttribute()
    {
        if (Environment.GetEnvironmentVariable("DENSEGEN_DEVICE") is not ("cuda" or "opencl"))
            Skip = "needs a CUDA or OpenCL device (DENSEGEN_DEVICE=cuda or opencl; CI runs the device tests on PoCL's OpenCL)";
    }
}
