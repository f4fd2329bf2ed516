using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Reflection;
using System.Text.RegularExpressions;
using System.Threading;
using System.Threading.Tasks;
using DenseGen.Kernels;
using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Backends;
using ILGPU.Backends.EntryPoints;
using ILGPU.Backends.PTX;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;

namespace DenseGen.Execution;

/// <summary>
/// Kernels assembled ahead of time for a GPU architecture (cubins), the way CUDA libraries ship their kernels, so that a
/// session on such a GPU loads machine code instead of compiling: ILGPU's compile (IL to PTX) and the driver's JIT (PTX
/// to machine code) were 3.7 s and 6.1 s of an H200's 8 s first step one kernel at a time, and overlap poorly (the
/// driver JITs about one module at a time; benchmarks/RESULTS.md). <see cref="Build"/> compiles every kernel of
/// <see cref="KernelCatalog"/> to PTX with ILGPU's PTX backend and assembles it with NVIDIA's ptxas (no GPU needed:
/// `densegen kernels`); a CUDA session whose device has that architecture then loads each kernel's image
/// (<see cref="TryLoad"/>) and compiles only what has none. Images are for one build of DenseGen (its module version
/// id, as <see cref="KernelTextCache"/>) and one ILGPU version: a folder of other builds' images is ignored, with a note.
/// Where: DENSEGEN_KERNEL_IMAGES (a folder; "off" disables), else the folder "densegen-kernels" beside DenseGen.dll's
/// application (AppContext.BaseDirectory), if there is one. Layout: FOLDER/BUILD/sm_XY/ with one .cubin per kernel and
/// manifest.tsv (kernel, grouping, file, static and dynamic shared memory, registers), written last.
/// ILGPU loads modules only from PTX text, so a kernel from an image is ILGPU's kernel object for a placeholder
/// module (one empty entry of the same name: a JIT of microseconds) whose module and function are then swapped for the
/// image's (<see cref="CudaDriver"/>; the fields are private to ILGPU, and a test checks they are still there). Its
/// entry point (parameters, shared memory, launch bounds) is built from the method as ILGPU's compile would
/// (<see cref="KernelTextCache.PtxKernel"/>), so its launcher is ILGPU's own. Anything that fails falls back to
/// compiling, with a note on stderr.
/// </summary>
internal static class KernelImages
{
    /// <summary>The folder's name beside an application that ships images.</summary>
    public const string ShippedFolderName = "densegen-kernels";

    /// <summary>The images' folder (all builds and architectures), or null when there is none or images are off.</summary>
    public static string? Folder { get; } = Environment.GetEnvironmentVariable("DENSEGEN_KERNEL_IMAGES") switch
    {
        "off" or "0" => null,
        { Length: > 0 } set => set,
        _ => Path.Combine(AppContext.BaseDirectory, ShippedFolderName) is var shipped && Directory.Exists(shipped) ? shipped : null,
    };

    /// <summary>
    /// The PTX ISA of the PTX that <see cref="Build"/> assembles: 7.8, the newest CUDA 11.8's ptxas reads (later ones
    /// read it too). ILGPU's PTX for these kernels differs between ISAs only in its version line.
    /// </summary>
    public static readonly CudaInstructionSet InstructionSet = CudaInstructionSet.ISA_78;

    /// <summary>One kernel's image as the manifest records it.</summary>
    internal sealed record Image(string Kernel, bool AutoGrouped, string File, int SharedStatic, bool SharedDynamic, int Registers);

    private const string ManifestName = "manifest.tsv";
    private static readonly ConcurrentDictionary<string, IReadOnlyDictionary<(string, bool), Image>> s_manifests = new();

    /// <summary>"sm_90" for compute capability 9.0.</summary>
    public static string ArchitectureName(CudaArchitecture architecture) => $"sm_{architecture.Major}{architecture.Minor}";

    /// <summary>Parses "sm_90" (or "90", "9.0").</summary>
    public static CudaArchitecture ParseArchitecture(string text)
    {
        var match = Regex.Match(text.Trim(), @"^(?:sm_)?(\d)\.?(\d)$");
        if (!match.Success) throw new ArgumentException($"'{text}' is not a CUDA architecture: write it as sm_90 (compute capability 9.0), sm_80, sm_86 ...");
        return new CudaArchitecture(int.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture), int.Parse(match.Groups[2].Value, CultureInfo.InvariantCulture));
    }

    /// <summary>The folder of this build's images for <paramref name="architecture"/> under <paramref name="root"/>.</summary>
    public static string FolderFor(string root, string architecture) => Path.Combine(root, KernelTextCache.BuildId, architecture);

    /// <summary>What <see cref="Build"/> did.</summary>
    public sealed record BuildReport(string Folder, int Kernels, long Bytes, double CompileSeconds, double AssembleSeconds, string Ptxas, IReadOnlyList<string> Spilling);

    /// <summary>
    /// Compiles <paramref name="kernels"/> (every kernel DenseGen loads unless given) to PTX for
    /// <paramref name="architecture"/> and assembles each with <paramref name="ptxas"/> into
    /// <see cref="FolderFor"/>(<paramref name="root"/>, architecture), replacing what was there. Kernels compile one
    /// ILGPU context, assemblies run side by side. Throws, naming the kernel and ptxas's message, when one fails.
    /// </summary>
    public static BuildReport Build(string root, string architecture, string ptxas, IEnumerable<MethodInfo>? kernels = null, TextWriter? log = null)
    {
        var arch = ParseArchitecture(architecture);
        string archName = ArchitectureName(arch);
        if (!File.Exists(ptxas)) throw new FileNotFoundException($"ptxas not found at '{ptxas}': pass the path of CUDA's ptxas (bash .ci/get-ptxas.sh unpacks CUDA 11.8's)", ptxas);
        string version = Run(ptxas, "--version").Output.Split('\n').LastOrDefault(l => l.Contains("release", StringComparison.Ordinal))?.Trim() ?? "unknown";
        string folder = FolderFor(root, archName);
        string work = folder + $".{Environment.ProcessId}.tmp";
        if (Directory.Exists(work)) Directory.Delete(work, recursive: true);
        Directory.CreateDirectory(work);
        var methods = (kernels ?? KernelCatalog.All).ToArray();

        using var context = Context.Create(builder => builder.Optimize(OptimizationLevel.O2).Math(MathMode.Default).EnableAlgorithms().Caching(CachingMode.NoKernelCaching)); // as ComputeDevice
        var backend = new PTXBackend(context, new CudaCapabilityContext(arch), arch, InstructionSet, null);
        var images = new Image[methods.Length];
        var spilling = new ConcurrentBag<string>();
        long compileTicks = 0, assembleTicks = 0;
        Parallel.For(0, methods.Length, new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount }, i =>
        {
            var method = methods[i];
            string name = KernelLoader.NameOf(method);
            bool autoGrouped = KernelCatalog.IsImplicitlyGrouped(method);
            long start = Stopwatch.GetTimestamp();
            var compiled = (PTXCompiledKernel)backend.Compile(KernelCatalog.EntryOf(method), LaunchBoundsAttribute.SpecializationOf(method));
            var shared = KernelTextCache.EntryPointOf(compiled)?.SharedMemory
                ?? throw new MissingMemberException("ILGPU's CompiledKernel.EntryPoint is gone: update KernelImages");
            long compiledAt = Stopwatch.GetTimestamp();
            string file = KernelTextCache.FileName(name, autoGrouped, archName, "cubin");
            string source = Path.Combine(work, Path.ChangeExtension(file, "ptx"));
            File.WriteAllText(source, compiled.PTXAssembly);
            var (exit, output) = Run(ptxas, $"-v -arch={archName} -o \"{Path.Combine(work, file)}\" \"{source}\"");
            File.Delete(source);
            if (exit != 0) throw new InvalidOperationException($"ptxas could not assemble {name} for {archName}: {output.Trim()}");
            int registers = int.Parse(Regex.Match(output, @"Used (\d+) registers").Groups[1].Value is { Length: > 0 } r ? r : "0", CultureInfo.InvariantCulture);
            if (Regex.Match(output, @"(\d+) bytes spill stores") is { Success: true } spill && spill.Groups[1].Value != "0") spilling.Add($"{name} ({spill.Groups[1].Value} bytes spill stores)");
            images[i] = new Image(name, autoGrouped, file, shared.StaticSize, shared.HasDynamicMemory, registers);
            Interlocked.Add(ref compileTicks, compiledAt - start);
            Interlocked.Add(ref assembleTicks, Stopwatch.GetTimestamp() - compiledAt);
            log?.WriteLine($"  {name,-72} {registers,3} registers, {shared.StaticSize,6} bytes shared");
        });

        var lines = new List<string> { $"# densegen kernel images: build={KernelTextCache.BuildId} ilgpu={typeof(Accelerator).Assembly.GetName().Version} arch={archName} ptx-isa={InstructionSet.Major}.{InstructionSet.Minor} ptxas=\"{version}\"",
            "# kernel\tgrouping\tfile\tshared-static\tshared-dynamic\tregisters" };
        lines.AddRange(images.Select(i => string.Join('\t', i.Kernel, i.AutoGrouped ? "auto" : "grouped", i.File,
            i.SharedStatic.ToString(CultureInfo.InvariantCulture), i.SharedDynamic ? "1" : "0", i.Registers.ToString(CultureInfo.InvariantCulture))));
        File.WriteAllLines(Path.Combine(work, ManifestName), lines); // last: a folder without it is not read
        if (Directory.Exists(folder)) Directory.Delete(folder, recursive: true);
        Directory.Move(work, folder);
        s_manifests.TryRemove(folder, out _);
        long bytes = new DirectoryInfo(folder).EnumerateFiles().Sum(f => f.Length);
        double Seconds(long ticks) => ticks / (double)Stopwatch.Frequency;
        return new BuildReport(folder, images.Length, bytes, Seconds(compileTicks), Seconds(assembleTicks), version, spilling.Order().ToList());
    }

    private static (int Exit, string Output) Run(string program, string arguments)
    {
        using var process = Process.Start(new ProcessStartInfo(program, arguments) { RedirectStandardError = true, RedirectStandardOutput = true })!;
        var error = process.StandardError.ReadToEndAsync();
        string output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, output + error.Result);
    }

    /// <summary>
    /// This build's images for <paramref name="architecture"/> in <paramref name="root"/>, by kernel and grouping; empty
    /// when there are none. Throws when the manifest is malformed or names files that are not there.
    /// </summary>
    internal static IReadOnlyDictionary<(string Kernel, bool AutoGrouped), Image> Manifest(string root, string architecture) =>
        s_manifests.GetOrAdd(FolderFor(root, architecture), folder =>
        {
            string file = Path.Combine(folder, ManifestName);
            if (!File.Exists(file)) return new Dictionary<(string, bool), Image>();
            string ilgpu = $"ilgpu={typeof(Accelerator).Assembly.GetName().Version} ";
            var lines = File.ReadAllLines(file);
            if (lines.Length == 0 || !lines[0].Contains(ilgpu, StringComparison.Ordinal))
                throw new InvalidDataException($"{file}: not images of this ILGPU version ({ilgpu.Trim()}); rebuild them with `densegen kernels`");
            var images = new Dictionary<(string, bool), Image>();
            for (int n = 1; n < lines.Length; n++)
            {
                if (lines[n].StartsWith('#') || lines[n].Length == 0) continue;
                var f = lines[n].Split('\t');
                if (f.Length != 6 || f[1] is not ("auto" or "grouped") || !int.TryParse(f[3], CultureInfo.InvariantCulture, out int shared)
                    || f[4] is not ("0" or "1") || !int.TryParse(f[5], CultureInfo.InvariantCulture, out int registers))
                    throw new InvalidDataException($"{file}, line {n + 1}: expected kernel, auto|grouped, file, shared-static, 0|1, registers separated by tabs; got '{lines[n]}'");
                if (!File.Exists(Path.Combine(folder, f[2])))
                    throw new InvalidDataException($"{file}, line {n + 1}: its image {f[2]} is missing; rebuild the images with `densegen kernels`");
                images[(f[0], f[1] == "auto")] = new Image(f[0], f[1] == "auto", f[2], shared, f[4] == "1", registers);
            }
            return images;
        });

    private static int s_noted;

    /// <summary>
    /// The kernel of <paramref name="entry"/> on <paramref name="device"/> from this build's image for the device's
    /// architecture, without compiling; null when there is no image (or images are off). Falls back (null, with a note
    /// on stderr) when loading the image fails.
    /// </summary>
    public static Kernel? TryLoad(CudaAccelerator device, string kernel, bool autoGrouped, EntryPointDescription entry, KernelSpecialization specialization)
    {
        if (Folder is null) return null;
        string arch = ArchitectureName(device.Architecture);
        IReadOnlyDictionary<(string Kernel, bool AutoGrouped), Image> manifest;
        try { manifest = Manifest(Folder, arch); }
        catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException)
        {
            Note($"densegen: kernel images not used: {e.Message}");
            return null;
        }
        if (!manifest.TryGetValue((kernel, autoGrouped), out var image))
        {
            if (manifest.Count == 0)
                Note($"densegen: no kernel images for this build ({KernelTextCache.BuildId}) and {arch} in {Folder}: compiling kernels instead " +
                     $"(make them with `densegen kernels --arch {arch} --out {Folder}`)");
            return null;
        }
        IntPtr module = IntPtr.Zero;
        try
        {
            byte[] bytes = File.ReadAllBytes(Path.Combine(FolderFor(Folder, arch), image.File));
            var shared = new SharedMemorySpecification(image.SharedStatic, image.SharedDynamic);
            var placeholder = KernelTextCache.PtxKernel(device.Context, entry, shared, specialization, PlaceholderPtx(entry.Name, device));
            device.Bind();
            module = CudaDriver.LoadModule(bytes);
            IntPtr function = CudaDriver.Function(module, entry.Name);
            // At least what ILGPU's entry point allocates (sm_80 and later may add the 1 KiB the system reserves per group).
            int loadedShared = CudaDriver.Attribute(function, CudaDriver.SharedSizeBytes);
            if (loadedShared < image.SharedStatic)
                throw new InvalidDataException($"its image has {loadedShared} bytes of static shared memory, its manifest {image.SharedStatic}");
            var loaded = autoGrouped ? device.LoadImplicitlyGroupedKernel(placeholder, CudaDriver.MaxPotentialBlockSize(function)) : device.LoadKernel(placeholder);
            var cuda = (CudaKernel)loaded;
            IntPtr placeholderModule = cuda.ModulePtr;
            IlgpuInternals.Require(IlgpuInternals.CudaModule, "kernel images").SetValue(cuda, module);
            IlgpuInternals.Require(IlgpuInternals.CudaFunction, "kernel images").SetValue(cuda, function);
            module = IntPtr.Zero; // the kernel owns it now (ILGPU unloads it when disposed)
            try { CudaDriver.Unload(placeholderModule); }
            catch (InvalidOperationException) { } // a few bytes of an empty module left loaded: the kernel is fine
            return loaded;
        }
        catch (Exception e)
        {
            try { if (module != IntPtr.Zero) CudaDriver.Unload(module); }
            catch (InvalidOperationException) { } // compile anyway: the fallback must not fail for the cleanup
            Console.Error.WriteLine($"densegen: kernel image {image.File} for {kernel} not used ({e.GetType().Name}: {e.Message}); compiling it instead");
            return null;
        }
    }

    private static void Note(string message)
    {
        if (Interlocked.Exchange(ref s_noted, 1) == 0) Console.Error.WriteLine(message);
    }

    /// <summary>
    /// A module with one empty entry named as the kernel, for ILGPU to load in its place (its text for the device's
    /// architecture and ILGPU's PTX ISA for it).
    /// </summary>
    internal static string PlaceholderPtx(string entryName, CudaAccelerator device) => PlaceholderPtx(entryName, device.Architecture, device.InstructionSet);

    internal static string PlaceholderPtx(string entryName, CudaArchitecture architecture, CudaInstructionSet isa) =>
        $"// densegen: placeholder for {entryName}, whose kernel image replaces this module once loaded\n" +
        $".version {isa.Major}.{isa.Minor}\n.target {ArchitectureName(architecture)}\n.address_size 64\n\n.visible .entry {entryName}()\n{{\n\tret;\n}}\n";
}
