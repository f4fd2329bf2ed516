using System;
using System.Linq;
using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using ILGPU.Runtime.OpenCL;

namespace DenseGen.Execution;

/// <summary>
/// One device chosen for DenseGen: CUDA if present, then an OpenCL GPU, then the host's cores (<see cref="DeviceKind.Cpu"/>).
/// The environment variable <c>DENSEGEN_DEVICE=cpu|opencl|cuda[:index]|ilgpu-cpu</c> (or <see cref="Open(string?)"/>'s
/// argument) overrides the choice. Owns the ILGPU context and accelerator (on the host: ILGPU's CPU accelerator,
/// whose memory the host kernels work in).
/// Drive a device from one thread at a time, on every backend: its sessions share one kernel set, whose tiled
/// convolutions keep partial sums in scratch buffers between a kernel and its reduction launch (two threads would
/// interleave them), and on OpenCL launching one kernel from two threads at once can mix their arguments.
/// </summary>
public sealed class ComputeDevice : IDisposable
{
    private ComputeDevice(Context context, Accelerator accelerator, DeviceKind kind)
    {
        Context = context;
        Accelerator = accelerator;
        Kind = kind;
        // A power of two that every backend accepts; never derived from WarpSize (PoCL reports 4096 there). On ILGPU's
        // CPU accelerator every thread of a group is an OS thread: small groups keep its barriers cheap.
        int group = 1;
        while (group * 2 <= Math.Min(kind == DeviceKind.IlgpuCpu ? 16 : 256, accelerator.MaxNumThreadsPerGroup)) group *= 2;
        ReductionGroupSize = group;
        // The tiled kernels need groups of 128 threads; a device that allows fewer runs the direct ones.
        var requested = ParseConvolution(Environment.GetEnvironmentVariable("DENSEGEN_CONVOLUTION"));
        Convolution = requested != ConvolutionVersion.Direct && !SupportsTiled ? ConvolutionVersion.Direct : requested;
    }

    /// <summary>Whether groups of <see cref="Kernels.ConvolutionKernels.TileThreads"/> threads fit this device (the tiled convolutions need them).</summary>
    private bool SupportsTiled => Accelerator.MaxNumThreadsPerGroup >= Kernels.ConvolutionKernels.TileThreads;

    /// <summary>
    /// The convolution kernels this device's sessions launch (CUDA, OpenCL, ILGPU-CPU; the host has its own):
    /// DENSEGEN_CONVOLUTION=banded|pipelined|tiled|direct, banded (version 4) by default: fastest on the H200 (1.26x
    /// version 3 on DenseNet-BC-100, 1.48x on DenseNet-121) and on PoCL (1.25x on BC-100).
    /// </summary>
    public ConvolutionVersion Convolution { get; }

    internal static ConvolutionVersion ParseConvolution(string? value) => value?.Trim().ToLowerInvariant() switch
    {
        null or "" or "banded" or "4" => ConvolutionVersion.Banded,
        "pipelined" or "3" => ConvolutionVersion.Pipelined,
        "tiled" or "2" => ConvolutionVersion.Tiled,
        "direct" or "1" => ConvolutionVersion.Direct,
        _ => throw new ArgumentException($"DENSEGEN_CONVOLUTION='{value}' is not a convolution version; use banded (the default), pipelined, tiled or direct."),
    };

    /// <summary>The ILGPU context (kernels are compiled in it).</summary>
    public Context Context { get; }

    /// <summary>The accelerator kernels run on.</summary>
    public Accelerator Accelerator { get; }

    /// <summary>The backend.</summary>
    public DeviceKind Kind { get; }

    /// <summary>Threads per group of the reduction kernels: a power of two, at most 256.</summary>
    public int ReductionGroupSize { get; }

    /// <summary>The device's name, e.g. "NVIDIA H100 80GB HBM3", or "host, 2 cores".</summary>
    public string Name => Kind == DeviceKind.Cpu ? $"host, {Environment.ProcessorCount} cores" : Accelerator.Name;

    /// <summary>
    /// Opens the best device present, or the one <paramref name="request"/> (else DENSEGEN_DEVICE) names:
    /// "cpu", "opencl", "cuda", optionally with ":index".
    /// </summary>
    /// <exception cref="ArgumentException">The request is malformed.</exception>
    /// <exception cref="InvalidOperationException">The requested backend is not present; the message lists what is.</exception>
    public static ComputeDevice Open(string? request = null)
    {
        request ??= Environment.GetEnvironmentVariable("DENSEGEN_DEVICE");
        NativeLibraries.Install();
        var context = Context.Create(builder => builder
            .Default()
            .Optimize(OptimizationLevel.O2)   // only O2 infers global address spaces in PTX
            .Math(MathMode.Default)
            .EnableAlgorithms()               // exp and log in PTX and OpenCL come from ILGPU.Algorithms
            .Caching(CachingMode.NoKernelCaching)); // KernelLoader caches kernels and compiles them side by side
        try
        {
            var (kind, index) = Parse(request);
            Device[] Of(AcceleratorType type) => context.Devices.Where(d => d.AcceleratorType == type).ToArray();
            Device? device = kind switch
            {
                // An OpenCL device that is the CPU itself (PoCL) is slower than the host kernels: used only when asked for.
                null => Of(AcceleratorType.Cuda).FirstOrDefault()
                        ?? Of(AcceleratorType.OpenCL).FirstOrDefault(d => d is not CLDevice { DeviceType: CLDeviceType.CL_DEVICE_TYPE_CPU })
                        ?? Of(AcceleratorType.CPU).First(),
                DeviceKind.Cuda => Of(AcceleratorType.Cuda).ElementAtOrDefault(index),
                DeviceKind.OpenCL => Of(AcceleratorType.OpenCL).ElementAtOrDefault(index),
                // ILGPU's CPU accelerator with groups of up to 128 threads (the tiled convolutions need them) on every core.
                DeviceKind.IlgpuCpu => index == 0 ? new CPUDevice(numThreadsPerWarp: 32, numWarpsPerMultiprocessor: 4, numMultiprocessors: Math.Min(4, Environment.ProcessorCount)) : null,
                _ => Of(AcceleratorType.CPU).First(),
            };
            if (device is null)
            {
                string present = string.Join(", ", context.Devices.Select(d => $"{d.AcceleratorType} '{d.Name}'"));
                throw new InvalidOperationException(
                    $"DENSEGEN_DEVICE={request} asks for a device this machine does not have; present: {present}. " +
                    "Unset DENSEGEN_DEVICE to pick the best one.");
            }
            var accelerator = device.CreateAccelerator(context);
            var actualKind = accelerator.AcceleratorType switch
            {
                AcceleratorType.Cuda => DeviceKind.Cuda,
                AcceleratorType.OpenCL => DeviceKind.OpenCL,
                _ => kind == DeviceKind.IlgpuCpu ? DeviceKind.IlgpuCpu : DeviceKind.Cpu,
            };
            return new ComputeDevice(context, accelerator, actualKind);
        }
        catch
        {
            context.Dispose();
            throw;
        }
    }

    /// <summary>Parses "cuda:1" into (Cuda, 1); null or empty means "the best present".</summary>
    public static (DeviceKind? Kind, int Index) Parse(string? request)
    {
        if (string.IsNullOrWhiteSpace(request)) return (null, 0);
        string[] parts = request.Trim().ToLowerInvariant().Split(':');
        DeviceKind kind = parts[0] switch
        {
            "cpu" or "host" => DeviceKind.Cpu,
            "ilgpu-cpu" => DeviceKind.IlgpuCpu,
            "opencl" or "cl" => DeviceKind.OpenCL,
            "cuda" or "gpu" => DeviceKind.Cuda,
            _ => throw new ArgumentException($"DENSEGEN_DEVICE='{request}' is not a device; use cpu, opencl, cuda or ilgpu-cpu, optionally with :index (cuda:1)."),
        };
        int index = 0;
        if (parts.Length > 2 || (parts.Length == 2 && (!int.TryParse(parts[1], out index) || index < 0)))
            throw new ArgumentException($"DENSEGEN_DEVICE='{request}' has a bad index; write for example cuda:0.");
        return (kind, index);
    }

    private KernelSet? _hostKernels;
    private readonly System.Collections.Generic.Dictionary<ConvolutionVersion, KernelSet> _kernels = [];

    /// <summary>
    /// The compiled kernels of this device (with <see cref="Convolution"/>'s convolutions, or <paramref name="convolution"/>'s
    /// where given), loaded on first use and shared by its sessions.
    /// </summary>
    internal KernelSet KernelsFor(ConvolutionVersion? convolution = null)
    {
        if (Kind == DeviceKind.Cpu) return _hostKernels ??= KernelSet.ForHost();
        var version = convolution ?? Convolution;
        if (version != ConvolutionVersion.Direct && !SupportsTiled)
            throw new NotSupportedException(
                $"{Name} allows {Accelerator.MaxNumThreadsPerGroup} threads per group; the tiled convolutions need {Kernels.ConvolutionKernels.TileThreads}. Use DENSEGEN_CONVOLUTION=direct.");
        if (!_kernels.TryGetValue(version, out var kernels))
            _kernels[version] = kernels = new KernelSet(Accelerator, ReductionGroupSize, version, tensorCores: version == ConvolutionVersion.Banded && TensorCoresAsked());
        return kernels;
    }

    /// <summary>
    /// DENSEGEN_TENSOR_CORES=on: version 4's sets run their banded forwards, input gradients through BN and weight gradients on the tensor
    /// cores (version 5, 3xTF32, float32 accuracy; <c>Kernels/ConvolutionKernels.TensorCores.cs</c>). Off by default until
    /// the GPU check has timed it. Needs a CUDA GPU of compute capability 8.0 or later (ILGPU's CPU accelerator emulates
    /// it, for tests); elsewhere asking for it is an error, not a silent fallback.
    /// </summary>
    private bool TensorCoresAsked()
    {
        switch (Environment.GetEnvironmentVariable("DENSEGEN_TENSOR_CORES"))
        {
            case null or "" or "off" or "0": return false;
            case "on" or "1": break;
            case var other: throw new ArgumentException($"DENSEGEN_TENSOR_CORES={other} is not a setting: write on or off.");
        }
        if (Accelerator is ILGPU.Runtime.Cuda.CudaAccelerator cuda && cuda.Architecture is { Major: < 8 } old)
            throw new NotSupportedException($"DENSEGEN_TENSOR_CORES=on needs TF32 tensor cores (compute capability 8.0 or later); {Name} is {old.Major}.{old.Minor}. Unset it.");
        if (Accelerator.AcceleratorType is not (AcceleratorType.Cuda or AcceleratorType.CPU))
            throw new NotSupportedException($"DENSEGEN_TENSOR_CORES=on needs a CUDA GPU; {Name} is {Accelerator.AcceleratorType}, which has no mma instruction. Unset it.");
        return true;
    }

    /// <summary>Waits for all launched work to finish.</summary>
    public void Synchronize() => Accelerator.Synchronize();

    /// <inheritdoc/>
    public override string ToString() => $"{Kind} ({Name})";

    /// <inheritdoc/>
    public void Dispose()
    {
        KernelLoader.Release(Accelerator);
        Accelerator.Dispose();
        Context.Dispose();
    }
}
