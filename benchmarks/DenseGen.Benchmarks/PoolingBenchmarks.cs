using System;
using System.Linq;
using BenchmarkDotNet.Attributes;
using DenseGen.Execution;
using DenseGen.Kernels;
using ILGPU;
using ILGPU.Runtime;

namespace DenseGen.Benchmarks;

/// <summary>
/// The ImageNet stem's 3x3 stride-2 max-pool backward through BN-ReLU on DenseNet-121's shape (64 channels, 112x112 ->
/// 56x56; batch 16, a quarter of the GPU check's, to keep a CPU iteration short), the two ways its chunks kernel can tell
/// whether a window chose an element: reading each window's first maximum, found once by PoolingKernels.MaxPoolArgMax
/// (what the kernel sets launch), or finding it again for every element the window covers (up to four windows of nine
/// per element; what they launched before). Both launch the same chunks kernel, without the finishing launch (the same
/// for both), and wait for it. GPU devices only: the host kernels have no chunks kernel.
/// </summary>
public class PoolingBenchmarks
{
    private ComputeDevice _device = null!;
    private MemoryBuffer1D<float, Stride1D.Dense>[] _buffers = [];
    private MemoryBuffer1D<byte, Stride1D.Dense> _argmax = null!;
    private MemoryBuffer1D<double, Stride1D.Dense> _partials = null!;
    private PoolShape _pool;
    private Prologue _prologue;
    private BatchNormBackward _bn;
    private ArrayView<float> _input, _dOut;
    private int _chunks;
    private Action<AcceleratorStream, Index1D, PoolShape, ArrayView<float>, Prologue, ArrayView<byte>> _findArgMax = null!;
    private Action<AcceleratorStream, KernelConfig, PoolShape, ArrayView<float>, ArrayView<float>, Prologue, BatchNormBackward, ArrayView<byte>, int, ArrayView<double>> _backward = null!;

    [GlobalSetup]
    public void Setup()
    {
        _device = ComputeDevice.Open();
        if (_device.Kind == DeviceKind.Cpu) throw new InvalidOperationException("The pooling benchmarks time GPU kernels: run them with DENSEGEN_DEVICE=opencl (inside ../shared/opencl/run-in-pocl.sh), ilgpu-cpu or cuda.");
        _pool = new PoolShape { Batch = 16, Channels = 64, InStride = 64, InSize = 112, OutStride = 64, OutSize = 56 };
        var random = new Random(1);
        ArrayView<float> Make(long length, double low = -1, double high = 1)
        {
            var buffer = _device.Accelerator.Allocate1D(Enumerable.Range(0, (int)length).Select(_ => (float)(low + (high - low) * random.NextDouble())).ToArray());
            _buffers = [.. _buffers, buffer];
            return buffer.View;
        }
        long elements = (long)_pool.Batch * _pool.Channels * _pool.InSize * _pool.InSize, windows = (long)_pool.Batch * _pool.Channels * _pool.OutSize * _pool.OutSize;
        _input = Make(elements);
        _dOut = Make(windows);
        _prologue = new Prologue { Scale = Make(64, 0.5, 1.5), Shift = Make(64, -0.5, 0.5), Enabled = 1 };
        _bn = new BatchNormBackward { Gamma = Make(64), Mean = Make(64), InvStd = Make(64), Grad = Make(elements), S1 = Make(64), S2 = Make(64), DGamma = Make(64), DBeta = Make(64) };
        _argmax = _device.Accelerator.Allocate1D<byte>(windows);
        _chunks = KernelSet.PoolChunks(_pool, _device.ReductionGroupSize);
        _partials = _device.Accelerator.Allocate1D<double>(2L * _chunks * _pool.Channels);
        _findArgMax = _device.Accelerator.LoadAutoGroupedKernel<Index1D, PoolShape, ArrayView<float>, Prologue, ArrayView<byte>>(PoolingKernels.MaxPoolArgMax);
        _backward = _device.Accelerator.LoadKernel<PoolShape, ArrayView<float>, ArrayView<float>, Prologue, BatchNormBackward, ArrayView<byte>, int, ArrayView<double>>(
            PoolingKernels.MaxPoolBackwardThroughBatchNormChunks);
        Console.WriteLine($"// Stem max-pool backward on {_device}: {_chunks} chunks per channel, groups of {_device.ReductionGroupSize}");
    }

    private KernelConfig Groups => new(_chunks * _pool.Channels, _device.ReductionGroupSize);

    [Benchmark(Baseline = true)]
    public void MaxPoolBackwardFindingEachWindowAgain()
    {
        _backward(_device.Accelerator.DefaultStream, Groups, _pool, _dOut, _input, _prologue, _bn, default, _chunks, _partials.View);
        _device.Synchronize();
    }

    [Benchmark]
    public void MaxPoolBackwardReadingWindowArgMax()
    {
        var stream = _device.Accelerator.DefaultStream;
        _findArgMax(stream, (int)_argmax.Length, _pool, _input, _prologue, _argmax.View);
        _backward(stream, Groups, _pool, _dOut, _input, _prologue, _bn, _argmax.View, _chunks, _partials.View);
        _device.Synchronize();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        foreach (var buffer in _buffers) buffer.Dispose();
        _argmax.Dispose();
        _partials.Dispose();
        _device.Dispose();
    }
}
