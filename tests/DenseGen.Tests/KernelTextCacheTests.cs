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
    [Fact]
    public void ILGPU_keeps_kernel_text_where_the_cache_replaces_it() => Assert.True(KernelTextCache.CanReplaceText,
        "ILGPU's PTXCompiledKernel or CLCompiledKernel no longer keeps its text in the field KernelTextCache sets: update it for this ILGPU version");

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
        string original = Text(first);
        Assert.False(KernelTextCache.Use(device, name, autoGrouped: true, first));
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
