using System;
using System.Linq;
using BenchmarkDotNet.Attributes;
using DenseGen.Execution;

namespace DenseGen.Benchmarks;

/// <summary>
/// One training step (forward, backward, SGD) of DenseNet-BC-100 k12 at batch 64 on 32x32 images: images/s is
/// 64 / Mean. A step takes seconds on a CPU, so each iteration is one step (Monitoring strategy, no pilot).
/// </summary>
[MemoryDiagnoser]
public class TrainingStepBenchmarks
{
    private ComputeDevice _device = null!;
    private DenseNetSession _session = null!;
    private float[] _images = null!;
    private int[] _labels = null!;
    private readonly SgdOptions _sgd = new(0.1f);

    /// <summary>
    /// The convolution kernels (CUDA, OpenCL, ILGPU-CPU; the host kernels ignore it and say so); DENSEGEN_BENCH_VERSIONS
    /// picks some (<see cref="Selection"/>).
    /// </summary>
    [ParamsSource(nameof(Versions))]
    public ConvolutionVersion Convolution { get; set; }

    public static ConvolutionVersion[] Versions => Selection.Versions;

    /// <summary>Bottleneck outputs stored for the backward (the default) or recomputed there (the lean mode).</summary>
    [Params(BottleneckMode.Store, BottleneckMode.Recompute)]
    public BottleneckMode Bottlenecks { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _device = ComputeDevice.Open();
        _session = new DenseNetSession(DenseNetBC100.Description, _device, batchSize: 64, Convolution, Bottlenecks);
        var random = new Random(1);
        _images = Enumerable.Range(0, 64 * 3 * 32 * 32).Select(_ => (float)(2 * random.NextDouble() - 1)).ToArray();
        _labels = Enumerable.Range(0, 64).Select(_ => random.Next(10)).ToArray();
        Console.WriteLine($"// TrainingStep on {_device}, {(_device.Kind == DeviceKind.Cpu ? "host kernels (Convolution ignored)" : Convolution + " convolutions")}, bottlenecks {Bottlenecks}, arena {_session.ArenaBytes / 1048576.0:F1} MiB");
    }

    [Benchmark]
    public float TrainingStep() => _session.TrainStep(_images, _labels, _sgd);

    [GlobalCleanup]
    public void Cleanup()
    {
        _session.Dispose();
        _device.Dispose();
    }
}
