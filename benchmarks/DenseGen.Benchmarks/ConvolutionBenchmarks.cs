using System;
using System.Linq;
using BenchmarkDotNet.Attributes;
using DenseGen.Execution;
using DenseGen.Kernels;
using ILGPU;
using ILGPU.Runtime;

namespace DenseGen.Benchmarks;

/// <summary>
/// The fused conv kernels on the shapes of DenseNet-BC-100's widest layer (block 1, layer 16, batch 64, 32x32):
/// the bottleneck BN-ReLU-Conv1x1 (204 -> 48 channels) and the BN-ReLU-Conv3x3 (48 -> 12, appended at channel 204
/// of the block's 216-channel buffer); and DenseNet-121's last bottleneck of block 2 (batch 64, 28x28, 480 -> 128
/// channels of a 512-channel buffer), a product with enough rows for version 4's four-band tiles, and its growth conv
/// of block 1 (batch 64, 56x56, 128 -> 32 appended at channel 224 of 256). Each invocation launches the kernel and
/// waits for it.
/// </summary>
public class ConvolutionBenchmarks
{
    private ComputeDevice _device = null!;
    private KernelSet _k = null!;
    private MemoryBuffer1D<float, Stride1D.Dense>[] _buffers = null!;
    private ConvShape _bottleneck, _growth, _bottleneck121, _growth121;
    private Prologue _prologue;
    private BatchNormBackward _bn;
    private ArrayView<float> _block, _bottleneckOut, _w1, _w2, _dW1, _dW2, _grad, _block121, _bottleneckOut121, _w121, _dW121, _block121a, _bottleneckOut121a, _w121g, _dW121g;

    /// <summary>The layer; DENSEGEN_BENCH_LAYERS (comma-separated) picks some, every one by default.</summary>
    [ParamsSource(nameof(Layers))]
    public string Layer { get; set; } = "";

    public static string[] Layers => Selection.Of("DENSEGEN_BENCH_LAYERS", ["1x1 bottleneck", "3x3 growth", "121 1x1 bottleneck", "121 3x3 growth"]);

    /// <summary>
    /// The convolution kernels (CUDA, OpenCL, ILGPU-CPU; the host kernels ignore it and say so); DENSEGEN_BENCH_VERSIONS
    /// (comma-separated: direct, tiled, pipelined, banded) picks some, every one by default.
    /// </summary>
    [ParamsSource(nameof(Versions))]
    public ConvolutionVersion Convolution { get; set; }

    public static ConvolutionVersion[] Versions => Selection.Versions;

    [GlobalSetup]
    public void Setup()
    {
        _device = ComputeDevice.Open();
        _k = _device.KernelsFor(Convolution);
        _bottleneck = new ConvShape { Batch = 64, InChannels = 204, InStride = 216, InSize = 32, OutChannels = 48, OutStride = 48, OutSize = 32, Kernel = 1, Stride = 1 };
        _growth = new ConvShape { Batch = 64, InChannels = 48, InStride = 48, InSize = 32, OutChannels = 12, OutStride = 216, OutOffset = 204, OutSize = 32, Kernel = 3, Stride = 1, Padding = 1 };
        _bottleneck121 = new ConvShape { Batch = 64, InChannels = 480, InStride = 512, InSize = 28, OutChannels = 128, OutStride = 128, OutSize = 28, Kernel = 1, Stride = 1 };
        _growth121 = new ConvShape { Batch = 64, InChannels = 128, InStride = 128, InSize = 56, OutChannels = 32, OutStride = 256, OutOffset = 224, OutSize = 56, Kernel = 3, Stride = 1, Padding = 1 };
        var random = new Random(1);
        ArrayView<float> Make(long length, double low = -1, double high = 1)
        {
            var buffer = _device.Accelerator.Allocate1D(Enumerable.Range(0, (int)length).Select(_ => (float)(low + (high - low) * random.NextDouble())).ToArray());
            _buffers = [.. _buffers ?? [], buffer];
            return buffer.View;
        }
        _block = Make(64L * 216 * 32 * 32);
        _grad = Make(64L * 216 * 32 * 32);
        _bottleneckOut = Make(64L * 48 * 32 * 32);
        _w1 = Make(48 * 204);
        _w2 = Make(12 * 48 * 9);
        _dW1 = Make(48 * 204);
        _dW2 = Make(12 * 48 * 9);
        _prologue = new Prologue { Scale = Make(512, 0.5, 1.5), Shift = Make(512, -0.5, 0.5), Enabled = 1 };
        _bn = new BatchNormBackward { Gamma = Make(512), Mean = Make(512), InvStd = Make(512), Grad = _grad, S1 = Make(512), S2 = Make(512), DGamma = Make(512), DBeta = Make(512) };
        if (Layer == "121 1x1 bottleneck")
        {
            _block121 = Make(64L * 512 * 28 * 28);
            _bottleneckOut121 = Make(64L * 128 * 28 * 28);
            _w121 = Make(128 * 480);
            _dW121 = Make(128 * 480);
            _bn.Grad = Make(64L * 512 * 28 * 28);
        }
        if (Layer == "121 3x3 growth")
        {
            _block121a = Make(64L * 256 * 56 * 56);
            _bottleneckOut121a = Make(64L * 128 * 56 * 56);
            _w121g = Make(32 * 128 * 9);
            _dW121g = Make(32 * 128 * 9);
            _bn.Grad = Make(64L * 128 * 56 * 56);
        }
        Console.WriteLine($"// Convolution kernels on {_device}: {(_device.Kind == DeviceKind.Cpu ? "host kernels (Convolution ignored)" : Convolution.ToString())}");
    }

    private (ConvShape Shape, ArrayView<float> Input, ArrayView<float> Weight, ArrayView<float> Output, ArrayView<float> DWeight) Current =>
        Layer switch
        {
            "1x1 bottleneck" => (_bottleneck, _block, _w1, _bottleneckOut, _dW1),
            "3x3 growth" => (_growth, _bottleneckOut, _w2, _block, _dW2),
            "121 1x1 bottleneck" => (_bottleneck121, _block121, _w121, _bottleneckOut121, _dW121),
            _ => (_growth121, _bottleneckOut121a, _w121g, _block121a, _dW121g),
        };

    [Benchmark]
    public void Forward()
    {
        var (s, input, weight, output, _) = Current;
        _k.ConvForward(s, input, weight, _prologue, output);
        _device.Synchronize();
    }

    [Benchmark]
    public void BackwardWeights()
    {
        var (s, input, _, output, dWeight) = Current;
        _k.ConvBackwardWeights(s, input, _prologue, output, dWeight);
        _device.Synchronize();
    }

    [Benchmark]
    public void BackwardInputThroughBatchNorm()
    {
        var (s, input, weight, output, _) = Current;
        _k.ConvBackwardInputThroughBatchNorm(s, output, weight, input, _prologue, _bn);
        _device.Synchronize();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        foreach (var buffer in _buffers) buffer.Dispose();
        _device.Dispose();
    }
}
