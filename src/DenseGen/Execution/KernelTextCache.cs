using System;
using System.IO;
using System.Linq;
using System.Reflection;
using System.Security.Cryptography;
using System.Text;
using ILGPU.Backends;
using ILGPU.Backends.OpenCL;
using ILGPU.Backends.PTX;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;
using ILGPU.Runtime.OpenCL;

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
/// and compiler. ILGPU still compiles every kernel (its entry point describes the launch); only the text is swapped.
/// Where: DENSEGEN_KERNEL_CACHE (a folder; "off" disables), else ~/.cache/densegen/kernels. Files are written whole
/// (temporary file, then rename); other builds' folders unused for a week are deleted.
/// </summary>
internal static class KernelTextCache
{
    /// <summary>This build's folder, or null when the cache is off.</summary>
    public static string? Folder { get; } = Open();

    private static readonly FieldInfo? s_ptx = typeof(PTXCompiledKernel).GetField("<PTXAssembly>k__BackingField", BindingFlags.Instance | BindingFlags.NonPublic);
    private static readonly FieldInfo? s_source = typeof(CLCompiledKernel).GetField("<Source>k__BackingField", BindingFlags.Instance | BindingFlags.NonPublic);

    /// <summary>Whether ILGPU's compiled kernels still keep their text where this class replaces it (a test checks).</summary>
    internal static bool CanReplaceText => s_ptx is not null && s_source is not null;

    private static string? Open()
    {
        string? root = Environment.GetEnvironmentVariable("DENSEGEN_KERNEL_CACHE") is { Length: > 0 } set ? set
            : Path.Combine(Environment.GetEnvironmentVariable("XDG_CACHE_HOME") is { Length: > 0 } xdg ? xdg
                : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache"), "densegen", "kernels");
        if (root is "off" or "0") return null;
        string build = typeof(KernelTextCache).Assembly.ManifestModule.ModuleVersionId.ToString("N")[..16];
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

    /// <summary>
    /// Gives <paramref name="compiled"/> (for <paramref name="device"/>) the text this build compiled for the same kernel
    /// and target before, if there is one, and returns true; otherwise stores its text for later runs and returns false.
    /// Other kernels (ILGPU's CPU accelerator) are left as they are.
    /// </summary>
    public static bool Use(Accelerator device, string kernel, bool autoGrouped, CompiledKernel compiled)
    {
        if (Folder is null) return false;
        var (field, text, target, extension) = compiled switch
        {
            PTXCompiledKernel ptx when device is CudaAccelerator cuda => (s_ptx, ptx.PTXAssembly, $"cuda {cuda.Architecture} {cuda.InstructionSet}", "ptx"),
            CLCompiledKernel cl when device is CLAccelerator opencl => (s_source, cl.Source, $"opencl {opencl.Name} {opencl.Vendor} {opencl.CLStdVersion} {cl.CVersion}", "cl"),
            _ => (null, "", "", ""),
        };
        if (field is null) return false;
        string key = $"{kernel} {(autoGrouped ? "auto" : "grouped")} {target} ILGPU {typeof(Accelerator).Assembly.GetName().Version}";
        string hash = Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(key)))[..16].ToLowerInvariant();
        string file = Path.Combine(Folder, $"{new string(kernel.Select(c => char.IsLetterOrDigit(c) || c == '.' ? c : '_').ToArray())}.{hash}.{extension}");
        try
        {
            if (File.Exists(file))
            {
                field.SetValue(compiled, File.ReadAllText(file));
                return true;
            }
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
