using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using System.Reflection;
using System.Runtime.CompilerServices;
using System.Threading;
using System.Threading.Tasks;
using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Backends;
using ILGPU.Backends.OpenCL;
using ILGPU.Backends.PTX;
using ILGPU.Runtime.Cuda;
using ILGPU.Runtime.OpenCL;
using ILGPU.Backends.EntryPoints;
using ILGPU.Runtime;

namespace DenseGen.Execution;

/// <summary>
/// Compiles and loads kernels on worker threads, each kernel of an accelerator once. A training step's first launch
/// waits for 40 to 60 kernels, and loading them one after another was most of the first step on a GPU (2.7 s, then
/// 4.5 s once the tap decode specialised the products). ILGPU's own kernel cache holds one lock per accelerator around
/// compiling and loading (KernelCache.LoadCachedKernel), so the device's context turns it off
/// (<see cref="CachingMode.NoKernelCaching"/>) and this class caches instead: ILGPU's IL-to-IR step still runs one
/// kernel at a time (its context's code-generation semaphore), but its PTX generation and the CUDA driver's JIT run
/// side by side. On a GPU with kernel images for its architecture (<see cref="KernelImages"/>) nothing compiles: each
/// kernel is loaded from its image.
/// </summary>
internal static class KernelLoader
{
    private static readonly ConditionalWeakTable<Accelerator, ConcurrentDictionary<(MethodInfo Method, bool AutoGrouped), Lazy<Task<Kernel>>>> s_kernels = new();
    private static readonly ConcurrentQueue<KernelLoadTime> s_times = new();

    /// <summary>
    /// Whether kernels compile on worker threads (DENSEGEN_PARALLEL_COMPILE=0: on the calling thread, one at a time, as
    /// ILGPU's own loaders do; the GPU check compares both).
    /// </summary>
    public static bool Parallel { get; } = Environment.GetEnvironmentVariable("DENSEGEN_PARALLEL_COMPILE") != "0";

    /// <summary>
    /// The kernel of <paramref name="method"/> on <paramref name="accelerator"/>: explicitly grouped, or with ILGPU's
    /// automatic group size (<paramref name="autoGrouped"/>). Starts compiling it on first request; later requests share
    /// the same task.
    /// </summary>
    public static Task<Kernel> Start(Accelerator accelerator, MethodInfo method, bool autoGrouped)
    {
        var kernels = s_kernels.GetValue(accelerator, _ => new());
        return kernels.GetOrAdd((method, autoGrouped), key => new Lazy<Task<Kernel>>(() => Parallel
            ? Task.Run(() => Load(accelerator, key.Method, key.AutoGrouped))
            : Task.FromResult(Load(accelerator, key.Method, key.AutoGrouped)))).Value;
    }

    /// <summary>
    /// A kernel's name in profiles and load times: "Family.Method", with a generic kernel's type arguments
    /// ("ConvolutionKernels.ForwardBanded&lt;Bands3, Taps1x1&gt;").
    /// </summary>
    public static string NameOf(MethodInfo method) => $"{method.DeclaringType!.Name}.{method.Name}"
        + (method.IsGenericMethod ? $"<{string.Join(", ", method.GetGenericArguments().Select(t => t.Name))}>" : "");

    /// <summary>How long each kernel took to compile (ILGPU) and to load (the driver's JIT on CUDA), in load order.</summary>
    public static IReadOnlyCollection<KernelLoadTime> Times => s_times;

    /// <summary>
    /// ILGPU contexts that compile kernels for CUDA devices beside the device's own (DENSEGEN_COMPILE_CONTEXTS,
    /// 4 by default, at most the cores; 1: the device's context only). A context turns IL into IR for one kernel at a
    /// time, and that step is about three quarters of ILGPU's compile time (52 kernels to PTX on this project's 2-core
    /// machine: 2.0 s one at a time, 2.0 s side by side in one context, 0.5 s again once their IR is cached); the PTX or
    /// OpenCL C is loaded into the device's context as any other.
    /// </summary>
    public static int CompileContexts { get; } = !Parallel ? 1
        : Math.Clamp(int.TryParse(Environment.GetEnvironmentVariable("DENSEGEN_COMPILE_CONTEXTS"), out int n) ? n : 4, 1, Environment.ProcessorCount);

    private static readonly ConditionalWeakTable<Accelerator, Compilers> s_compilers = new();

    /// <summary>An OpenCL kernel as <see cref="Load"/> compiles it, in a fresh context (for the tests).</summary>
    internal static CLCompiledKernel CompileAlone(CLAccelerator device, MethodInfo method, bool autoGrouped) =>
        CompileAlone(device, EntryOf(method, autoGrouped), Kernels.LaunchBoundsAttribute.SpecializationOf(method));

    /// <summary>A compile-only context set up as the device's (ComputeDevice.Open), without its devices.</summary>
    private static Context CompileContext() =>
        Context.Create(builder => builder.Optimize(OptimizationLevel.O2).Math(MathMode.Default).EnableAlgorithms().Caching(CachingMode.NoKernelCaching));

    private static EntryPointDescription EntryOf(MethodInfo method, bool autoGrouped) =>
        autoGrouped ? EntryPointDescription.FromImplicitlyGroupedKernel(method) : EntryPointDescription.FromExplicitlyGroupedKernel(method);

    /// <summary>
    /// An OpenCL kernel compiled in a context of its own, set up as the device's: the same text every time. ILGPU's
    /// statement order depends on what its context compiled before, and PoCL's speed on that order: DenseNet-121's 1x1
    /// backward-input through BN took 460-490 ms with the text one run happened to store (the kernel text cache keeps a
    /// build's first text) and 280-290 ms compiled alone. Costs about 1.5 s in a cold BC-100 session on PoCL (6.6-7.4 s
    /// against 5.1-5.8 s), nothing once the texts are stored.
    /// </summary>
    private static CLCompiledKernel CompileAlone(CLAccelerator device, EntryPointDescription entry, KernelSpecialization specialization)
    {
        using var fresh = CompileContext();
        return (CLCompiledKernel)new CLBackend(fresh, device.Capabilities, device.Vendor, device.CLStdVersion).Compile(entry, specialization);
    }

    /// <summary>Disposes the compile contexts of <paramref name="accelerator"/> (with its device).</summary>
    public static void Release(Accelerator accelerator)
    {
        if (s_compilers.TryGetValue(accelerator, out var compilers)) compilers.Dispose();
        s_compilers.Remove(accelerator);
        s_kernels.Remove(accelerator);
    }

    private static Kernel Load(Accelerator accelerator, MethodInfo method, bool autoGrouped)
    {
        long start = Stopwatch.GetTimestamp();
        var entry = EntryOf(method, autoGrouped);
        // An earlier run's kernel as is (KernelTextCache.SkipsCompile), else compiled, with an earlier run's text if any:
        // either way the driver gets the text whose machine code its own cache holds.
        string name = NameOf(method);
        var specialization = Kernels.LaunchBoundsAttribute.SpecializationOf(method);
        // Machine code assembled ahead of time for this GPU (KernelImages): nothing to compile.
        if (accelerator is CudaAccelerator cuda && KernelImages.TryLoad(cuda, name, autoGrouped, entry, specialization) is { } fromImage)
        {
            s_times.Enqueue(new KernelLoadTime(name, method, autoGrouped, false, accelerator.AcceleratorType, 0, Stopwatch.GetElapsedTime(start).TotalSeconds, FromImage: true));
            return fromImage;
        }
        var compiled = KernelTextCache.TryCompiled(accelerator, name, autoGrouped, entry, specialization);
        bool cachedText = compiled is not null;
        if (compiled is null)
        {
            compiled = accelerator is CLAccelerator opencl ? CompileAlone(opencl, entry, specialization) // whatever CompileContexts says
                : accelerator is CudaAccelerator cudaDevice && CompileContexts > 1 ? s_compilers.GetValue(accelerator, _ => new Compilers(cudaDevice, CompileContexts - 1)).Compile(entry, specialization)
                : accelerator.CompileKernel(entry, specialization);
            if (compiled is CLCompiledKernel fresh) OpenClBarriers.Fence(fresh); // before the text cache stores it
            cachedText = KernelTextCache.Use(accelerator, name, autoGrouped, compiled);
        }
        else if (compiled is CLCompiledKernel stored) OpenClBarriers.Fence(stored); // stored fenced by this build; a hand-placed text may not be
        long compiledAt = Stopwatch.GetTimestamp();
        var kernel = autoGrouped ? accelerator.LoadAutoGroupedKernel(compiled) : accelerator.LoadKernel(compiled);
        s_times.Enqueue(new KernelLoadTime(name, method, autoGrouped, cachedText, accelerator.AcceleratorType,
            Stopwatch.GetElapsedTime(start, compiledAt).TotalSeconds, Stopwatch.GetElapsedTime(compiledAt).TotalSeconds));
        return kernel;
    }

    /// <summary>
    /// The CUDA device's own context and <c>extra</c> compile-only contexts with PTX backends for its architecture and
    /// instruction set, each compiling one kernel at a time; a kernel goes to a free one. (OpenCL kernels compile alone:
    /// <see cref="CompileAlone(CLAccelerator, EntryPointDescription, KernelSpecialization)"/>.)
    /// </summary>
    private sealed class Compilers(CudaAccelerator device, int extra) : IDisposable
    {
        private readonly ConcurrentBag<Backend> _free = [];
        private readonly List<Context> _contexts = [];
        private int _created;

        public CompiledKernel Compile(EntryPointDescription entry, KernelSpecialization specialization)
        {
            if (!_free.TryTake(out var backend))
            {
                if (Interlocked.Increment(ref _created) > extra) { Interlocked.Decrement(ref _created); return device.CompileKernel(entry, specialization); }
                var context = CompileContext();
                lock (_contexts) _contexts.Add(context);
                backend = new PTXBackend(context, device.Capabilities, device.Architecture, device.InstructionSet, null);
            }
            try { return backend.Compile(entry, specialization); }
            finally { _free.Add(backend); }
        }

        public void Dispose()
        {
            lock (_contexts) foreach (var context in _contexts) context.Dispose();
        }
    }
}

/// <summary>
/// One kernel's load: ILGPU's compile (IL to PTX, OpenCL C or IL) and the backend's load (on CUDA the driver's JIT).
/// Method and AutoGrouped: the kernel as compiled, so that a tool can compile the same set for another backend.
/// CachedText: the text loaded was an earlier run's (<see cref="KernelTextCache"/>). FromImage: loaded from a kernel image
/// assembled ahead of time (<see cref="KernelImages"/>; nothing compiled, LoadSeconds the whole load).
/// </summary>
public sealed record KernelLoadTime(string Kernel, MethodInfo Method, bool AutoGrouped, bool CachedText, AcceleratorType Accelerator, double CompileSeconds, double LoadSeconds, bool FromImage = false);
