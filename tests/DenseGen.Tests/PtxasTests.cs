using DenseGen.Kernels;
using System;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Text.RegularExpressions;
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
/// What the CUDA driver's JIT does with DenseGen's PTX, checked without a GPU by the same assembler: NVIDIA's ptxas
/// (CUDA 11.8's, from Debian's nvidia-cuda-toolkit; .ci/get-ptxas.sh unpacks it and CI sets DENSEGEN_PTXAS). Every kernel
/// assembles for sm_90 with no register spills and no stack frame: local memory that ILGPU's PTX does not show (ILGPU
/// never writes .local, <see cref="PtxTests"/>), which ptxas adds when a kernel needs more than 255 registers or
/// indexes a register array. Skipped, with the reason, where ptxas is not found.
/// </summary>
public class PtxasTests(ITestOutputHelper output)
{
    // PTX ISA 7.8 is the newest this ptxas reads; the kernels' text is otherwise what ISA 8.3 gives (the version line).
    private static readonly Lazy<PTXBackend> s_backend = new(() =>
    {
        var context = Context.Create(builder => builder.Optimize(OptimizationLevel.O2).EnableAlgorithms()); // as ComputeDevice
        return new PTXBackend(context, new CudaCapabilityContext(CudaArchitecture.SM_90), CudaArchitecture.SM_90, CudaInstructionSet.ISA_78, null);
    });

    [PtxasTheory]
    [MemberData(nameof(PtxTests.Kernels), MemberType = typeof(PtxTests))]
    public void Assembles_for_sm_90_without_spills(string name)
    {
        Assert.True(File.Exists(Ptxas.Path), $"DENSEGEN_PTXAS={Ptxas.Path} does not exist (.ci/get-ptxas.sh unpacks ptxas)");
        var method = PtxTests.Named(name);
        var entry = method.GetParameters()[0].ParameterType == typeof(Index1D)
            ? EntryPointDescription.FromImplicitlyGroupedKernel(method) : EntryPointDescription.FromExplicitlyGroupedKernel(method);
        var specialization = LaunchBoundsAttribute.SpecializationOf(method);
        string ptx = ((PTXCompiledKernel)s_backend.Value.Compile(entry, specialization)).PTXAssembly;

        string dir = Directory.CreateTempSubdirectory("densegen-ptxas").FullName;
        try
        {
            string source = Path.Combine(dir, "k.ptx");
            File.WriteAllText(source, ptx);
            using var process = Process.Start(new ProcessStartInfo(Ptxas.Path!, $"-v -arch=sm_90 -o {Path.Combine(dir, "k.cubin")} {source}")
                { RedirectStandardError = true })!; // -v reports on stderr; the cubin goes to -o
            string info = process.StandardError.ReadToEnd();
            process.WaitForExit();
            Assert.True(process.ExitCode == 0, $"ptxas failed: {info}");
            output.WriteLine($"{name}: {info.Trim()}");
            // Launch bounds (version 4's kernels): no more registers than that many groups of that many threads leave each.
            int registers = int.Parse(Regex.Match(info, @"Used (\d+) registers").Groups[1].Value);
            Assert.InRange(registers, 1, specialization.MaxNumThreadsPerGroup is int threads && specialization.MinNumGroupsPerMultiprocessor is int groups
                ? 65536 / (threads * groups) : 255);
            Assert.Matches(@"0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads", info);
        }
        finally { Directory.Delete(dir, recursive: true); }
    }
}

/// <summary>
/// Where ptxas is: DENSEGEN_PTXAS (which must then exist: CI sets it, and a missing assembler fails the tests there),
/// else ptxas on the PATH.
/// </summary>
internal static class Ptxas
{
    public static string? Path { get; } = Environment.GetEnvironmentVariable("DENSEGEN_PTXAS") is { Length: > 0 } set ? set
        : (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Select(d => System.IO.Path.Combine(d, "ptxas")).FirstOrDefault(File.Exists);
}

/// <summary>A theory that needs ptxas: skipped, saying how to get it, where <see cref="Ptxas"/> finds none.</summary>
public sealed class PtxasTheoryAttribute : TheoryAttribute
{
    public PtxasTheoryAttribute()
    {
        if (Ptxas.Path is null)
            Skip = "ptxas not found: run .ci/get-ptxas.sh (CUDA 11.8's, from Debian's nvidia-cuda-toolkit) and set DENSEGEN_PTXAS to the ptxas it prints";
    }
}

/// <summary>A fact that needs ptxas: skipped, saying how to get it, where <see cref="Ptxas"/> finds none.</summary>
public sealed class PtxasFactAttribute : FactAttribute
{
    public PtxasFactAttribute()
    {
        if (Ptxas.Path is null)
            Skip = "ptxas not found: run .ci/get-ptxas.sh (CUDA 11.8's, from Debian's nvidia-cuda-toolkit) and set DENSEGEN_PTXAS to the ptxas it prints";
    }
}
