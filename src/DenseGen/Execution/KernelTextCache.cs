using System;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Reflection;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using ILGPU.Backends;
using ILGPU.Backends.EntryPoints;
using ILGPU.Backends.OpenCL;
using ILGPU.Backends.PTX;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;
using ILGPU.Runtime.OpenCL;
using ILGPU.IR.Types;

namespace DenseGen.Execution;

/// <summary>
/// Keeps the PTX and OpenCL C of each kernel as first compiled by this build of DenseGen for a device, and hands that
/// same text to the driver in every later run. The drivers cache what they compile, keyed by the text: the CUDA driver
/// its JIT's machine code (~/.nv/ComputeCache), PoCL its LLVM output (~/.cache/pocl/kcache). ILGPU's text for a kernel
/// is not the same from run to run: labels and parameter names carry IR node ids, and the instruction order follows
/// them, which depend on what else its context compiled before (KernelLoader compiles side by side, in whichever
/// context is free; 41 of 76 kernels differed between two contexts compiling them in opposite orders). So the drivers
/// compiled everything again on every run: on an H200, 6.1 s of JIT in each first step (benchmarks/RESULTS.md).
/// Keyed by kernel, device target (CUDA architecture and PTX ISA; OpenCL device, vendor and C version), ILGPU's version
/// and this DenseGen build (its module version id), so a cached text is ILGPU's own output for the same method, target
/// and compiler. Each file starts with a comment line recording what ILGPU's entry point needs besides the method
/// (shared memory, OpenCL C version), so that a later run can skip ILGPU's compile altogether
/// (<see cref="TryCompiled"/>): on OpenCL by default (checked on PoCL); on CUDA, where it has not run on a GPU yet,
/// only with DENSEGEN_SKIP_CACHED_COMPILE=1 (=0 turns it off everywhere); otherwise ILGPU compiles and only the text is
/// swapped (<see cref="Use"/>). Where: DENSEGEN_KERNEL_CACHE (a folder; "off" disables), else ~/.cache/densegen/kernels.
/// Files are written whole (temporary file, then rename); other builds' folders unused for a week are deleted.
/// </summary>
internal static partial class KernelTextCache
{
    /// <summary>This build of DenseGen: the first 16 hex digits of its module version id (its compile's hash).</summary>
    internal static string BuildId { get; } = typeof(KernelTextCache).Assembly.ManifestModule.ModuleVersionId.ToString("N")[..16];

    /// <summary>This build's folder, or null when the cache is off.</summary>
    public static string? Folder { get; } = Open();

    private static string? Open()
    {
        string? root = Environment.GetEnvironmentVariable("DENSEGEN_KERNEL_CACHE") is { Length: > 0 } set ? set
            : Path.Combine(Environment.GetEnvironmentVariable("XDG_CACHE_HOME") is { Length: > 0 } xdg ? xdg
                : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache"), "densegen", "kernels");
        if (root is "off" or "0") return null;
        string build = BuildId;
        string folder = Path.Combine(root, build);
        try
        {
            Directory.CreateDirectory(folder);
            Directory.SetLastWriteTimeUtc(folder, DateTime.UtcNow);
            foreach (var old in new DirectoryInfo(root).EnumerateDirectories().Where(d => d.Name != build && d.LastWriteTimeUtc < DateTime.UtcNow.AddDays(-7)))
                old.Delete(recursive: true);
            return folder;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine($"densegen: kernel text cache off: cannot use {folder} ({e.Message}); set DENSEGEN_KERNEL_CACHE to a writable folder, or to off");
            return null;
        }
    }

    /// <summary>Whether <see cref="TryCompiled"/> skips ILGPU's compile on <paramref name="device"/> (see the class summary).</summary>
    public static bool SkipsCompile(Accelerator device) => Environment.GetEnvironmentVariable("DENSEGEN_SKIP_CACHED_COMPILE") switch
    {
        "1" => device is CudaAccelerator or CLAccelerator,
        "0" => false,
        _ => device is CLAccelerator,
    };

    private static readonly TypeInformationManager s_types = new();

    /// <summary>
    /// The kernel of <paramref name="entry"/> for <paramref name="device"/> as this build compiled it in an earlier run,
    /// without compiling: ILGPU's entry point built from the method and the recorded shared memory, the stored text;
    /// null when there is none (or <see cref="SkipsCompile"/> is false).
    /// </summary>
    public static CompiledKernel? TryCompiled(Accelerator device, string kernel, bool autoGrouped, EntryPointDescription entry, KernelSpecialization specialization)
    {
        if (Folder is null || !SkipsCompile(device) || Target(device) is not var (target, extension)) return null;
        string file = FileOf(kernel, autoGrouped, target, extension);
        if (!File.Exists(file)) return null;
        string text = File.ReadAllText(file);
        var header = HeaderLine().Match(text);
        if (!header.Success) return null; // written by an older build of this class: compile
        var shared = new SharedMemorySpecification(int.Parse(header.Groups[1].Value, CultureInfo.InvariantCulture), header.Groups[2].Value == "1");
        if (device is CLAccelerator && header.Groups[3].Success)
            return OpenClKernel(device.Context, entry, shared, specialization, text, new CLCVersion(int.Parse(header.Groups[3].Value, CultureInfo.InvariantCulture), int.Parse(header.Groups[4].Value, CultureInfo.InvariantCulture)));
        return device is CudaAccelerator ? PtxKernel(device.Context, entry, shared, specialization, text) : null;
    }

    /// <summary>A PTX kernel as ILGPU's PTX backend makes one (its entry point: the method, shared memory, launch bounds), from text.</summary>
    internal static PTXCompiledKernel PtxKernel(ILGPU.Context context, EntryPointDescription entry, SharedMemorySpecification shared, KernelSpecialization specialization, string ptx) =>
        (PTXCompiledKernel)IlgpuInternals.Require(IlgpuInternals.PtxKernelConstructor, "the kernel text cache").Invoke([context, new EntryPoint(entry, shared, specialization), null, ptx]);

    /// <summary>An OpenCL kernel as ILGPU's OpenCL backend makes one (views passed as two fields each), from source.</summary>
    internal static CLCompiledKernel OpenClKernel(ILGPU.Context context, EntryPointDescription entry, SharedMemorySpecification shared, KernelSpecialization specialization, string source, CLCVersion version) =>
        new(context, new SeparateViewEntryPoint(entry, shared, specialization, s_types, 2), null, source, version);

    /// <summary>The entry point ILGPU compiled <paramref name="kernel"/> with (internal to ILGPU).</summary>
    internal static EntryPoint? EntryPointOf(CompiledKernel kernel) => IlgpuInternals.EntryPoint?.GetValue(kernel) as EntryPoint;

    [GeneratedRegex(@"^// densegen kernel text cache: shared-static=(\d+) shared-dynamic=([01])(?: opencl-c=(\d+)\.(\d+))?")]
    private static partial Regex HeaderLine();

    private static (string Target, string Extension)? Target(Accelerator device) => device switch
    {
        CudaAccelerator cuda => ($"cuda {cuda.Architecture} {cuda.InstructionSet}", "ptx"),
        CLAccelerator opencl => ($"opencl {opencl.Name} {opencl.Vendor} {opencl.CLStdVersion}", "cl"),
        _ => null,
    };

    private static string FileOf(string kernel, bool autoGrouped, string target, string extension) =>
        Path.Combine(Folder!, FileName(kernel, autoGrouped, target, extension));

    /// <summary>A kernel's file name for a target: its name in file-name characters, and a hash of what keys it (also ILGPU's version).</summary>
    internal static string FileName(string kernel, bool autoGrouped, string target, string extension)
    {
        string key = $"{kernel} {(autoGrouped ? "auto" : "grouped")} {target} ILGPU {typeof(Accelerator).Assembly.GetName().Version}";
        string hash = Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(key)))[..16].ToLowerInvariant();
        return $"{new string(kernel.Select(c => char.IsLetterOrDigit(c) || c == '.' ? c : '_').ToArray())}.{hash}.{extension}";
    }

    /// <summary>
    /// Gives <paramref name="compiled"/> (for <paramref name="device"/>) the text this build compiled for the same kernel
    /// and target before, if there is one, and returns true; otherwise stores its text for later runs and returns false.
    /// Other kernels (ILGPU's CPU accelerator) are left as they are.
    /// </summary>
    public static bool Use(Accelerator device, string kernel, bool autoGrouped, CompiledKernel compiled)
    {
        if (Folder is null || Target(device) is not var (target, extension)) return false;
        if (EntryPointOf(compiled) is not { } entryPoint) return false;
        var shared = entryPoint.SharedMemory;
        string header = $"// densegen kernel text cache: shared-static={shared.StaticSize} shared-dynamic={(shared.HasDynamicMemory ? 1 : 0)}";
        var (field, text) = compiled switch
        {
            PTXCompiledKernel ptx => (IlgpuInternals.PtxAssembly, ptx.PTXAssembly),
            CLCompiledKernel cl => (IlgpuInternals.OpenClSource, cl.Source),
            _ => (null, ""),
        };
        if (field is null) return false;
        if (compiled is CLCompiledKernel c) header += $" opencl-c={c.CVersion.Major}.{c.CVersion.Minor}";
        text = header + "\n" + text;
        string file = FileOf(kernel, autoGrouped, target, extension);
        try
        {
            if (File.Exists(file))
            {
                field.SetValue(compiled, File.ReadAllText(file));
                return true;
            }
            field.SetValue(compiled, text); // this run loads what later runs will: the driver's cache entry then serves them
            string temporary = $"{file}.{Environment.ProcessId}.{Environment.CurrentManagedThreadId}.tmp";
            File.WriteAllText(temporary, text);
            try { File.Move(temporary, file, overwrite: false); }
            catch (IOException) { File.Delete(temporary); } // another process stored it first: the same kernel
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine($"densegen: kernel text cache: {file}: {e.Message} (compiling as usual)");
        }
        return false;
    }
}
