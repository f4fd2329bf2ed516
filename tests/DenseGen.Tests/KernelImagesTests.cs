using System;
using System.IO;
using System.Linq;
using System.Text;
using System.Text.RegularExpressions;
using DenseGen.Execution;
using DenseGen.Kernels;
using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Backends.PTX;
using ILGPU.Runtime.Cuda;
using Xunit;
using Xunit.Abstractions;

namespace DenseGen.Tests;

/// <summary>
/// Kernel images (KernelImages): kernels assembled ahead of time by ptxas for a GPU architecture, which a CUDA session
/// loads instead of compiling. What can be checked without a GPU: the images are cubins for the architecture with the
/// entry ILGPU's launcher looks up, the manifest records the shared memory ILGPU's PTX declares, only this build's
/// images are read, a bad manifest is reported with its line, and ILGPU still keeps what the loader swaps. Loading
/// them on a GPU is benchmarks/gpu-check.sh's part (its first-step rows and its checks run on images).
/// </summary>
public sealed class KernelImagesTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("densegen-images-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private static readonly string[] Sample =
    [
        "PoolingKernels.AveragePoolForward", // implicitly grouped: loaded with the image's own best group size
        "BatchNormKernels.Statistics", // static shared memory
        "ConvolutionKernels.ForwardBanded<Bands3, Taps1x1, ShuffleRowSums>", // launch bounds
    ];

    /// <summary>
    /// The whole catalog, as `densegen kernels` builds it (about 10 s on 2 cores): every kernel has an image, under its
    /// grouping, for sm_90 and holding its entry; none spills; the sample's recorded shared memory is its PTX's.
    /// </summary>
    [PtxasFact]
    public void Every_kernel_gets_an_sm_90_cubin_with_its_entry_and_shared_memory()
    {
        var report = KernelImages.Build(_root, "sm_90", Ptxas.Path!);
        output.WriteLine($"{report.Kernels} kernels, {report.Bytes:N0} bytes in {report.Folder}; ILGPU {report.CompileSeconds:F1} s, ptxas {report.AssembleSeconds:F1} s; {report.Ptxas}");
        Assert.Equal(KernelCatalog.All.Count, report.Kernels);
        Assert.Equal(Path.Combine(_root, KernelTextCache.BuildId, "sm_90"), report.Folder); // this build's folder
        Assert.Empty(report.Spilling);

        var manifest = KernelImages.Manifest(_root, "sm_90");
        Assert.Equal(KernelCatalog.All.Count, manifest.Count);
        foreach (var method in KernelCatalog.All)
        {
            string name = KernelLoader.NameOf(method);
            bool auto = KernelCatalog.IsImplicitlyGrouped(method);
            Assert.True(manifest.TryGetValue((name, auto), out var image), $"{name} ({(auto ? "auto" : "grouped")}) is not in the manifest");
            byte[] cubin = File.ReadAllBytes(Path.Combine(report.Folder, image!.File));
            Assert.Equal(new byte[] { 0x7f, (byte)'E', (byte)'L', (byte)'F' }, cubin[..4]);
            Assert.Equal(190, BitConverter.ToUInt16(cubin, 18)); // EM_CUDA
            Assert.Equal(90, BitConverter.ToInt32(cubin, 48) & 0xff); // e_flags: the SM version the code is for
            string entry = KernelCatalog.EntryOf(method).Name;
            Assert.True(Contains(cubin, Encoding.ASCII.GetBytes(".text." + entry + "\0")), $"{image.File} has no function {entry}, which ILGPU's launcher looks up");
            var bounds = LaunchBoundsAttribute.SpecializationOf(method);
            Assert.InRange(image.Registers, 1, bounds.MaxNumThreadsPerGroup is int threads && bounds.MinNumGroupsPerMultiprocessor is int groups ? 65536 / (threads * groups) : 255);
        }

        // The shared memory the manifest records (and the loader gives ILGPU's entry point) is what the PTX declares.
        using var context = Context.Create(b => b.Optimize(OptimizationLevel.O2).EnableAlgorithms());
        var backend = new PTXBackend(context, new CudaCapabilityContext(CudaArchitecture.SM_90), CudaArchitecture.SM_90, CudaInstructionSet.ISA_78, null);
        foreach (var method in Sample.Select(KernelCatalog.Named))
        {
            var image = manifest[(KernelLoader.NameOf(method), KernelCatalog.IsImplicitlyGrouped(method))];
            string ptx = ((PTXCompiledKernel)backend.Compile(KernelCatalog.EntryOf(method), LaunchBoundsAttribute.SpecializationOf(method))).PTXAssembly;
            int declared = Regex.Matches(ptx, @"\.shared \.align \d+ \.b8 \w+\[(\d+)\]").Sum(m => int.Parse(m.Groups[1].Value));
            output.WriteLine($"{image.Kernel}: {image.File}, {image.Registers} registers, shared {image.SharedStatic} (PTX declares {declared})");
            Assert.Equal(declared, image.SharedStatic);
            Assert.False(image.SharedDynamic);
        }
        Assert.Contains(manifest.Values, i => i.SharedStatic > 0);
        Assert.Empty(KernelImages.Manifest(_root, "sm_80")); // no images for another architecture
    }

    [Fact]
    public void Only_this_builds_images_are_read_and_a_bad_manifest_names_its_line()
    {
        string other = Path.Combine(_root, "0123456789abcdef", "sm_90");
        Directory.CreateDirectory(other);
        File.WriteAllText(Path.Combine(other, "manifest.tsv"), "# densegen kernel images: build=0123456789abcdef\nBatchNormKernels.Statistics\tgrouped\tx.cubin\t2048\t0\t30\n");
        Assert.Empty(KernelImages.Manifest(_root, "sm_90")); // another build's folder: not this build's kernels

        string ilgpu = $"ilgpu={typeof(ILGPU.Runtime.Accelerator).Assembly.GetName().Version} ";
        var bad = Assert.Throws<InvalidDataException>(() => ManifestOf("sm_86", $"# densegen kernel images: {ilgpu}arch=sm_86\n# kernel\t...\nBatchNormKernels.Statistics\tgrouped\ta.cubin\tmany\t0\t30\n", "a.cubin"));
        Assert.Contains("line 3", bad.Message);
        Assert.Contains("shared-static", bad.Message);

        var gone = Assert.Throws<InvalidDataException>(() => ManifestOf("sm_89", $"# densegen kernel images: {ilgpu}arch=sm_89\nBatchNormKernels.Statistics\tgrouped\tgone.cubin\t2048\t0\t30\n"));
        Assert.Contains("gone.cubin", gone.Message);
        Assert.Contains("densegen kernels", gone.Message);

        Assert.Contains("ILGPU", Assert.Throws<InvalidDataException>(() => ManifestOf("sm_75", "# densegen kernel images: ilgpu=1.4.0.0 arch=sm_75\n")).Message);
    }

    /// <summary>This build's manifest for <paramref name="arch"/> with the given text (and empty image files), as read.</summary>
    private object ManifestOf(string arch, string manifest, params string[] images)
    {
        string folder = KernelImages.FolderFor(_root, arch);
        Directory.CreateDirectory(folder);
        foreach (string image in images) File.WriteAllText(Path.Combine(folder, image), "");
        File.WriteAllText(Path.Combine(folder, "manifest.tsv"), manifest);
        return KernelImages.Manifest(_root, arch);
    }

    [PtxasFact]
    public void The_placeholder_module_assembles_with_the_kernels_entry_name()
    {
        var entry = KernelCatalog.EntryOf(KernelCatalog.Named(Sample[2]));
        string ptx = KernelImages.PlaceholderPtx(entry.Name, CudaArchitecture.SM_90, CudaInstructionSet.ISA_78);
        string source = Path.Combine(_root, "placeholder.ptx"), cubin = Path.Combine(_root, "placeholder.cubin");
        File.WriteAllText(source, ptx);
        using var process = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo(Ptxas.Path!, $"-arch=sm_90 -o {cubin} {source}") { RedirectStandardError = true })!;
        string error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, error);
        Assert.True(Contains(File.ReadAllBytes(cubin), Encoding.ASCII.GetBytes(".text." + entry.Name + "\0")));
    }

    [Theory]
    [InlineData("sm_90", 9, 0)]
    [InlineData("86", 8, 6)]
    [InlineData("8.9", 8, 9)]
    public void Architectures_parse(string text, int major, int minor)
    {
        var arch = KernelImages.ParseArchitecture(text);
        Assert.Equal((major, minor), (arch.Major, arch.Minor));
        Assert.Equal($"sm_{major}{minor}", KernelImages.ArchitectureName(arch));
    }

    [Fact]
    public void A_bad_architecture_says_how_to_write_one() =>
        Assert.Contains("sm_90", Assert.Throws<ArgumentException>(() => KernelImages.ParseArchitecture("gfx90a")).Message);

    private static bool Contains(byte[] haystack, byte[] needle) => haystack.AsSpan().IndexOf(needle) >= 0;
}
